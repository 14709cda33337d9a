//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/correlate"
	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/testenv"
)

// The acceptance tests of the correlation stage: `vigil run` with correlations on Kafka, killed or joined by a second
// instance in the middle of a run, leaves in the real search engine exactly the correlation alerts (ids and final
// counts) that `vigil replay`, which correlates in-process, gives for the same events.

// stageRules: failed and successful logons (correlation input only), a brute force per account (sliding: it is
// raised at its fifth failure and grows while failures go on), a password spray per source address (distinct
// accounts, grouped differently: other partitions), and a brute force followed by a success (a chain over the brute
// force's alerts, in the same partition).
const stageRules = `id: t.fail
name: failed logon
severity: low
condition: event.category == "authentication" && event.outcome == "failure"
---
id: t.ok
name: successful logon
severity: low
condition: event.category == "authentication" && event.outcome == "success"
---
id: t.brute
name: brute force
severity: high
correlation:
  type: event_count
  rules: [t.fail]
  group_by: [user.name]
  timespan: 1m
  condition: {gte: 5}
---
id: t.spray
name: password spray
severity: high
correlation:
  type: value_count
  rules: [t.fail]
  group_by: [source.ip]
  timespan: 1m
  condition: {field: user.name, gte: 4}
---
id: t.brute_success
name: brute force then success
severity: critical
correlation:
  type: temporal_ordered
  rules: [t.brute, t.ok]
  group_by: [user.name]
  timespan: 5m
  generate: true
---
id: t.fail_quiet
name: failed logon, one alert per account and two minutes
severity: medium
condition: event.category == "authentication" && event.outcome == "failure" && !user.name.startsWith("tail")
suppress: {by: [user.name], for: 2m}
`

// stagePartitions is the match topic's partition count in these tests (the default).
const stagePartitions = 12

// stageEvents makes n logon events of tenant, 200 ms of event time apart from base, for 12 accounts from 6 addresses:
// mostly failures, in runs per account, so brute forces start, grow and end all along.
func stageEvents(run, tenant string, base time.Time, n int) [][]byte {
	r := rand.New(rand.NewPCG(7, uint64(len(tenant))))
	out := make([][]byte, n)
	user := 0
	for i := range out {
		if r.IntN(4) == 0 {
			user = r.IntN(12)
		}
		outcome := "failure"
		if r.IntN(8) == 0 {
			outcome = "success"
		}
		out[i] = stageEvent(run, tenant, i, base.Add(time.Duration(i)*200*time.Millisecond), fmt.Sprint("user", user),
			fmt.Sprint("203.0.113.", r.IntN(6)), outcome)
	}
	return out
}

func stageEvent(run, tenant string, i int, at time.Time, user, ip, outcome string) []byte {
	b, _ := json.Marshal(map[string]any{"@timestamp": at.UTC().Format(time.RFC3339Nano),
		"event":  map[string]any{"id": fmt.Sprintf("%s-%s-%05d", run, tenant, i), "category": "authentication", "outcome": outcome},
		"user":   map[string]any{"name": user},
		"source": map[string]any{"ip": ip}})
	return b
}

// stageTails are, for each match-topic partition, a failed logon of an account whose records land there, an hour of
// event time after the run: every partition's watermark then passes every window of the run, as the end of the input
// does for replay. They raise nothing themselves (one failure each).
func stageTails(run, tenant string, at time.Time) [][]byte {
	var out [][]byte
	seen := map[int]bool{}
	for k := 0; len(seen) < stagePartitions; k++ {
		user := fmt.Sprint("tail", k)
		p := correlate.PartitionOf((&correlate.Record{Tenant: tenant, Group: []string{user}}).Key(), stagePartitions)
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, stageEvent(run, tenant, 90000+k, at, user, fmt.Sprint("192.0.2.", k), "failure"))
	}
	return out
}

