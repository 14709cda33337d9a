package sigma

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/rules"
)

// RegressionResult is the outcome of one rule's regression tests.
type RegressionResult struct {
	File   string
	RuleID string
	// Matched and Events count over all the rule's event files; Want is the sum of their match_count minimums.
	Matched, Events, Want int
	// Failures says, per failed test, what matched and what was expected.
	Failures []string
	// Err is set when the rule could not be converted or its data read.
	Err error
}

// OK reports whether the rule converted and matched at least what every test requires.
func (r *RegressionResult) OK() bool { return r.Err == nil && len(r.Failures) == 0 }

// RegressionRun is the outcome of a run: one result per rule with data, how many rules name a
// regression_tests_path whose data is not there, and how many correlation rules were skipped (SigmaHQ's regression
// data is events of single rules; a correlation has none).
type RegressionRun struct {
	Results      []*RegressionResult
	NoData       int
	Correlations int
}

// regressionInfo is SigmaHQ's info.yml.
type regressionInfo struct {
	ID    string `yaml:"id"`
	Tests []struct {
		Name       string `yaml:"name"`
		Type       string `yaml:"type"`
		MatchCount *int   `yaml:"match_count"`
		Path       string `yaml:"path"`
	} `yaml:"regression_tests_info"`
}

// RuleDirs lists the rule folders of a repository laid out like SigmaHQ's: rules, rules-emerging-threats, ...
func RuleDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("sigma: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "rules") {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	return dirs, nil
}

// RunRegression converts every rule under paths (default: the rule folders of root) that has regression data under
// root, replays its events and checks the match counts. conv must have an Env.
func RunRegression(root string, paths []string, conv *Converter) (*RegressionRun, error) {
	if len(paths) == 0 {
		var err error
		if paths, err = RuleDirs(root); err != nil {
			return nil, err
		}
	}
	files, err := rules.Files(paths...)
	if err != nil {
		return nil, err
	}
	run := &RegressionRun{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("sigma: %w", err)
		}
		parsed, _ := Parse(f, data)
		for _, r := range parsed {
			if r.Correlation != nil {
				run.Correlations++
				continue
			}
			if r.RegressionTestsPath == "" {
				continue
			}
			res := runRuleRegression(root, r, conv)
			if res == nil {
				run.NoData++
				continue
			}
			run.Results = append(run.Results, res)
		}
	}
	return run, nil
}

// runRuleRegression returns nil when the rule's data is not under root.
func runRuleRegression(root string, r *Rule, conv *Converter) *RegressionResult {
	infoData, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(r.RegressionTestsPath)))
	if err != nil {
		return nil
	}
	res := &RegressionResult{File: r.File, RuleID: r.ID}
	var info regressionInfo
	if err := yaml.Unmarshal(infoData, &info); err != nil {
		res.Err = fmt.Errorf("%s: %w", r.RegressionTestsPath, err)
		return res
	}
	type test struct {
		name, events string
		want         int
	}
	var tests []test
	for _, t := range info.Tests {
		events := eventFile(root, r, t.Path)
		if events == "" {
			continue
		}
		want := 1
		if t.MatchCount != nil {
			want = *t.MatchCount
		}
		tests = append(tests, test{t.Name, events, want})
	}
	if len(tests) == 0 {
		return nil
	}
	conv2, err := conv.Convert(r)
	if err != nil {
		res.Err = err
		return res
	}
	for _, t := range tests {
		matched, events, err := replay(conv2.Compiled, t.events)
		if err != nil {
			res.Err = err
			return res
		}
		res.Matched += matched
		res.Events += events
		res.Want += t.want
		if matched < t.want {
			res.Failures = append(res.Failures, fmt.Sprintf("%s: %d of %d events matched, want at least %d",
				t.name, matched, events, t.want))
		}
	}
	return res
}

// eventFile finds the JSON export of a test's .evtx: beside it with the .json extension, or `<rule id>.json` in
// the info.yml's folder. It returns "" when there is none.
func eventFile(root string, r *Rule, evtx string) string {
	candidates := []string{
		filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(evtx, filepath.Ext(evtx))+".json")),
		filepath.Join(root, filepath.Dir(filepath.FromSlash(r.RegressionTestsPath)), r.ID+".json"),
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	return ""
}

// replay evaluates the rule on every event of an EVTX JSON export.
func replay(c *rules.Compiled, file string) (matched, total int, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, fmt.Errorf("sigma: %w", err)
	}
	events, err := ReadEVTXJSON(data)
	if err != nil {
		return 0, 0, fmt.Errorf("sigma: %s: %w", file, err)
	}
	for _, ev := range events {
		if c.Match(ev) {
			matched++
		}
	}
	return matched, len(events), nil
}

// ReadEVTXJSON reads Windows events exported from EVTX as JSON objects one after another ({"Event": {"System":
// ..., "EventData": ...}}), flattens each with FlattenEVTX and decodes it with fields.Parse, as the pipeline
// would decode the flat record.
func ReadEVTXJSON(data []byte) ([]*vigil.Event, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out []*vigil.Event
	for i := 1; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		raw, err := json.Marshal(FlattenEVTX(doc))
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		tree, err := fields.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out = append(out, &vigil.Event{Raw: raw, Fields: tree, Tenant: "default"})
	}
}

// FlattenEVTX names the values of an EVTX JSON export the way Sigma rules do: EventData values by name (Image,
// CommandLine), the children of UserData's element by name, System values by name (EventID, Channel, Computer), and
// XML attributes as element_attribute (Provider_Name, Execution_ProcessID, Security_UserID, TimeCreated_SystemTime).
// Spaces are removed from data names ("Threat Name" is ThreatName), as the Sigma specification asks of rule
// authors. System values win over event data of the same name.
func FlattenEVTX(doc map[string]any) map[string]any {
	ev, _ := doc["Event"].(map[string]any)
	if ev == nil {
		ev = doc
	}
	out := map[string]any{}
	if data, ok := ev["EventData"].(map[string]any); ok {
		flattenData(out, data)
	}
	if user, ok := ev["UserData"].(map[string]any); ok {
		for k, v := range user {
			if child, ok := v.(map[string]any); ok && k != "#attributes" {
				flattenData(out, child)
			}
		}
	}
	if sys, ok := ev["System"].(map[string]any); ok {
		for k, v := range sys {
			m, isMap := v.(map[string]any)
			switch {
			case v == nil:
			case !isMap:
				out[k] = v
			default:
				if attrs, ok := m["#attributes"].(map[string]any); ok {
					for a, av := range attrs {
						out[k+"_"+a] = av
					}
				}
				if text, ok := m["#text"]; ok {
					out[k] = text
				}
			}
		}
	}
	return out
}

func flattenData(out, data map[string]any) {
	for k, v := range data {
		if k == "#attributes" {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			if text, ok := m["#text"]; ok {
				v = text
			}
		}
		out[strings.ReplaceAll(k, " ", "")] = v
	}
}
