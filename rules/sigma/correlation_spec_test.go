package sigma

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/rules"
)

// The examples of the Sigma correlation specification (2.1.0), as the specification writes them.

// specExample is the specification's example "Failed Logins Followed by Successful Login" (Sigma correlation
// specification 2.1.0): a chain of two correlations over two detection rules, all named by name, in one file.
const specExample = `title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
references:
    - https://reference.com
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
`

// TestCorrelationSpecExample converts the specification's complete example: names resolve to the Vigil ids of the
// rules, the chain keeps its group-by through the profile, and the file loads as one rule set.
func TestCorrelationSpecExample(t *testing.T) {
	const (
		outer   = "sigma.b180ead8-d58f-40b2-ae54-c8940995b9b6"
		count   = "sigma.a8418a5a-5fc4-46b5-b23b-6c73beb19d41"
		failed  = "sigma.53ba33fd-3a50-4468-a5ef-c583635cfa92"
		success = "sigma.4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"
	)
	for _, tc := range []struct{ profile, user string }{
		{"windows-flat", "User"},
		{"ecs", "user.name"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			conv := newTestConverter(t, tc.profile)
			results, errs := convertFiles(t, conv, sigmaFile{"mr_failed_logins.yml", specExample})
			if len(errs) > 0 || len(results) != 4 {
				t.Fatalf("got %d rules and errors %v, want 4 rules", len(results), errs)
			}
			byID, set := loadConverted(t, conv, results)
			checkCorrelation(t, byID[outer], wantCorrelation{typ: rules.TemporalOrdered, timespan: "10m",
				rules: []string{count, success}, groupBy: []string{tc.user}})
			checkCorrelation(t, byID[count], wantCorrelation{typ: rules.EventCount, timespan: "10m", cond: "gte 10",
				rules: []string{failed}, groupBy: []string{tc.user}})
			if r := byID[outer]; r.Severity != "high" || r.Name != "Correlation - Multiple Failed Logins Followed by Successful Login" ||
				!r.IsEnabled() || r.Author != "Florian Roth (Nextron Systems)" {
				t.Errorf("got %+v, want the Sigma metadata, severity high, enabled", r)
			}
			if len(set.Correlations()) != 2 || len(set.Rules()) != 2 {
				t.Errorf("got %d correlations and %d rules in the set, want 2 and 2", len(set.Correlations()), len(set.Rules()))
			}
			// Sigma's meaning without generate: the rules a correlation names raise no alerts of their own, and their
			// files say so.
			for id, internal := range map[string]bool{outer: false, count: true, failed: true, success: true} {
				if got := set.Rule(id).Internal; got != internal {
					t.Errorf("rule %s: got internal %v, want %v", id, got, internal)
				}
				if silent := byID[id].Alert != nil && !*byID[id].Alert; silent != internal {
					t.Errorf("rule %s: got alert %v, want alert: false %v", id, byID[id].Alert, internal)
				}
			}
			if !strings.Contains(string(results[0].YAML), count+" # multiple_failed_login\n") {
				t.Errorf("got\n%s\nwant each id commented with the Sigma name it was written as", results[0].YAML)
			}
		})
	}
}

// aliasRules are the two rules of the specification's aliases example, with the title and log source it leaves out.
const aliasRules = `title: Internal error
name: internal_error
logsource: {category: webserver}
detection:
    selection:
        http.response.status_code: 500
    condition: selection
---
title: New network connection
name: new_network_connection
logsource: {category: firewall}
detection:
    selection:
        event.category: network
        event.type: connection
        event.outcome: success
    condition: selection
---
`

// aliasCorrelation is the specification's aliases example, as written (title and id "—").
const aliasCorrelation = `title: —
id: —
correlation:
    type: temporal
    rules:
        - internal_error
        - new_network_connection
    group-by:
        - internal_ip
        - remote_ip
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
`

