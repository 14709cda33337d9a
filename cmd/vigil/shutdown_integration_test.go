//go:build integration

package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/testenv"
)

// alertOffsets reads, per partition, how many alerts each record's offset produced.
func alertOffsets(t *testing.T, path string, partitions int) []map[int64]int {
	t.Helper()
	out := make([]map[int64]int, partitions)
	for i := range out {
		out[i] = map[int64]int{}
	}
	for _, doc := range readAlertDocs(t, path) {
		origin := doc["vigil"].(map[string]any)["alert"].(map[string]any)["origin"].(map[string]any)
		out[int(origin["partition"].(float64))][int64(origin["offset"].(float64))]++
	}
	return out
}

// TestIntegrationKafkaSIGTERM stops `vigil run` with SIGTERM in the middle of a run against the real broker, while
// records are still arriving: it exits 0, the offsets it committed are exactly the records it wrote alerts for (every
// record of a partition below the committed offset, none above), and a restart continues from there: in the end
// every record has exactly one alert, none twice. While it runs, /readyz and /metrics answer with the Kafka state.
func TestIntegrationKafkaSIGTERM(t *testing.T) {
	addr := testenv.Kafka(t)
	const total, partitions = 12000, 3
	topic := testenv.CreateTopic(t, addr, partitions)
	group := testenv.UniqueName(t, "vigil-sigterm-")
	run := testenv.UniqueName(t, "")
	bin := buildVigil(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rule.yml"), "id: test.every_event\nname: Every event\nseverity: low\ncondition: has(event.id)\n")
	msgs := make([]kafka.Message, total)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i)),
			Value: []byte(fmt.Sprintf(`{"event":{"id":"%s-%05d","category":"network"},"seq":%d}`, run, i, i))}
	}
	alerts := filepath.Join(dir, "alerts.jsonl")
	metricsAddr := freeAddr(t)
	config := filepath.Join(dir, "vigil.yaml")
	writeFile(t, config, fmt.Sprintf(`rules: {paths: [%s/rule.yml]}
sources:
  - name: partners
    type: kafka
    kafka:
      brokers: [%s]
      group_id: %s
      topics: [{name: %s, tenant: acme}]
      batch_size: 100
      session_timeout: 6s
      heartbeat_interval: 500ms
      rebalance_timeout: 10s
      revoke_timeout: 2s
      lag_interval: 1s
sinks: [{type: file, file: {path: %s}}]
dead_letter: {type: file, path: %s/dead.jsonl}
pipeline: {max_in_flight: 4, shutdown_timeout: 20s}
metrics: {addr: "%s"}
log: {format: json}
`, dir, addr, group, topic, alerts, dir, metricsAddr))

	// First run: a third of the records at the start, more while it runs; SIGTERM once it has written a fifth of
	// the alerts, right after another 1500 records arrived.
	kafkaProduce(t, addr, topic, msgs[:total/3])
	first := startVigil(t, bin, config)
	var ready string
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get("http://" + metricsAddr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if ready = string(body); res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-first.done:
			t.Fatalf("vigil exited (%v) before it was ready; log:\n%s", err, first.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after 90s (consumer group joined):\n%s\nlog:\n%s", ready, first.log())
		}
	}
	next := total / 3
	for deadline := time.Now().Add(90 * time.Second); ; {
		ids, _, _ := alertFile(t, alerts)
		if len(ids) >= total/5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first run wrote %d alerts in 90s; log:\n%s", len(ids), first.log())
		}
		if next < total/2 {
			kafkaProduce(t, addr, topic, msgs[next:next+300])
			next += 300
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	m := scrape(t, metricsAddr)
	kafkaProduce(t, addr, topic, msgs[next:next+1500]) // records still arriving when the signal comes
	next += 1500
	if err := first.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("first run exited with %v after SIGTERM; log:\n%s", err, first.log())
	}
	var lagSeries int
	for k := range m {
		if strings.HasPrefix(k, "vigil_kafka_consumer_lag{") && strings.Contains(k, `topic="`+topic+`"`) {
			lagSeries++
		}
	}
	if lagSeries != partitions {
		t.Errorf("/metrics has consumer lag for %d partitions, want %d", lagSeries, partitions)
	}
	if m[`vigil_events_read_total{source="partners",tenant="acme"}`] == 0 || m[`vigil_kafka_commits_total{source="partners"}`] == 0 {
		t.Errorf("/metrics during the run: events read %v, commits %v; want both > 0",
			m[`vigil_events_read_total{source="partners",tenant="acme"}`], m[`vigil_kafka_commits_total{source="partners"}`])
	}
	if !strings.Contains(first.log(), `"msg":"vigil stopped: every batch read was written and acknowledged"`) {
		t.Errorf("the first run did not report a clean stop; log:\n%s", first.log())
	}

	committed := testenv.CommittedOffsets(t, addr, group, topic, partitions)
	byPartition := alertOffsets(t, alerts, partitions)
	var processed int64
	for p := range partitions {
		end := max(committed[p], 0)
		processed += end
		var beyond, dup []int64
		for off, n := range byPartition[p] {
			if off >= end {
				beyond = append(beyond, off)
			}
			if n > 1 {
				dup = append(dup, off)
			}
		}
		sort.Slice(beyond, func(i, j int) bool { return beyond[i] < beyond[j] })
		if len(beyond) > 0 || len(dup) > 0 || int64(len(byPartition[p])) != end {
			t.Errorf("partition %d: committed %d; alerts for %d records, %d of them at or after the committed offset "+
				"(first %v), %d written twice; want alerts for exactly the %d records before it, once each",
				p, committed[p], len(byPartition[p]), len(beyond), beyond[:min(len(beyond), 5)], len(dup), end)
		}
	}
	if processed == 0 || processed >= int64(next) {
		t.Fatalf("committed %d of the %d records produced: the SIGTERM did not come in the middle of the run", processed, next)
	}
	t.Logf("SIGTERM after %d of %d produced records; committed %v", processed, next, committed)

	// Second run: the rest of the records, then to the end.
	kafkaProduce(t, addr, topic, msgs[next:])
	second := startVigil(t, bin, config)
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		ids, _, _ := alertFile(t, alerts)
		atEnd, desc := groupAtEnd(t, addr, group, topic, partitions)
		if atEnd && len(ids) >= total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second run: %d of %d alerts, %s after 120s; log:\n%s", len(ids), total, desc, second.log())
		}
	}
	if err := second.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("second run exited with %v after SIGTERM; log:\n%s", err, second.log())
	}
	ids, _, cut := alertFile(t, alerts)
	twice := 0
	for _, n := range ids {
		if n > 1 {
			twice++
		}
	}
	if len(ids) != total || twice > 0 || cut > 0 {
		t.Errorf("after the restart: alerts for %d records (want %d), %d written twice (want 0), %d cut lines",
			len(ids), total, twice, cut)
	}
}
