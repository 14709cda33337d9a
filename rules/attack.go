package rules

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

//go:embed schema/attack-enterprise.txt
var attackTable []byte

// AttackVersion is the MITRE ATT&CK release whose names alerts carry (rules/schema/attack-enterprise.txt).
const AttackVersion = "Enterprise v17"

// attackNames maps ATT&CK ids (tactics, techniques, sub-techniques) to their names; read once, then only read.
var attackNames = sync.OnceValue(func() map[string]string {
	names, err := parseAttack(attackTable)
	if err != nil {
		panic(err) // embedded and tested
	}
	return names
})

// AttackName returns the name of an ATT&CK tactic, technique or sub-technique id ("TA0006" is Credential Access,
// "T1003.001" LSASS Memory), or "" when the id is not in Vigil's table.
func AttackName(id string) string { return attackNames()[id] }

func parseAttack(data []byte) (map[string]string, error) {
	names := map[string]string{}
	technique := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		id, name, ok := strings.Cut(text, " ")
		if strings.HasPrefix(id, ".") {
			id = technique + id
		} else if techniqueID.MatchString(id) {
			technique = id
		}
		if !ok || !tacticID.MatchString(id) && !techniqueID.MatchString(id) && !subtechniqueID.MatchString(id) {
			return nil, fmt.Errorf("attack table: line %d: want \"ID Name\" or \".NNN Name\" after a technique, got %q", line, text)
		}
		if _, dup := names[id]; dup {
			return nil, fmt.Errorf("attack table: line %d: %s twice", line, id)
		}
		names[id] = strings.TrimSpace(name)
	}
	return names, sc.Err()
}

var (
	tacticID       = regexp.MustCompile(`^TA\d{4}$`)
	techniqueID    = regexp.MustCompile(`^T\d{4}$`)
	subtechniqueID = regexp.MustCompile(`^T\d{4}\.\d{3}$`)
)

// attackProblem is what is wrong with one value of a mitre_attack entry.
type attackProblem struct{ key, msg string }

// checkAttack returns what is wrong with a mitre_attack entry: an id of the wrong form, an id Vigil does not know,
// a sub-technique of another technique.
func checkAttack(m MitreAttack) []attackProblem {
	var out []attackProblem
	unknown := func(kind, id string) {
		out = append(out, attackProblem{strings.ReplaceAll(kind, "-", ""),
			fmt.Sprintf("unknown ATT&CK %s %s (not in ATT&CK %s): its alerts carry no name for it", kind, id, AttackVersion)})
	}
	switch {
	case m.Tactic == "":
	case !tacticID.MatchString(m.Tactic):
		out = append(out, attackProblem{"tactic", fmt.Sprintf("tactic %q is not an ATT&CK tactic id (TA and four digits)%s",
			m.Tactic, tacticHint(m.Tactic))})
	case AttackName(m.Tactic) == "":
		unknown("tactic", m.Tactic)
	}
	switch {
	case m.Technique == "":
	case !techniqueID.MatchString(m.Technique):
		out = append(out, attackProblem{"technique", fmt.Sprintf("technique %q is not an ATT&CK technique id "+
			"(T and four digits; a sub-technique goes in subtechnique)", m.Technique)})
	case AttackName(m.Technique) == "":
		unknown("technique", m.Technique)
	}
	switch {
	case m.Subtechnique == "":
	case !subtechniqueID.MatchString(m.Subtechnique):
		out = append(out, attackProblem{"subtechnique", fmt.Sprintf("subtechnique %q is not an ATT&CK sub-technique id "+
			"(T, four digits, a dot and three digits)", m.Subtechnique)})
	case m.Technique != "" && !strings.HasPrefix(m.Subtechnique, m.Technique+"."):
		out = append(out, attackProblem{"subtechnique", fmt.Sprintf("sub-technique %s is not a sub-technique of %s",
			m.Subtechnique, m.Technique)})
	case AttackName(m.Subtechnique) == "":
		unknown("sub-technique", m.Subtechnique)
	}
	return out
}

// tacticHint suggests the id of a tactic written by its name ("credential_access", "Credential Access").
func tacticHint(s string) string {
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", " ", "-", " ").Replace(s)) }
	for id, name := range attackNames() {
		if tacticID.MatchString(id) && norm(name) == norm(s) {
			return fmt.Sprintf(" (did you mean %s, %s?)", id, name)
		}
	}
	return ""
}
