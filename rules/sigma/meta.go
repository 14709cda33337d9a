package sigma

import (
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vigilsoc/vigil/rules"
)

// tacticIDs maps Sigma's ATT&CK tactic tags to tactic ids. ATT&CK v19 renamed defense-evasion to stealth (the same
// TA0005) and added defense-impairment (TA0112); SigmaHQ uses the new names.
var tacticIDs = map[string]string{
	"reconnaissance": "TA0043", "resource-development": "TA0042", "initial-access": "TA0001",
	"execution": "TA0002", "persistence": "TA0003", "privilege-escalation": "TA0004",
	"defense-evasion": "TA0005", "stealth": "TA0005", "defense-impairment": "TA0112",
	"credential-access": "TA0006", "discovery": "TA0007", "lateral-movement": "TA0008", "collection": "TA0009",
	"exfiltration": "TA0010", "command-and-control": "TA0011", "impact": "TA0040",
}

var techniqueTag = regexp.MustCompile(`^attack\.t(\d{4})(?:\.(\d{3}))?$`)

// mitreAttack derives the rule's ATT&CK mapping from its tags: one entry per tactic, then one per technique (with
// its sub-technique; a technique also tagged through a sub-technique is not repeated alone).
func mitreAttack(tags []string) []rules.MitreAttack {
	var out []rules.MitreAttack
	seen := map[string]bool{}
	add := func(m rules.MitreAttack) {
		key := m.Tactic + "/" + m.Technique + "/" + m.Subtechnique
		if !seen[key] {
			seen[key] = true
			out = append(out, m)
		}
	}
	covered := map[string]bool{}
	for _, t := range tags {
		t = strings.ToLower(t)
		if id, ok := tacticIDs[strings.TrimPrefix(t, "attack.")]; ok && strings.HasPrefix(t, "attack.") {
			add(rules.MitreAttack{Tactic: id})
		}
		if m := techniqueTag.FindStringSubmatch(t); m != nil && m[2] != "" {
			covered["T"+m[1]] = true
		}
	}
	for _, t := range tags {
		m := techniqueTag.FindStringSubmatch(strings.ToLower(t))
		switch {
		case m == nil:
		case m[2] != "":
			add(rules.MitreAttack{Technique: "T" + m[1], Subtechnique: "T" + m[1] + "." + m[2]})
		case !covered["T"+m[1]]:
			add(rules.MitreAttack{Technique: "T" + m[1]})
		}
	}
	return out
}

// severity maps Sigma's level; informational becomes low (Vigil has no lower severity) and a rule without a level
// is medium.
func severity(level string) string {
	switch l := strings.ToLower(strings.TrimSpace(level)); l {
	case "low", "medium", "high", "critical":
		return l
	case "informational":
		return "low"
	}
	return "medium"
}

var notIDChars = regexp.MustCompile(`[^a-z0-9._-]+`)

// ruleID is `sigma.<id>`; a rule without an id is named after its Sigma name, and a rule without either after its
// file.
func ruleID(r *Rule) string {
	for _, id := range []string{r.ID, r.Name, strings.TrimSuffix(filepath.Base(r.File), filepath.Ext(r.File))} {
		if id = strings.Trim(notIDChars.ReplaceAllString(strings.ToLower(strings.TrimSpace(id)), "_"), "_"); id != "" {
			return "sigma." + id
		}
	}
	return "sigma.rule"
}

// ruleTags keeps Sigma's tags and adds where the rule came from: its status, an informational level, and its log
// source, so converted rules can be selected by them.
func ruleTags(r *Rule) []string {
	var tags []string
	seen := map[string]bool{}
	add := func(t string) {
		if t != "" && !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	for _, t := range r.Tags {
		add(strings.ToLower(t))
	}
	add("sigma")
	if r.Status != "" {
		add("sigma.status." + strings.ToLower(r.Status))
	}
	if strings.EqualFold(r.Level, "informational") {
		add("sigma.level.informational")
	}
	for _, kv := range [][2]string{{"product", r.Logsource.Product}, {"category", r.Logsource.Category}, {"service", r.Logsource.Service}} {
		if kv[1] != "" {
			add("sigma." + kv[0] + "." + strings.ToLower(kv[1]))
		}
	}
	return tags
}
