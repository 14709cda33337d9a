package vigil

import (
	"fmt"
	"regexp"
)

var tenantPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckTenant reports whether name can be a tenant. Tenant names become part of index names
// (vigil-alerts-<tenant>-YYYY.MM.DD), so they are lowercase letters, digits, '-' and '_', starting with a letter or
// digit, at most 64 characters.
func CheckTenant(name string) error {
	if !tenantPattern.MatchString(name) {
		return fmt.Errorf("tenant %q: want lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters", name)
	}
	return nil
}
