package rules_test

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vigilsoc/vigil/enrich"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/rules/sigma"
)

// TestNativeAgreesWithCEL compiles every condition and exception of SigmaHQ's rules (all rule folders, converted with
// both built-in profiles) and of the rules and exception lists Vigil ships (configs/) natively and with CEL alone, and evaluates both on
// every OTRF event, every SigmaHQ regression event, and events made for the expression that give each field it reads
// a string, a number, a boolean, a list, a map, null, or nothing, and the expression's own literals. The outcome
// (true, false, error) must be the same for every expression and event.
func TestNativeAgreesWithCEL(t *testing.T) {
	root := filepath.Join("..", "..", "shared", "testdata")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("shared test data %s is not there (%v): it sits beside the repository, see DESIGN.md", root, err)
	}
	env := libEnv(t)
	exprs := map[string]string{} // expression -> the rule it comes from, for messages
	add := func(r *rules.Rule) {
		if r.Correlation == nil {
			exprs[r.Condition] = r.ID
		}
		for _, x := range r.Exceptions {
			exprs[x] = r.ID + " (exception)"
		}
	}
	for _, profile := range []string{"windows-flat", "ecs"} {
		for _, r := range sigmaHQRules(t, env, "", profile) {
			add(r)
		}
	}
	shipped, err := rules.Load(filepath.Join("..", "configs", "rules"), filepath.Join("..", "configs", "rules-intel"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range shipped {
		add(r)
	}
	lists, err := rules.LoadExceptions(filepath.Join("..", "configs", "exceptions"))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range rules.ExceptionTexts(lists) {
		exprs[x] = "configs/exceptions"
	}
	shared := sharedEvents(t, root)
	if len(shared) < 7000 {
		t.Fatalf("got %d OTRF and regression events, want at least 7,000", len(shared))
	}
	if testing.Short() || raceDetector {
		shared = shared[:len(shared)/10]
	}
	if raceDetector {
		// Under the race detector, every tenth expression on a tenth of the events: the concurrency is what is
		// tested there. `make integration` runs this test in full without it.
		sample := map[string]string{}
		for i, x := range slices.Sorted(maps.Keys(exprs)) {
			if i%10 == 0 {
				sample[x] = exprs[x]
			}
		}
		exprs = sample
	}
	st := compareAll(t, env, exprs, shared)
	t.Logf("%d expressions (%d native, %d CEL only), %d evaluations: %d true, %d false, %d errors",
		len(exprs), st.native, st.fallback, st.pairs.Load(), st.outcomes[1].Load(), st.outcomes[0].Load(), st.outcomes[2].Load())
	// Converted Sigma rules are all in the subset but for a handful (the fieldref modifier compares two fields).
	if st.native < len(exprs)*98/100 {
		t.Errorf("got %d of %d expressions native, want at least 98%%", st.native, len(exprs))
	}
	minTrue := int64(5_000)
	if raceDetector {
		minTrue = 1_000
	}
	if st.outcomes[1].Load() < minTrue || st.outcomes[2].Load() < 100_000 {
		t.Errorf("got %d true and %d errored outcomes, want many of each for the comparison to mean something",
			st.outcomes[1].Load(), st.outcomes[2].Load())
	}
}

type compareStats struct {
	native, fallback int
	pairs            atomic.Int64
	outcomes         [3]atomic.Int64
}

// compareAll evaluates every expression natively and with CEL on events and on its synthetic events, over all cores.
func compareAll(t *testing.T, env *rules.Env, exprs map[string]string, events []fields.Value) *compareStats {
	var st compareStats
	list := make([]string, 0, len(exprs))
	for x := range exprs {
		list = append(list, x)
	}
	sort.Strings(list)
	var mu sync.Mutex
	failures := 0
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(list); i = int(next.Add(1) - 1) {
				expr := list[i]
				native, viaCEL, err := rules.Outcomes(env, expr)
				mu.Lock()
				switch {
				case err != nil:
					t.Errorf("%s: %v", exprs[expr], err)
				case native == nil:
					st.fallback++
				default:
					st.native++
				}
				mu.Unlock()
				if native == nil {
					continue
				}
				check := func(ev fields.Value) {
					got, want := native(ev), viaCEL(ev)
					st.pairs.Add(1)
					st.outcomes[want].Add(1)
					if got != want {
						mu.Lock()
						if failures++; failures <= 20 {
							doc, _ := json.Marshal(ev)
							t.Errorf("%s: %s\non %s: got outcome %d natively, want %d (0 false, 1 true, 2 error)",
								exprs[expr], expr, doc, got, want)
						}
						mu.Unlock()
					}
				}
				for _, ev := range events {
					check(ev)
				}
				for _, ev := range syntheticEvents(t, rules.FieldPaths(env, expr), expr) {
					check(ev)
				}
			}
		})
	}
	wg.Wait()
	return &st
}