// replayCorrelations runs `vigil replay` over each tenant's events and returns the last version of every alert
// written: id → "rule count", and id → the document.
func replayCorrelations(t *testing.T, bin, rulesDir string, byTenant map[string][][]byte) (map[string]string, map[string]json.RawMessage) {
	t.Helper()
	want, docs := map[string]string{}, map[string]json.RawMessage{}
	dir := t.TempDir()
	for tenant, events := range byTenant {
		in, out := filepath.Join(dir, tenant+".jsonl"), filepath.Join(dir, tenant+"-alerts.jsonl")
		writeFile(t, in, string(bytes.Join(events, []byte("\n")))+"\n")
		cmd := exec.Command(bin, "replay", "--rules", rulesDir, "--input", in, "--tenant", tenant, "--output", out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("vigil replay: %v\n%s", err, msg)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var doc alertSummary
			if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			want[doc.Vigil.Alert.ID] = doc.String()
			docs[doc.Vigil.Alert.ID] = slices.Clone(sc.Bytes())
		}
		f.Close()
	}
	return want, docs
}

// alertSummary is what the tests compare of an alert: its id, rule and correlation count.
type alertSummary struct {
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Vigil struct {
		Alert struct {
			ID string `json:"id"`
		} `json:"alert"`
		Correlation struct {
			Count int64 `json:"count"`
		} `json:"correlation"`
		Suppression struct {
			Count int64 `json:"count"`
		} `json:"suppression"`
	} `json:"vigil"`
}

func (a alertSummary) String() string {
	if a.Vigil.Suppression.Count > 0 {
		return fmt.Sprintf("%s suppressed %d", a.Rule.ID, a.Vigil.Suppression.Count)
	}
	return fmt.Sprintf("%s %d", a.Rule.ID, a.Vigil.Correlation.Count)
}

