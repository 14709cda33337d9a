package sigma

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

func TestMetadata(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	text := `title: Suspicious Thing
id: 0B5C1F3E-1111-4222-8333-944444444444
status: experimental
description: Detects a thing.
author: Jane Doe, John Roe
references:
  - https://example.org/a
tags:
  - attack.execution
  - attack.t1059.001
  - attack.t1059
  - attack.stealth
  - attack.t1027
  - cve.2021-44228
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\x.exe'}
  condition: sel
falsepositives: Admin scripts
level: informational
`
	res, err := convertText(t, conv, text)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rule
	if r.ID != "sigma.0b5c1f3e-1111-4222-8333-944444444444" || r.Name != "Suspicious Thing" || r.Author != "Jane Doe, John Roe" ||
		r.Description != "Detects a thing." || r.Severity != "low" {
		t.Errorf("got id %q name %q author %q description %q severity %q", r.ID, r.Name, r.Author, r.Description, r.Severity)
	}
	if !reflect.DeepEqual(r.References, []string{"https://example.org/a"}) || !reflect.DeepEqual(r.FalsePositives, []string{"Admin scripts"}) {
		t.Errorf("got references %q false_positives %q", r.References, r.FalsePositives)
	}
	wantMitre := []rules.MitreAttack{{Tactic: "TA0002"}, {Tactic: "TA0005"},
		{Technique: "T1059", Subtechnique: "T1059.001"}, {Technique: "T1027"}}
	if !reflect.DeepEqual(r.MitreAttack, wantMitre) {
		t.Errorf("got mitre_attack %+v, want %+v", r.MitreAttack, wantMitre)
	}
	for _, tag := range []string{"attack.t1059.001", "cve.2021-44228", "sigma.status.experimental", "sigma.level.informational",
		"sigma.category.process_creation"} {
		found := false
		for _, x := range r.Tags {
			found = found || x == tag
		}
		if !found {
			t.Errorf("tags %q: missing %s", r.Tags, tag)
		}
	}
	// Alerts keep the author (the Detection Rule License requires attribution) and the references.
	ev := testEvent(t, `{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\x.exe"}`)
	if !res.Compiled.Match(ev) {
		t.Fatalf("got no match, want match:\n%s", r.Condition)
	}
	doc := vigil.Get(rules.NewAlert(res.Compiled, ev, time.Now()).Doc, "rule").(map[string]any)
	if doc["author"] != "Jane Doe, John Roe" || !reflect.DeepEqual(doc["reference"], []any{"https://example.org/a"}) {
		t.Errorf("alert rule fields: got author %v reference %v", doc["author"], doc["reference"])
	}
}

func TestDeprecatedIsDisabled(t *testing.T) {
	conv := newTestConverter(t, "windows-flat")
	res, err := convertText(t, conv, "title: t\nid: 1\nstatus: deprecated\nlogsource: {product: windows, service: security}\n"+
		"detection:\n  sel: {EventID: 1}\n  condition: sel\nlevel: high\n")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rule.IsEnabled() || res.Rule.Severity != "high" {
		t.Errorf("got enabled=%v severity %s, want a disabled high rule", res.Rule.IsEnabled(), res.Rule.Severity)
	}
}

// TestTacticTagsHaveNames: every tactic a Sigma tag maps to has a name on the alerts.
func TestTacticTagsHaveNames(t *testing.T) {
	for tag, id := range tacticIDs {
		if rules.AttackName(id) == "" {
			t.Errorf("attack.%s is %s, which rules.AttackName does not know", tag, id)
		}
	}
}
