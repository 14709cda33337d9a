//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/testenv"
)

// TestKafkaToSearchExample runs configs/kafka-to-search.yaml as shipped, with the shipped rules, from the real
// Kafka broker into each real search engine, and searches the alerts back with `vigil alerts search` as an analyst
// does: per tenant, the alerts found are exactly the ones `vigil replay` gives for the same events.
func TestKafkaToSearchExample(t *testing.T) {
	addr := testenv.Kafka(t)
	engines := testenv.SearchEngines(t)
	bin := buildVigil(t)
	root := repoRoot(t)
	run := strings.ReplaceAll(testenv.UniqueName(t, "e2e"), "-", "")
	byTenant := searchTestEvents(t, root, run)
	topics := topicPrefix(t) // this test's events only: the index holds exactly what replay gives for them
	config := filepath.Join(root, "configs", "kafka-to-search.yaml")
	// What the configuration's rules (configs/rules and configs/rules-intel) and lookup tables give; the replay
	// reads only the enrich block, but the whole file's environment references must be set.
	want := replayExpectedWith(t, bin, byTenant, []string{"VIGIL_KAFKA_BROKERS=" + addr, "VIGIL_SEARCH_URLS=" + engines[0].URL},
		"--rules", filepath.Join(root, "configs", "rules"), "--rules", filepath.Join(root, "configs", "rules-intel"),
		"--enrich", config)
	wantByTenant := map[string]map[string]bool{"acme": {}, "globex": {}}
	for id, tenant := range want {
		wantByTenant[tenant][id] = true
	}
	if len(wantByTenant["acme"]) < 100 || len(wantByTenant["globex"]) < 100 {
		t.Fatalf("replay gives %d acme and %d globex alerts; the test needs more", len(wantByTenant["acme"]), len(wantByTenant["globex"]))
	}
	total := 0
	for tenant, events := range byTenant {
		msgs := make([]kafka.Message, len(events))
		for i, raw := range events {
			msgs[i] = kafka.Message{Value: raw}
		}
		total += len(msgs)
		kafkaProduce(t, addr, topics+"."+tenant+".events", msgs) // the broker creates the topics
	}
	t.Logf("%d events produced, replay gives %d alerts (acme %d, globex %d)", total, len(want),
		len(wantByTenant["acme"]), len(wantByTenant["globex"]))

	for _, e := range engines {
		t.Run(e.Flavor, func(t *testing.T) {
			prefix := testenv.UniqueName(t, "vigil-e2e-")
			env := append(correlateEnv(t), "VIGIL_KAFKA_BROKERS="+addr, "VIGIL_KAFKA_GROUP="+testenv.UniqueName(t, "vigil-group-"),
				"VIGIL_SEARCH_URLS="+e.URL, "VIGIL_SEARCH_FLAVOR="+e.Flavor, "VIGIL_SEARCH_INDEX_PREFIX="+prefix,
				"VIGIL_SEARCH_REPLICAS=0", "VIGIL_TOPIC_PREFIX="+topics)
			t.Cleanup(func() { deleteIndices(t, e.URL, prefix) })
			start := time.Now()
			p := startVigil(t, bin, config, env...)
			search := func(args ...string) (string, string) {
				t.Helper()
				cmd := exec.Command(bin, append([]string{"alerts", "search", "-c", config}, args...)...)
				cmd.Env, cmd.Dir = append(os.Environ(), env...), root
				var out, errOut bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errOut
				if err := cmd.Run(); err != nil {
					t.Fatalf("vigil alerts search %v: %v\n%s\nvigil run log:\n%s", args, err, errOut.String(), p.log())
				}
				return out.String(), errOut.String()
			}
			found := func(tenant string) map[string]int {
				// every alert of the subtest's index prefix: correlation alerts have no event.id of the run
				out, _ := search("--tenant", tenant, "--json", "--size", "10000")
				ids := map[string]int{}
				sc := bufio.NewScanner(strings.NewReader(out))
				sc.Buffer(nil, 16<<20)
				for sc.Scan() {
					var doc struct {
						Vigil struct {
							Alert struct{ ID, Tenant string }
						}
					}
					if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
						t.Fatalf("search output line %q: %v", sc.Text(), err)
					}
					if doc.Vigil.Alert.Tenant != tenant {
						t.Errorf("alert %s of tenant %q in a search for tenant %s", doc.Vigil.Alert.ID, doc.Vigil.Alert.Tenant, tenant)
					}
					ids[doc.Vigil.Alert.ID]++
				}
				return ids
			}
			waitForLog(t, p, `"msg":"source started"`) // the dead-letter topic exists now
			dead := watchDeadLetters(t, addr, prefix)
			deadline := time.Now().Add(180 * time.Second)
			for {
				a, g := found("acme"), found("globex")
				da, dg := dead.count("acme"), dead.count("globex")
				if len(a)+da >= len(wantByTenant["acme"]) && len(g)+dg >= len(wantByTenant["globex"]) {
					break
				}
				if time.Now().After(deadline) {
					var missing []string // the ids replay gives that are not in the index, to tell which rule lags
					for id, tenant := range want {
						if _, ok := map[string]map[string]int{"acme": a, "globex": g}[tenant][id]; !ok {
							missing = append(missing, tenant+"/"+id)
						}
					}
					t.Fatalf("after 180s: acme %d+%d of %d, globex %d+%d of %d alerts searchable+dead-lettered; missing %v; vigil log:\n%s",
						len(a), da, len(wantByTenant["acme"]), len(g), dg, len(wantByTenant["globex"]), missing, p.log())
				}
				time.Sleep(time.Second)
			}
			elapsed := time.Since(start)
			time.Sleep(2 * time.Second) // anything written late would show up now
			for tenant, wantIDs := range wantByTenant {
				got, parked := found(tenant), dead.alerts(tenant)
				missing, extra := 0, 0
				for id := range wantIDs {
					// An alert is stored once, or dead-lettered (a record read twice may be parked twice), not both.
					if (got[id] == 1) == (parked[id] > 0) {
						missing++
					}
				}
				for id, n := range got {
					if !wantIDs[id] || n > 1 {
						extra++
					}
				}
				for id := range parked {
					if !wantIDs[id] {
						extra++
					}
				}
				if missing > 0 || extra > 0 {
					t.Errorf("tenant %s: search finds %d alerts and %d are dead-lettered, replay gives %d: %d missing or both, %d unexpected or repeated; dead letters:\n%s\nvigil log:\n%s",
						tenant, len(got), len(parked), len(wantIDs), missing, extra, strings.Join(dead.detailList(), "\n"), p.log())
				}
				t.Logf("tenant %s: %d alerts searchable, %d dead-lettered (reasons %v), replay %d", tenant, len(got), len(parked), dead.reasons(), len(wantIDs))
			}
			table, summary := search("--tenant", "acme", "--since", "1h", "--size", "5")
			if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 6 || !strings.HasPrefix(lines[0], "EVENT TIME") ||
				!strings.Contains(lines[1], " acme ") {
				t.Errorf("table: got\n%s", table)
			}
			if wantSummary := fmt.Sprintf("5 of %d matching alerts", len(wantByTenant["acme"])); !strings.Contains(summary, wantSummary) {
				t.Errorf("summary: got %q, want %q", summary, wantSummary)
			}
			t.Logf("%s: all %d alerts searchable %v after vigil started; table:\n%s", e.Flavor, len(want), elapsed.Round(time.Millisecond), table)
			if err := p.stop(t, syscall.SIGTERM); err != nil {
				t.Errorf("vigil exited with %v after SIGTERM; log:\n%s", err, p.log())
			}
			if log := p.log(); !strings.Contains(log, "elasticsearch sink closed") {
				t.Errorf("the sink did not log its counters on shutdown; log:\n%s", log)
			}
		})
	}
}

