package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// TestAttackTable checks the embedded ATT&CK table: every Enterprise tactic, the techniques of every sub-technique,
// and the ids the starter pack maps its rules to.
func TestAttackTable(t *testing.T) {
	names := attackNames()
	tactics := 0
	for id := range names {
		if tacticID.MatchString(id) {
			tactics++
		}
		if subtechniqueID.MatchString(id) && names[id[:5]] == "" {
			t.Errorf("sub-technique %s: its technique %s is not in the table", id, id[:5])
		}
	}
	if tactics != 15 {
		t.Errorf("got %d tactics, want the 14 of Enterprise and TA0112", tactics)
	}
	for id, want := range map[string]string{"TA0006": "Credential Access", "TA0011": "Command and Control",
		"TA0040": "Impact", "TA0043": "Reconnaissance", "T1003": "OS Credential Dumping", "T1003.001": "LSASS Memory",
		"T1059.001": "PowerShell", "T1110.003": "Password Spraying", "T1562.001": "Disable or Modify Tools"} {
		if got := AttackName(id); got != want {
			t.Errorf("AttackName(%s): got %q, want %q", id, got, want)
		}
	}
	rs, err := Load("../configs/rules", "../configs/rules-intel")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		for _, m := range r.MitreAttack {
			if p := checkAttack(m); len(p) > 0 {
				t.Errorf("%s: rule %s: %s", r.Source, r.ID, p[0].msg)
			}
		}
	}
	if _, err := parseAttack([]byte("T1003 OS Credential Dumping\n.001 LSASS Memory\n.001 Again\n")); err == nil ||
		!strings.Contains(err.Error(), "line 3: T1003.001 twice") {
		t.Errorf("a duplicate id: got %v, want an error at line 3", err)
	}
}

func TestCheckAttack(t *testing.T) {
	for _, tc := range []struct {
		m    MitreAttack
		want []string // key: message part
	}{
		{MitreAttack{Tactic: "TA0006", Technique: "T1003", Subtechnique: "T1003.001"}, nil},
		{MitreAttack{Subtechnique: "T1003.001"}, nil},
		{MitreAttack{Tactic: "credential_access"}, []string{`tactic: tactic "credential_access" is not an ATT&CK tactic id (TA and four digits) (did you mean TA0006, Credential Access?)`}},
		{MitreAttack{Tactic: "TA0099"}, []string{"tactic: unknown ATT&CK tactic TA0099 (not in ATT&CK Enterprise v17)"}},
		{MitreAttack{Technique: "T1003.001"}, []string{`technique: technique "T1003.001" is not an ATT&CK technique id`}},
		{MitreAttack{Technique: "T9999"}, []string{"technique: unknown ATT&CK technique T9999"}},
		{MitreAttack{Technique: "T1110", Subtechnique: "T1059.001"}, []string{"subtechnique: sub-technique T1059.001 is not a sub-technique of T1110"}},
		{MitreAttack{Technique: "T1003", Subtechnique: "T1003.999"}, []string{"subtechnique: unknown ATT&CK sub-technique T1003.999"}},
		{MitreAttack{Tactic: "TA0099", Technique: "T9999", Subtechnique: "1"}, []string{"tactic: unknown", "technique: unknown",
			`subtechnique: subtechnique "1" is not`}},
	} {
		got := checkAttack(tc.m)
		ok := len(got) == len(tc.want)
		for i := 0; ok && i < len(got); i++ {
			ok = strings.HasPrefix(got[i].key+": "+got[i].msg, tc.want[i])
		}
		if !ok {
			t.Errorf("%+v: got %+v, want %q", tc.m, got, tc.want)
		}
	}
}

// TestAlertAttackNamesAndFalsePositives: alerts carry the names of the rule's ATT&CK ids next to the ids, and the
// rule's false positives, for single-event and correlation alerts alike.
func TestAlertAttackNamesAndFalsePositives(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	rule := Rule{ID: "r", Name: "n", Severity: "high", Condition: "true",
		FalsePositives: []string{"Backup agents reading LSASS", "Support engineers"},
		MitreAttack: []MitreAttack{{Tactic: "TA0006", Technique: "T1003", Subtechnique: "T1003.001"},
			{Tactic: "TA0112", Technique: "T1685"}}}
	c, err := env.Compile(&rule)
	if err != nil {
		t.Fatal(err)
	}
	corrRule := rule
	corrRule.ID, corrRule.Condition = "c", ""
	corrRule.Correlation = &Correlation{Type: EventCount, Rules: []string{"r"}, GroupBy: []string{"user.name"}, Timespan: "5m"}
	corr, err := env.Compile(&corrRule)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for name, a := range map[string]*vigil.Alert{
		"single-event": NewAlert(c, event(t, `{"user":{"name":"bob"}}`), now),
		"correlation":  NewCorrelationAlert(corr, "acme", "id", now, now, map[string]any{"group": map[string]any{"user.name": "bob"}}, "r"),
	} {
		for path, want := range map[string]any{
			"rule.false_positives":               []any{"Backup agents reading LSASS", "Support engineers"},
			"threat.tactic.id":                   []any{"TA0006", "TA0112"},
			"threat.tactic.name":                 []any{"Credential Access", "Defense Impairment"},
			"threat.technique.id":                []any{"T1003", "T1685"},
			"threat.technique.name":              []any{"OS Credential Dumping"}, // T1685 is newer than the table
			"threat.technique.subtechnique.id":   []any{"T1003.001"},
			"threat.technique.subtechnique.name": []any{"LSASS Memory"},
		} {
			if got := vigil.Get(a.Doc, strings.Split(path, ".")...); !reflect.DeepEqual(got, want) {
				t.Errorf("%s alert: %s: got %#v, want %#v", name, path, got, want)
			}
		}
	}
}
