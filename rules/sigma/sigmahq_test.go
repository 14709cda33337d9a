package sigma

import (
	"archive/zip"
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// These tests run against the public data in ../shared/testdata (beside the repository): SigmaHQ's rules and
// regression events, and OTRF's Windows recordings. They skip when it is absent.

// shared returns ../shared/testdata/<name> seen from the repository root, or skips the test.
func shared(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "testdata", name)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data %s is not there (%v): it sits beside the repository, see DESIGN.md", dir, err)
	}
	return dir
}

func newTestConverter(t testing.TB, profile string) *Converter {
	t.Helper()
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	p, err := LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	return &Converter{Profile: p, Env: env}
}

// TestSigmaHQRegression is `vigil sigma test --root ../shared/testdata/sigma`: every rule with regression data
// must match at least its match_count events.
func TestSigmaHQRegression(t *testing.T) {
	root := shared(t, "sigma")
	run, err := RunRegression(root, nil, newTestConverter(t, "windows-flat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range run.Results {
		if !r.OK() {
			t.Errorf("%s %s: %v %v", r.File, r.RuleID, r.Failures, r.Err)
		}
	}
	// 143 rules had data when the importer was written; fewer means data went missing or rules stopped loading.
	if len(run.Results) < 143 {
		t.Errorf("got %d rules with regression data, want at least 143", len(run.Results))
	}
}

// documentedUnsupported is how many SigmaHQ rules may fail to convert, by reason (docs/sigma.md). A new reason or a
// higher count is a regression.
var documentedUnsupported = map[string]int{
	"placeholder": 2, // %known_cdcs% in the two CVE-2026-54121 rules: the site must supply its values
}

// TestSigmaHQConversion converts every SigmaHQ rule; all must convert, compile and round-trip, except the
// documented ones.
func TestSigmaHQConversion(t *testing.T) {
	root := shared(t, "sigma")
	conv := newTestConverter(t, "windows-flat")
	results, unsupported := convertAll(t, root, conv)
	got := map[string]int{}
	for _, err := range unsupported {
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			t.Fatalf("got %v, want an *UnsupportedError", err)
		}
		got[ue.Reason]++
	}
	for reason, n := range got {
		if n > documentedUnsupported[reason] {
			t.Errorf("unsupported %q: got %d rules, documented at most %d", reason, n, documentedUnsupported[reason])
		}
	}
	if len(results) < 3750 {
		t.Errorf("converted %d rules, want at least 3750", len(results))
	}
	t.Logf("converted %d rules, unsupported by reason %v", len(results), got)
}

// TestSigmaHQConversionECS converts the Windows rules with the ECS profile: they must all load too.
func TestSigmaHQConversionECS(t *testing.T) {
	root := shared(t, "sigma")
	results, unsupported := convertAll(t, root, newTestConverter(t, "ecs"))
	if len(unsupported) > 2 {
		t.Errorf("got %d unsupported rules with the ecs profile, want at most 2: %v", len(unsupported), unsupported)
	}
	sigmaField := regexp.MustCompile(`(^|[^.\w"])(CommandLine|Image|EventID|Channel)\.`)
	for _, res := range results {
		if res.Source.Logsource.Product == "windows" && sigmaField.MatchString(res.Rule.Condition) {
			t.Errorf("%s: windows rule still reads a Sigma field name under ecs:\n%s", res.Source.File, res.Rule.Condition)
			break
		}
	}
}

// converted caches convertAll by profile: converting the whole corpus takes seconds and several tests need it.
var converted sync.Map

type conversion struct {
	results     []*Result
	unsupported []error
}

func convertAll(t testing.TB, root string, conv *Converter) ([]*Result, []error) {
	t.Helper()
	key := root + "|" + conv.Profile.Name
	if c, ok := converted.Load(key); ok {
		return c.(*conversion).results, c.(*conversion).unsupported
	}
	dirs, err := RuleDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	files, err := rules.Files(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	var results []*Result
	var unsupported []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, errs := Parse(f, data)
		unsupported = append(unsupported, errs...)
		for _, r := range parsed {
			res, err := conv.Convert(r)
			if err != nil {
				unsupported = append(unsupported, err)
				continue
			}
			results = append(results, res)
		}
	}
	converted.Store(key, &conversion{results, unsupported})
	return results, unsupported
}

// compiledSets caches windowsRuleSet by profile: compiling the Windows rules takes seconds (tenfold under -race),
// and the OTRF replay and the shipped-event tests share them. A RuleSet is read-only once compiled.
var compiledSets sync.Map