// indexedCorrelations refreshes the indices of prefix and returns their alerts: id → "rule count".
func indexedCorrelations(t *testing.T, url, prefix string) map[string]string {
	t.Helper()
	post := func(path, body string) []byte {
		for attempt := 0; ; attempt++ {
			res, err := http.Post(url+path, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			out.ReadFrom(res.Body)
			res.Body.Close()
			switch {
			case res.StatusCode == http.StatusNotFound:
				return nil
			case res.StatusCode == http.StatusServiceUnavailable && attempt < 20:
				time.Sleep(250 * time.Millisecond) // an index just created: its shard is not started yet
				continue
			case res.StatusCode != http.StatusOK:
				t.Fatalf("POST %s: %s: %s", path, res.Status, out.String())
			}
			return out.Bytes()
		}
	}
	post("/"+prefix+"-*/_refresh", "")
	body := post("/"+prefix+"-*/_search?allow_no_indices=true",
		`{"size":10000,"_source":["rule.id","vigil.alert.id","vigil.correlation.count","vigil.suppression.count"],"query":{"match_all":{}}}`)
	var res struct {
		Hits struct {
			Hits []struct {
				Source alertSummary `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if body != nil {
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatalf("search response: %v: %.300s", err, body)
		}
	}
	out := map[string]string{}
	for _, h := range res.Hits.Hits {
		out[h.Source.Vigil.Alert.ID] = h.Source.String()
	}
	return out
}

// diffAlerts describes how got differs from want, "" when they are equal.
func diffAlerts(got, want map[string]string) string {
	var missing, extra, wrong []string
	for id, w := range want {
		switch g, ok := got[id]; {
		case !ok:
			missing = append(missing, id+" "+w)
		case g != w:
			wrong = append(wrong, fmt.Sprintf("%s %s (want %s)", id, g, w))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id+" "+g)
		}
	}
	if len(missing)+len(extra)+len(wrong) == 0 {
		return ""
	}
	for _, l := range [][]string{missing, extra, wrong} {
		slices.Sort(l)
	}
	first := func(l []string) []string { return l[:min(len(l), 8)] }
	return fmt.Sprintf("%d missing %v, %d unexpected %v, %d with another count %v", len(missing), first(missing),
		len(extra), first(extra), len(wrong), first(wrong))
}

// committedAtEnd reports whether the group has committed the end of every non-empty partition of topic.
func committedAtEnd(t *testing.T, addr, group, topic string, partitions int) (bool, string) {
	t.Helper()
	committed := testenv.CommittedOffsets(t, addr, group, topic, partitions)
	_, desc := groupAtEnd(t, addr, group, topic, partitions)
	ends := partitionEndsOf(t, addr, topic, partitions)
	for p := range partitions {
		if ends[p] > 0 && committed[p] < ends[p] {
			return false, desc
		}
	}
	return true, desc
}

func partitionEndsOf(t *testing.T, addr, topic string, partitions int) []int64 {
	t.Helper()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	res, err := (&kafka.Client{Addr: kafka.TCP(addr)}).ListOffsets(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, partitions)
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.LastOffset
	}
	return out
}

// stageSetup is one test's topics, groups, index prefix, rules, events and the configuration of `vigil run`.
type stageSetup struct {
	addr, url, bin, dir, template, sourceGroup, stageGroup, matchTopic, prefix, rulesDir string
	topics                                                                               map[string]string // tenant → topic
	events, tails                                                                        map[string][][]byte
	want                                                                                 map[string]string
	// wantDocs are replay's documents; occurrences where each match's records are in the match topic (partition,
	// offset, time, the newest time of its tenant before it there), filled by matchCoverage: for the failure report.
	wantDocs    map[string]json.RawMessage
	occurrences map[string][]string
}

// config writes the configuration of one `vigil run`, serving /metrics on metricsAddr.
func (s *stageSetup) config(t *testing.T, metricsAddr string) string {
	path := filepath.Join(s.dir, "vigil-"+strings.ReplaceAll(metricsAddr, ":", "-")+".yaml")
	writeFile(t, path, s.template+fmt.Sprintf("metrics: {addr: %q}\n", metricsAddr))
	return path
}

// newStageSetup prepares a test of perTenant events per tenant, writing to the search engine of testenv's list at
// index engine (modulo their number: the tests share the engines out).
func newStageSetup(t *testing.T, perTenant, engine int) *stageSetup {
	addr := testenv.Kafka(t)
	engines := testenv.SearchEngines(t)
	e := engines[engine%len(engines)]
	t.Logf("search engine: %s at %s", e.Flavor, e.URL)
	s := &stageSetup{addr: addr, url: e.URL, bin: buildVigil(t),
		sourceGroup: testenv.UniqueName(t, "vigil-src-"), stageGroup: testenv.UniqueName(t, "vigil-corr-"),
		matchTopic: testenv.UniqueName(t, "vigil-matches-"), prefix: testenv.UniqueName(t, "vigil-corr-"),
		topics: map[string]string{}, events: map[string][][]byte{}, tails: map[string][][]byte{}}
	changelog := s.matchTopic + "-state"
	t.Cleanup(func() { deleteIndices(t, s.url, s.prefix) })
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "stage.yml"), stageRules)
	run := testenv.UniqueName(t, "")
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	all := map[string][][]byte{}
	var topicLines []string
	for _, tenant := range []string{"acme", "globex"} {
		// one partition per tenant: each tenant's matches reach every match partition in event-time order, as
		// replay reads them (see docs/operations.md on allowed_lateness)
		s.topics[tenant] = testenv.CreateTopic(t, addr, 1)
		topicLines = append(topicLines, fmt.Sprintf("{name: %s, tenant: %s}", s.topics[tenant], tenant))
		s.events[tenant] = stageEvents(run, tenant, base, perTenant)
		s.tails[tenant] = stageTails(run, tenant, base.Add(time.Duration(perTenant)*200*time.Millisecond+time.Hour))
		all[tenant] = append(slices.Clone(s.events[tenant]), s.tails[tenant]...)
	}
	for _, topic := range []string{s.matchTopic, changelog} {
		t.Cleanup(func() { removeTopic(addr, topic) })
	}
	s.want, s.wantDocs = replayCorrelations(t, s.bin, rulesDir, all)
	s.occurrences = map[string][]string{}
	rulesSeen := map[string]int{}
	for _, w := range s.want {
		rulesSeen[strings.Fields(w)[0]]++
	}
	if rulesSeen["t.brute"] < 20 || rulesSeen["t.spray"] < 5 || rulesSeen["t.brute_success"] < 5 || rulesSeen["t.fail_quiet"] < 20 {
		t.Fatalf("replay gives %v alerts per rule; the test needs many of each", rulesSeen)
	}
	t.Logf("replay: %d correlation alerts %v", len(s.want), rulesSeen)
	s.dir, s.rulesDir = dir, rulesDir
	s.template = fmt.Sprintf(`rules: {paths: [%s], watch: false}
tenants: [acme, globex]
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      topics: [%s]
      batch_size: 100
      session_timeout: 6s
      heartbeat_interval: 500ms
      rebalance_timeout: 10s
      revoke_timeout: 2s
sinks:
  - type: elasticsearch
    elasticsearch: {flavor: %s, urls: [%s], index_prefix: %s, replicas: 0, flush_interval: 5ms}
dead_letter: {type: file, path: %s/dead.jsonl}
correlate:
  allowed_lateness: 10s
  idle_timeout: 30m             # the tails, not the clock, close the last windows
  kafka: {}
  topic: %s
  changelog_topic: %s
  group_id: %s
  batch_size: 200
  session_timeout: 6s
  heartbeat_interval: 500ms
  rebalance_timeout: 10s
  revoke_timeout: 2s
log: {format: json}
`, rulesDir, addr, s.sourceGroup, strings.Join(topicLines, ", "), e.Flavor, e.URL, s.prefix, dir,
		s.matchTopic, changelog, s.stageGroup)
	return s
}

func removeTopic(addr, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = (&kafka.Client{Addr: kafka.TCP(addr)}).DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
}

// produce writes events [from, to) of every tenant to its topic.
func (s *stageSetup) produce(t *testing.T, from, to int) {
	t.Helper()
	for tenant, events := range s.events {
		var msgs []kafka.Message
		for _, raw := range events[min(from, len(events)):min(to, len(events))] {
			msgs = append(msgs, kafka.Message{Value: raw})
		}
		if len(msgs) > 0 {
			kafkaProduce(t, s.addr, s.topics[tenant], msgs)
		}
	}
}

// finish waits until detection has read everything, produces the tails, and waits until the stage has consumed
// everything and the index holds what replay gives; it fails with the difference after 150s. procs are the running
// instances by metrics address.
func (s *stageSetup) finish(t *testing.T, procs map[string]*vigilProc) {
	t.Helper()
	report := func() string {
		var b strings.Builder
		for addr, p := range procs {
			m := scrape(t, addr)
			fmt.Fprintf(&b, "--- vigil at %s: records %v, late %v, duplicates %v, consumed %v, restored %v; log:\n%s\n", addr,
				m["vigil_correlation_records_total"], m["vigil_correlation_late_records_total"],
				m["vigil_correlation_duplicate_records_total"], m["vigil_correlation_stage_records_total"],
				m["vigil_correlation_stage_restored_records_total"], p.log())
		}
		b.WriteString(s.matchCoverage(t))
		b.WriteString(s.compareDocs(t))
		return b.String()
	}
	deadline := time.Now().Add(150 * time.Second)
	for _, topic := range s.topics {
		for {
			ok, desc := committedAtEnd(t, s.addr, s.sourceGroup, topic, 1)
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("detection did not reach the end of %s: %s; %s", topic, desc, report())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for tenant, tails := range s.tails {
		var msgs []kafka.Message
		for _, raw := range tails {
			msgs = append(msgs, kafka.Message{Value: raw})
		}
		kafkaProduce(t, s.addr, s.topics[tenant], msgs)
	}
	for {
		atEnd, desc := committedAtEnd(t, s.addr, s.stageGroup, s.matchTopic, stagePartitions)
		diff := diffAlerts(indexedCorrelations(t, s.url, s.prefix), s.want)
		if atEnd && diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 150s: stage offsets %s (at end: %v); index against replay: %s; %s", desc, atEnd, diff, report())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// compareDocs shows, for alerts whose count differs from replay's, the window and the contributing alerts missing.
func (s *stageSetup) compareDocs(t *testing.T) string {
	got := indexedCorrelations(t, s.url, s.prefix)
	var b strings.Builder
	n := 0
	for id, w := range s.want {
		if got[id] == w || got[id] == "" || n >= 4 {
			continue
		}
		n++
		res, err := http.Post(s.url+"/"+s.prefix+"-*/_search", "application/json",
			strings.NewReader(`{"query":{"term":{"vigil.alert.id":"`+id+`"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Hits struct {
				Hits []struct {
					Source map[string]any `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		var want map[string]any
		json.Unmarshal(s.wantDocs[id], &want)
		corr := func(doc map[string]any) map[string]any {
			v, _ := doc["vigil"].(map[string]any)
			c, _ := v["correlation"].(map[string]any)
			return c
		}
		wc := corr(want)
		if len(out.Hits.Hits) == 0 {
			continue
		}
		gc := corr(out.Hits.Hits[0].Source)
		have := map[any]bool{}
		for _, a := range gc["alerts"].([]any) {
			have[a] = true
		}
		var missing []any
		for _, a := range wc["alerts"].([]any) {
			if !have[a] {
				missing = append(missing, a)
			}
		}
		fmt.Fprintf(&b, "alert %s: index count %v window %v group %v, replay count %v window %v; contributing alerts missing: %v\n",
			id, gc["count"], gc["window"], gc["group"], wc["count"], wc["window"], missing)
		for _, m := range missing {
			fmt.Fprintf(&b, "  %v in the match topic: %v\n", m, s.occurrences[m.(string)])
		}
	}
	return b.String()
}

// matchCoverage says which match records the events give (detection as replay does it) are not in the match topic.
func (s *stageSetup) matchCoverage(t *testing.T) string {
	env, err := newRuleEnv()
	if err != nil {
		t.Fatal(err)
	}
	set, err := env.LoadSet(s.rulesDir)
	if err != nil {
		t.Fatal(err)
	}
	det, ce := rules.NewEngine(set), correlate.New(set, correlate.Config{})
	want := map[string]time.Time{}
	for tenant, events := range s.events {
		for _, raw := range append(slices.Clone(events), s.tails[tenant]...) {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			ev, err := rules.TestEvent(m, tenant)
			if err != nil {
				t.Fatal(err)
			}
			var recs []correlate.Record
			for _, a := range det.Detect(ev, nil) {
				recs = ce.Records(a, recs)
			}
			for _, r := range recs {
				want[r.Rule+"/"+r.AlertID] = r.Time
			}
		}
	}
	got := map[string]int{}
	newest := map[string]time.Time{} // partition/tenant → newest record time so far
	for p := range stagePartitions {
		conn, err := kafka.DialLeader(t.Context(), "tcp", s.addr, s.matchTopic, p)
		if err != nil {
			t.Fatal(err)
		}
		_, end, _ := conn.ReadOffsets()
		for off, prev := int64(0), int64(-1); off < end && off != prev; {
			prev = off
			conn.Seek(off, kafka.SeekAbsolute)
			batch := conn.ReadBatch(1, 16<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				var r correlate.Record
				if r.UnmarshalBinary(m.Value) == nil {
					got[r.Rule+"/"+r.AlertID]++
					k := fmt.Sprint(p, "/", r.Tenant)
					s.occurrences[r.AlertID] = append(s.occurrences[r.AlertID], fmt.Sprintf("%s p%d@%d %s (newest before %s, written %s)",
						r.Rule, p, m.Offset, r.Time.Format("15:04:05.0"), newest[k].Format("15:04:05.0"), m.Time.Format("15:04:05.000")))
					if r.Time.After(newest[k]) {
						newest[k] = r.Time
					}
				}
				off = m.Offset + 1
			}
			batch.Close()
		}
		conn.Close()
	}
	var missing []string
	for k, at := range want {
		if got[k] == 0 {
			missing = append(missing, at.Format("15:04:05.000")+" "+k)
		}
	}
	slices.Sort(missing)
	return fmt.Sprintf("match topic: %d distinct records of the %d the events give, %d missing %v\n", len(got), len(want),
		len(missing), missing[:min(len(missing), 20)])
}

// restoredGroups returns the groups restored per "partition restored" log line of p.
func restoredGroups(t *testing.T, p *vigilProc) []int {
	var out []int
	for _, line := range strings.Split(p.log(), "\n") {
		var rec struct {
			Msg    string `json:"msg"`
			Groups int    `json:"groups"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "correlation stage: partition restored" {
			out = append(out, rec.Groups)
		}
	}
	return out
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// TestIntegrationCorrelationStageKill kills `vigil run` (detection and correlation stage) with SIGKILL while brute
// forces are open and growing, produces the rest of the events, and starts it again: it restores the windows from the
// changelog, and the correlation alerts in the search engine (ids and final counts) are those of `vigil replay` over
// the same events.
func TestIntegrationCorrelationStageKill(t *testing.T) {
	const perTenant = 3000
	s := newStageSetup(t, perTenant, 0)
	s.produce(t, 0, perTenant*2/5)
	metrics := freeAddr(t)
	first := startVigil(t, s.bin, s.config(t, metrics))
	next := perTenant * 2 / 5
	for deadline := time.Now().Add(120 * time.Second); ; {
		got := indexedCorrelations(t, s.url, s.prefix)
		if len(got) >= len(s.want)/4 && next >= perTenant*7/10 {
			if diffAlerts(got, s.want) == "" {
				t.Fatalf("the first run wrote every alert before it could be killed")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first run: %d of %d correlation alerts in 120s; log:\n%s", len(got), len(s.want), first.log())
		}
		if next < perTenant*9/10 {
			s.produce(t, next, next+100)
			next += 100
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := first.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("the first run exited by itself")
	}
	atKill := indexedCorrelations(t, s.url, s.prefix)
	t.Logf("killed after %d of %d events per tenant were produced, with %d of %d correlation alerts in the index (%s)",
		next, perTenant, len(atKill), len(s.want), diffAlerts(atKill, s.want))
	s.produce(t, next, perTenant)

	second := startVigil(t, s.bin, s.config(t, metrics))
	s.finish(t, map[string]*vigilProc{metrics: second})
	if restored := restoredGroups(t, second); sum(restored) == 0 {
		t.Errorf("the second run restored no group from the changelog (%v); log:\n%s", restored, second.log())
	} else {
		t.Logf("the second run restored %d groups over %d partitions", sum(restored), len(restored))
	}
	m := scrape(t, metrics)
	var lagSeries int
	for k := range m {
		if strings.HasPrefix(k, "vigil_correlation_watermark_lag_seconds{") {
			lagSeries++
		}
	}
	if lagSeries != stagePartitions || m["vigil_correlation_stage_restored_records_total"] == 0 ||
		m["vigil_correlation_stage_records_total"] == 0 || m["vigil_correlation_checkpoint_seconds_count"] == 0 {
		t.Errorf("/metrics: %d watermark lag series (want %d), restored records %v, records %v, checkpoints %v; want all > 0",
			lagSeries, stagePartitions, m["vigil_correlation_stage_restored_records_total"],
			m["vigil_correlation_stage_records_total"], m["vigil_correlation_checkpoint_seconds_count"])
	}
	if res, err := http.Get("http://" + metrics + "/readyz"); err != nil || res.StatusCode != 200 {
		t.Errorf("/readyz after the restore: %v %v, want 200", res, err)
	} else {
		res.Body.Close()
	}
	if err := second.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("second run exited with %v after SIGTERM; log:\n%s", err, second.log())
	}
	t.Logf("the index holds the %d correlation alerts of replay, with their final counts", len(s.want))
}

// TestIntegrationCorrelationStageRebalance starts a second `vigil run` in the same consumer groups in the middle of
// a run: match partitions move to it with their state, restored from the changelog, and the correlation alerts in
// the search engine are those of `vigil replay` over the same events.
func TestIntegrationCorrelationStageRebalance(t *testing.T) {
	const perTenant = 3000
	s := newStageSetup(t, perTenant, 1)
	s.produce(t, 0, perTenant*3/10)
	metricsA, metricsB := freeAddr(t), freeAddr(t)
	first := startVigil(t, s.bin, s.config(t, metricsA))
	next := perTenant * 3 / 10
	var second *vigilProc
	for deadline := time.Now().Add(150 * time.Second); next < perTenant; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("producing took more than 150s; log:\n%s", first.log())
		}
		if second == nil && len(indexedCorrelations(t, s.url, s.prefix)) >= len(s.want)/6 {
			second = startVigil(t, s.bin, s.config(t, metricsB))
			waitForLog(t, second, `"msg":"correlation stage: partition restored"`)
		}
		if second != nil || next < perTenant/2 {
			s.produce(t, next, next+100)
			next += 100
		}
	}
	if second == nil {
		t.Fatalf("no correlation alert in the index before the end of the input; log:\n%s", first.log())
	}
	s.finish(t, map[string]*vigilProc{metricsA: first, metricsB: second})
	if restored := restoredGroups(t, second); sum(restored) == 0 {
		t.Errorf("the second instance restored no group: the partitions it took over came without their state (%v); log:\n%s",
			restored, second.log())
	} else {
		t.Logf("the second instance restored %d groups over %d partitions", sum(restored), len(restored))
	}
	for i, p := range []*vigilProc{second, first} {
		if err := p.stop(t, syscall.SIGTERM); err != nil {
			t.Errorf("instance %d exited with %v after SIGTERM; log:\n%s", 2-i, err, p.log())
		}
	}
	t.Logf("the index holds the %d correlation alerts of replay, with their final counts", len(s.want))
}