func libEnv(t testing.TB) *rules.Env {
	env, err := rules.NewEnv(rules.WithLibrary(enrich.Library(nil, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// sharedEvents reads the OTRF recordings and SigmaHQ's regression events.
func sharedEvents(t testing.TB, root string) []fields.Value {
	var out []fields.Value
	zips, _ := filepath.Glob(filepath.Join(root, "otrf", "*.zip"))
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
			out = append(out, ndjson(t, rc)...)
			rc.Close()
		}
		zr.Close()
	}
	err := filepath.WalkDir(filepath.Join(root, "sigma", "regression_data"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		evs, err := sigma.ReadEVTXJSON(data)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, ev := range evs {
			out = append(out, ev.Fields)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ndjson(t testing.TB, r io.Reader) []fields.Value {
	var out []fields.Value
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, mustParse(t, line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustParse(t testing.TB, doc string) fields.Value {
	v, err := fields.Parse([]byte(doc))
	if err != nil {
		t.Errorf("parse %s: %v", doc, err)
	}
	return v
}

// valueKinds are JSON values of every kind, and texts the functions treat specially (numbers, case, non-ASCII).
var valueKinds = []string{`""`, `"x"`, `"4688"`, `" 12 "`, `1`, `0`, `-3`, `4688`, `1.5`, `1e30`, `18446744073709551615`,
	`true`, `false`, `null`, `[]`, `["x", 1]`, `[[1]]`, `{}`, `{"a": "b"}`, `"Security"`, `"SÉCURITY"`, `"10.1.2.3"`,
	`"::ffff:10.0.0.1"`}

var (
	stringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	intLit    = regexp.MustCompile(`\b[0-9]+\b`)
)

// syntheticEvents are events for an expression that reads paths: every path absent, every path one value of
// valueKinds, and every path (or every other one) one of the expression's literals, in several forms.
func syntheticEvents(t testing.TB, paths []string, expr string) []fields.Value {
	var values [][]string // per event, the JSON value of each path; "" leaves it out
	same := func(v string) []string {
		vs := make([]string, len(paths))
		for i := range vs {
			vs[i] = v
		}
		return vs
	}
	values = append(values, same(""))
	for _, v := range valueKinds {
		values = append(values, same(v))
	}
	// Each field its own literal, in the order both appear, which often satisfies a conjunction over fields.
	var texts []string
	for _, lit := range stringLit.FindAllString(expr, -1) {
		if s, err := strconv.Unquote(lit); err == nil {
			j, _ := json.Marshal(s)
			texts = append(texts, string(j))
		}
	}
	if len(texts) > 0 {
		aligned := make([]string, len(paths))
		for i := range aligned {
			aligned[i] = texts[min(i, len(texts)-1)]
		}
		values = append(values, aligned)
	}
	for i, lit := range stringLit.FindAllString(expr, -1) {
		if i == 6 {
			break
		}
		s, err := strconv.Unquote(lit)
		if err != nil {
			continue
		}
		for _, form := range []string{s, strings.ToUpper(s), "a" + s + "z", strings.TrimSuffix(s, "*")} {
			j, _ := json.Marshal(form)
			values = append(values, same(string(j)))
		}
		j, _ := json.Marshal(s)
		values = append(values, same("["+string(j)+"]"))
		even, odd := same(string(j)), same(string(j))
		for k := range paths {
			if k%2 == 0 {
				odd[k] = ""
			} else {
				even[k] = `"x"`
			}
		}
		values = append(values, even, odd)
	}
	for i, lit := range intLit.FindAllString(expr, -1) {
		if i == 4 {
			break
		}
		v, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			continue
		}
		n := strconv.FormatInt(v, 10)
		values = append(values, same(n), same(`"`+n+`"`), same(n+".0"))
	}
	out := make([]fields.Value, 0, len(values))
	for _, vs := range values {
		out = append(out, mustParse(t, nestedDoc(paths, vs)))
	}
	return out
}

// nestedDoc writes a JSON object with vs[i] at the dotted path paths[i] (nested objects), leaving out empty vs[i].
func nestedDoc(paths, vs []string) string {
	root := map[string]any{}
	for i, p := range paths {
		if vs[i] == "" {
			continue
		}
		m := root
		keys := strings.Split(p, ".")
		for _, k := range keys[:len(keys)-1] {
			sub, ok := m[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[k] = sub
			}
			m = sub
		}
		m[keys[len(keys)-1]] = json.RawMessage(vs[i])
	}
	doc, err := json.Marshal(root)
	if err != nil {
		return err.Error()
	}
	return string(doc)
}