// TestCorrelationAliases checks that aliases become Vigil aliases keyed by Vigil ids, and that a field the profile
// maps differently for the rules a correlation names becomes an alias too.
func TestCorrelationAliases(t *testing.T) {
	const windowsAndLinux = `title: Windows logon
id: 11111111-0000-4000-8000-000000000001
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624}, condition: sel}
---
title: Linux logon
id: 11111111-0000-4000-8000-000000000002
logsource: {product: linux, service: auth}
detection: {sel: {process.name: sshd}, condition: sel}
---
title: Logons on both
id: 11111111-0000-4000-8000-000000000003
correlation:
    type: temporal
    rules: [11111111-0000-4000-8000-000000000001, 11111111-0000-4000-8000-000000000002]
    group-by: [TargetUserName]
    timespan: 1h
`
	cases := []struct {
		name, profile, text, id string
		unguarded, enabled      bool
		want                    wantCorrelation
	}{
		{"spec example", "windows-flat", aliasRules + aliasCorrelation, "sigma.alias", true, true, wantCorrelation{
			typ: rules.Temporal, timespan: "10s", rules: []string{"sigma.internal_error", "sigma.new_network_connection"},
			groupBy: []string{"internal_ip", "remote_ip"}, aliases: map[string]map[string]string{
				"internal_ip": {"sigma.internal_error": "destination.ip", "sigma.new_network_connection": "source.ip"},
				"remote_ip":   {"sigma.internal_error": "source.ip", "sigma.new_network_connection": "destination.ip"},
			}}},
		{"spec example over disabled rules", "windows-flat", aliasRules + aliasCorrelation, "sigma.alias", false, false, wantCorrelation{
			typ: rules.Temporal, timespan: "10s", rules: []string{"sigma.internal_error", "sigma.new_network_connection"},
			groupBy: []string{"internal_ip", "remote_ip"}, aliases: map[string]map[string]string{
				"internal_ip": {"sigma.internal_error": "destination.ip", "sigma.new_network_connection": "source.ip"},
				"remote_ip":   {"sigma.internal_error": "source.ip", "sigma.new_network_connection": "destination.ip"},
			}}},
		{"field mapped differently per rule", "ecs", windowsAndLinux, "sigma.11111111-0000-4000-8000-000000000003", true, true, wantCorrelation{
			typ: rules.Temporal, timespan: "1h",
			rules:   []string{"sigma.11111111-0000-4000-8000-000000000001", "sigma.11111111-0000-4000-8000-000000000002"},
			groupBy: []string{"TargetUserName"}, aliases: map[string]map[string]string{"TargetUserName": {
				"sigma.11111111-0000-4000-8000-000000000001": "winlog.event_data.TargetUserName",
				"sigma.11111111-0000-4000-8000-000000000002": "TargetUserName",
			}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conv := newTestConverter(t, tc.profile)
			conv.EnableUnguarded = tc.unguarded
			results, errs := convertFiles(t, conv, sigmaFile{"alias.yml", tc.text})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			byID, _ := loadConverted(t, conv, results)
			checkCorrelation(t, byID[tc.id], tc.want)
			if got := byID[tc.id].IsEnabled(); got != tc.enabled {
				t.Errorf("got enabled %v, want %v", got, tc.enabled)
			}
			last := results[len(results)-1]
			if !tc.enabled && !strings.Contains(strings.Join(noteTexts(last.Notes), "\n"), "which is converted disabled") {
				t.Errorf("got notes %q, want one saying why the correlation is disabled", last.Notes)
			}
		})
	}
}

// TestCorrelationSpecExamples converts every example of a correlation rule in the Sigma correlation specification
// (../shared/testdata/sigma-spec), with a stub detection rule for each rule it names that the example does not
// define. Examples that leave out the title, which the specification requires, get one.
func TestCorrelationSpecExamples(t *testing.T) {
	spec := filepath.Join(shared(t, "sigma-spec"), "specification", "sigma-correlation-rules-specification.md")
	data, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	// The example under "Related rules" only shows how rules are named: it has no type and no timespan, which the
	// specification and its schema require.
	fragments := map[string]string{"login brute force": "type: missing"}
	titleLine := regexp.MustCompile(`(?m)^title: *(.*)$`)
	examples := 0
	for i, block := range regexp.MustCompile("(?s)```ya?ml\n(.*?)```").FindAllStringSubmatch(string(data), -1) {
		text := block[1]
		if !regexp.MustCompile(`(?m)^correlation:`).MatchString(text) {
			continue
		}
		examples++
		if !titleLine.MatchString(text) {
			text = fmt.Sprintf("title: example %d\n", i+1) + text
		}
		title := titleLine.FindStringSubmatch(text)[1]
		t.Run(title, func(t *testing.T) {
			conv := newTestConverter(t, "windows-flat")
			rs, errs := Parse("example.yml", []byte(text))
			if want, ok := fragments[title]; ok {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
					t.Errorf("got %v, want an error saying %q", errs, want)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			results, errs := conv.ConvertAll(append(rs, stubRules(t, rs)...))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			byID, _ := loadConverted(t, conv, results)
			for _, r := range rs {
				if vr := byID[ruleID(r)]; vr == nil || (r.Correlation != nil) != (vr.Correlation != nil) {
					t.Errorf("rule %s: got %+v, want it converted", ruleID(r), vr)
				}
			}
		})
	}
	if examples < 10 {
		t.Errorf("got %d correlation examples in %s, want at least 10", examples, spec)
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// stubRules are Windows detection rules for the names and ids the correlations of rs refer to and rs lacks.
func stubRules(t *testing.T, rs []*Rule) []*Rule {
	t.Helper()
	index := newRuleIndex(rs)
	var text strings.Builder
	done := map[string]bool{}
	for _, r := range rs {
		if r.Correlation == nil {
			continue
		}
		refs := r.Correlation.Rules
		for _, a := range r.Correlation.Aliases {
			for _, f := range a.Fields {
				refs = append(refs, f.Rule)
			}
		}
		for _, ref := range refs {
			if _, err := index.resolve(r, ref); err == nil || done[ref.Name] {
				continue
			}
			done[ref.Name] = true
			key := "name"
			if uuidPattern.MatchString(ref.Name) {
				key = "id"
			}
			fmt.Fprintf(&text, "---\ntitle: Stub %s\n%s: %s\nlogsource: {product: windows, service: security}\n"+
				"detection: {sel: {EventID: 4624}, condition: sel}\n", ref.Name, key, ref.Name)
		}
	}
	stubs, errs := Parse("stubs.yml", []byte(text.String()))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return stubs
}