// windowsRuleSet compiles every enabled converted rule for product windows.
func windowsRuleSet(t testing.TB, root string, conv *Converter) *rules.RuleSet {
	t.Helper()
	key := root + "|" + conv.Profile.Name
	if set, ok := compiledSets.Load(key); ok {
		return set.(*rules.RuleSet)
	}
	results, _ := convertAll(t, root, conv)
	var rs []*rules.Rule
	for _, res := range results {
		if res.Source.Logsource.Product == "windows" && res.Rule.IsEnabled() {
			rs = append(rs, res.Rule)
		}
	}
	set, err := conv.Env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	compiledSets.Store(key, set)
	return set
}

// otrfEvents reads the OTRF recordings: zip files of NDJSON Windows events, already flat.
func otrfEvents(t testing.TB) []*vigil.Event {
	t.Helper()
	zips, err := filepath.Glob(filepath.Join(shared(t, "otrf"), "*.zip"))
	if err != nil || len(zips) == 0 {
		t.Skipf("no OTRF recordings (%v)", err)
	}
	sort.Strings(zips)
	var out []*vigil.Event
	for _, z := range zips {
		zr, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, readNDJSON(t, rc)...)
			rc.Close()
		}
		zr.Close()
	}
	return out
}

func readNDJSON(t testing.TB, r io.Reader) []*vigil.Event {
	var out []*vigil.Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		tree, err := fields.Parse([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &vigil.Event{Raw: []byte(line), Fields: tree, Tenant: "default"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOTRFReplay runs every converted Windows rule over the OTRF recordings, with the prefilter index and without:
// both must raise the same alerts (the guards are written for the index; it must never change a result), and no
// rule may fire on a large share of the events (a sign of a missing guard).
func TestOTRFReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 7,500 events through every Windows rule")
	}
	root := shared(t, "sigma")
	events := otrfEvents(t)
	set := windowsRuleSet(t, root, newTestConverter(t, "windows-flat"))
	indexed, elapsed := replayOTRF(set, events)
	// Without the index every rule runs on every event.
	if want, _ := replayOTRF(set.Unindexed(), events); !reflect.DeepEqual(indexed, want) {
		t.Errorf("alerts per rule: got %v with the index, %v without", indexed, want)
	}
	for id, n := range indexed {
		if n > len(events)/4 {
			t.Errorf("rule %s matched %d of %d events: a guard is missing", id, n, len(events))
		}
	}
	idx, always, _ := set.IndexStats()
	candidates := 0
	for _, ev := range events {
		candidates += set.CountCandidates(ev)
	}
	t.Logf("%d rules (%d indexed, %d always evaluated) over %d events: %.1f candidates per event, %d rules fired, %.0f events/s",
		len(set.Rules()), idx, always, len(events), float64(candidates)/float64(len(events)), len(indexed),
		float64(len(events))/elapsed.Seconds())
}

func replayOTRF(set *rules.RuleSet, events []*vigil.Event) (map[string]int, time.Duration) {
	eng := rules.NewEngine(set)
	perRule := map[string]int{}
	var alerts []*vigil.Alert
	start := time.Now()
	for _, ev := range events {
		alerts = eng.Detect(ev, alerts[:0])
		for _, a := range alerts {
			perRule[a.RuleID]++
		}
	}
	return perRule, time.Since(start)
}

// BenchmarkOTRF measures all converted Windows rules over the OTRF recordings, in events per second, with the
// engine's prefilter index and, as the baseline, without it.
func BenchmarkOTRF(b *testing.B) {
	root := shared(b, "sigma")
	events := otrfEvents(b)
	set := windowsRuleSet(b, root, newTestConverter(b, "windows-flat"))
	for _, bc := range []struct {
		name string
		set  *rules.RuleSet
	}{{"indexed", set}, {"unindexed", set.Unindexed()}} {
		b.Run(bc.name, func(b *testing.B) {
			eng := rules.NewEngine(bc.set)
			var alerts []*vigil.Alert
			for b.Loop() {
				for _, ev := range events {
					alerts = eng.Detect(ev, alerts[:0])
				}
			}
			b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(len(bc.set.Rules())), "rules")
		})
	}
}

// BenchmarkOTRFCandidates measures the prefilter index alone: finding the candidates of every OTRF event among all
// converted Windows rules.
func BenchmarkOTRFCandidates(b *testing.B) {
	root := shared(b, "sigma")
	events := otrfEvents(b)
	set := windowsRuleSet(b, root, newTestConverter(b, "windows-flat"))
	n := 0
	for b.Loop() {
		for _, ev := range events {
			n += set.CountCandidates(ev)
		}
	}
	b.ReportMetric(float64(len(events)*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n)/float64(len(events)*b.N), "candidates/event")
}
