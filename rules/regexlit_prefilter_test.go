package rules_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// TestRegexPrefilterLiterals checks which literals the re matcher searches a text for before running a pattern
// (TestRegexLiterals covers how they are found): as written when the pattern has some, else lowered.
func TestRegexPrefilterLiterals(t *testing.T) {
	for _, tc := range []struct {
		pattern       string
		want          []string
		folded, known bool
	}{
		{`\\Windows\\System32\\[a-zA-Z0-9]{8}\.tmp$`, []string{`\Windows\System32\`}, false, true},
		{`(?i)(\\Temp\\)[0-9]+`, []string{`\temp\`}, true, true},
		{`(?i)temp\\\d+`, []string{`temp\`}, true, true}, // "\" alone, as written, is too short
		{`abc|defgh`, []string{"abc", "defgh"}, false, true},
		{`x?yz`, []string{"yz"}, false, true},
		{`(?i)straße|ñu`, nil, true, true}, // no ASCII text can match: none to look for, and every ASCII text lacks them
		{`[a-z]+\d`, nil, false, false},
	} {
		got, folded, known := rules.RegexPrefilter(tc.pattern)
		if !slices.Equal(got, tc.want) || folded != tc.folded || known != tc.known {
			t.Errorf("%s: got %q (folded %v, known %v), want %q (%v, %v)", tc.pattern, got, folded, known, tc.want, tc.folded, tc.known)
		}
	}
}

// TestRegexPrefilter matches every `re` pattern of the converted SigmaHQ rules with the prepared matcher and with
// the regular expression alone, on the string values of the OTRF and regression events that hold one of the
// pattern's literals in any case, on a sample of the others, and on the literal itself in several cases and surroundings:
// the results must be the same.
func TestRegexPrefilter(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "testdata")
	env := libEnv(t)
	patterns := map[string]bool{}
	reCall := regexp.MustCompile(`\.re\(("(?:[^"\\]|\\.)*")\)`)
	for _, r := range sigmaHQRules(t, env, "", "windows-flat") {
		for _, m := range reCall.FindAllStringSubmatch(r.Condition, -1) {
			if p, err := strconv.Unquote(m[1]); err == nil {
				patterns[p] = true
			}
		}
	}
	if len(patterns) < 100 {
		t.Fatalf("got %d re patterns, want at least 100", len(patterns))
	}
	texts := map[string]bool{}
	for _, ev := range sharedEvents(t, root) {
		collectStrings(ev, texts)
	}
	var values []string
	for s := range texts {
		values = append(values, s)
	}
	sort.Strings(values)
	lowered := make([]string, len(values))
	for i, v := range values {
		lowered[i] = strings.ToLower(v)
	}
	matched, compared := 0, 0
	for p := range patterns {
		lits, _, _ := rules.RegexPrefilter(p)
		var tried []string
		for _, lit := range lits {
			tried = append(tried, lit, strings.ToUpper(lit), "x"+lit+"y", "é"+strings.ToUpper(lit), lit[:len(lit)/2])
		}
		for i, v := range values {
			if i%50 == 0 || slices.ContainsFunc(lits, func(lit string) bool { return strings.Contains(lowered[i], strings.ToLower(lit)) }) {
				tried = append(tried, v)
			}
		}
		for _, v := range tried {
			prepared, plain, err := rules.RegexMatches(p, v)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			compared++
			if plain {
				matched++
			}
			if prepared != plain {
				t.Errorf("%s on %q: got %v, want %v", p, v, prepared, plain)
			}
		}
	}
	t.Logf("%d patterns, %d distinct texts: %d comparisons, %d matches", len(patterns), len(values), compared, matched)
	if matched < 100 {
		t.Errorf("got %d matches, want at least 100 for the comparison to mean something", matched)
	}
}

func collectStrings(v fields.Value, out map[string]bool) {
	switch v.Kind() {
	case fields.String:
		out[v.Str()] = true
	case fields.Array, fields.Object:
		for e := v.First(); e.Exists(); e = e.Next() {
			collectStrings(e, out)
		}
	}
}
