package vigil

import "testing"

func TestCheckTenant(t *testing.T) {
	for _, ok := range []string{"acme", "globex-eu", "tenant_42", "7eleven"} {
		if err := CheckTenant(ok); err != nil {
			t.Errorf("CheckTenant(%q): %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{"", "Acme", "-acme", "ac me", "a/b", "a*", "acme.eu"} {
		if err := CheckTenant(bad); err == nil {
			t.Errorf("CheckTenant(%q): got ok, want an error", bad)
		}
	}
}