// searchTestEvents makes the events of the test: the events the shipped rules' own tests expect to match, up to 40
// times each with distinct event ids under run (fewer when the rules have many tests: a search returns at most
// 10,000 alerts), and as many events that match nothing. The copies are a second apart, newest first: all within
// the correlation's allowed lateness (1m), so that any interleaving of the topics' partitions gives the correlation
// alerts of the replay (docs/rules.md, "Correlation rules"); copies hours apart, in that order, would be late
// depending on which partition was read first.
func searchTestEvents(t *testing.T, root, run string) map[string][][]byte {
	set, err := rules.Load(filepath.Join(root, "configs", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	perCopy := 0
	for _, r := range set {
		for _, tc := range r.Tests {
			if tc.Expect == "match" {
				perCopy++
			}
		}
	}
	copies := min(40, 8000/max(perCopy, 1))
	now := time.Now().UTC()
	byTenant := map[string][][]byte{}
	n := 0
	add := func(tenant string, ev map[string]any) {
		ev["event.id"] = fmt.Sprintf("%s-%06d", run, n)
		n++
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		byTenant[tenant] = append(byTenant[tenant], raw)
	}
	for copyNo := range copies {
		for _, r := range set {
			for _, tc := range r.Tests {
				if tc.Expect != "match" {
					continue
				}
				for _, tenant := range []string{"acme", "globex"} {
					if tc.Tenant != "" && tc.Tenant != tenant {
						continue
					}
					ev := map[string]any{"@timestamp": now.Add(-time.Duration(copyNo) * time.Second).Format(time.RFC3339)}
					for k, v := range tc.Event {
						ev[k] = v
					}
					add(tenant, ev)
					add(tenant, map[string]any{"message": "nothing to see", "host": map[string]any{"name": "quiet"}})
				}
			}
		}
	}
	return byTenant
}

func deleteIndices(t *testing.T, url, prefix string) {
	for _, path := range []string{"/" + prefix + "-*", "/_index_template/" + prefix} {
		req, _ := http.NewRequest(http.MethodDelete, url+path, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}
}

// waitForLog waits until vigil's log contains s.
func waitForLog(t *testing.T, p *vigilProc, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("vigil did not log %s within 60s; log:\n%s", s, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deadLetterWatch collects the alerts parked in vigil.deadletter by the run whose index prefix it watches.
type deadLetterWatch struct {
	mu       sync.Mutex
	byTenant map[string]map[string]int // tenant → alert id → letters
	reason   map[string]int
	details  []string
}

func watchDeadLetters(t *testing.T, addr, prefix string) *deadLetterWatch {
	w := &deadLetterWatch{byTenant: map[string]map[string]int{}, reason: map[string]int{}}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: testenv.UniqueName(t, "vigil-dlq-"),
		GroupTopics: []string{"vigil.deadletter"}, StartOffset: kafka.FirstOffset, MaxWait: 250 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return
			}
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			if h["vigil.kind"] != "alert" || !strings.Contains(h["vigil.detail"], "index "+prefix+"-") {
				continue
			}
			var doc struct {
				Vigil struct {
					Alert struct{ ID, Tenant string }
				}
			}
			if json.Unmarshal(m.Value, &doc) != nil {
				continue
			}
			w.mu.Lock()
			if w.byTenant[doc.Vigil.Alert.Tenant] == nil {
				w.byTenant[doc.Vigil.Alert.Tenant] = map[string]int{}
			}
			w.byTenant[doc.Vigil.Alert.Tenant][doc.Vigil.Alert.ID]++
			w.reason[h["vigil.reason"]]++
			w.details = append(w.details, doc.Vigil.Alert.ID+": "+h["vigil.detail"])
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	return w
}

func (w *deadLetterWatch) count(tenant string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.byTenant[tenant])
}

func (w *deadLetterWatch) alerts(tenant string) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for id, n := range w.byTenant[tenant] {
		out[id] = n
	}
	return out
}

func (w *deadLetterWatch) reasons() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for k, v := range w.reason {
		out[k] = v
	}
	return out
}

func (w *deadLetterWatch) detailList() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.details...)
}
