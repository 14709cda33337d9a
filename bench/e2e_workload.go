package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigilsoc/vigil/rules"
)

// The end-to-end benchmark (`vigil bench e2e`, docs/benchmarks.md) runs one seeded workload through the real broker,
// the real `vigil run` and the real search engines. This file makes the workload: the events, their tenants and
// partitions, and the rule sets of its two alert rates; e2e_parts.go measures the parts alone, e2e_proc.go reads the
// processes' CPU and memory.

// Alert rates of the end-to-end workload.
const (
	// RateRealistic is about 1% of events raising an alert: 500 generated rules over the generated events.
	RateRealistic = "realistic"
	// RateStorm is an alert storm of about 20%: the same rules and two noisy ones a SOC would tune away (every
	// failed authentication, every connection leaving 10.0.0.0/8).
	RateStorm = "storm"
)

// e2eRules is the generated rule count of both rule sets; with Events it gives about one alert per 100 events.
const e2eRules = 500

// E2ERules returns the rule set of an alert rate.
func E2ERules(rate string) ([]*rules.Rule, error) {
	rs := Rules(e2eRules, 2)
	switch rate {
	case RateRealistic:
		return rs, nil
	case RateStorm:
		noisy := []struct{ id, cond string }{
			{"bench.storm.auth_failure", `event.category == "authentication" && event.outcome == "failure"`},
			{"bench.storm.external_connection", `event.category == "network" && !cidr("10.0.0.0/8").containsIP(destination.ip)`},
		}
		for _, n := range noisy {
			rs = append(rs, &rules.Rule{ID: n.id, Name: "Noisy rule " + n.id, Severity: "low", Condition: n.cond,
				Tags: []string{"bench"}})
		}
		return rs, nil
	}
	return nil, fmt.Errorf("bench: unknown alert rate %q (want %s or %s)", rate, RateRealistic, RateStorm)
}

// RuleFile writes rules as one YAML rule file (documents separated by ---), as `vigil run` and `vigil replay` read it.
func RuleFile(rs []*rules.Rule) []byte {
	var b bytes.Buffer
	for i, r := range rs {
		if i > 0 {
			b.WriteString("---\n")
		}
		// JSON strings are YAML double-quoted scalars.
		fmt.Fprintf(&b, "id: %s\nname: %s\nseverity: %s\ntags: [bench]\ncondition: %s\n", r.ID, quote(r.Name), r.Severity,
			quote(r.Condition))
	}
	return b.Bytes()
}

// E2EWorkload is the end-to-end benchmark's input: generated ECS events, each of one tenant (record i belongs to
// Tenants[i % len(Tenants)]), produced round-robin over the partitions of one multi-tenant topic whose tenant header
// names each record's tenant.
type E2EWorkload struct {
	Events  [][]byte
	Tenants []string
}

// NewE2EWorkload generates n events (seeded; the first at base, one second apart) over the given number of tenants,
// named tenant00, tenant01...
func NewE2EWorkload(n, tenants int, seed uint64, base time.Time) E2EWorkload {
	w := E2EWorkload{Events: EventsFrom(n, seed, base)}
	for i := range max(tenants, 1) {
		w.Tenants = append(w.Tenants, fmt.Sprintf("tenant%02d", i))
	}
	return w
}

// Tenant is the tenant of event i.
func (w E2EWorkload) Tenant(i int) string { return w.Tenants[i%len(w.Tenants)] }

// ByTenant returns each tenant's events, one JSON object per line, in the order they are produced.
func (w E2EWorkload) ByTenant() map[string][]byte {
	out := map[string][]byte{}
	for i, ev := range w.Events {
		t := w.Tenant(i)
		out[t] = append(append(out[t], ev...), '\n')
	}
	return out
}

// CreateTopic creates topic with the given partitions on the broker at addr and waits until each has a leader.
func CreateTopic(ctx context.Context, addr, topic string, partitions int) error {
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 30 * time.Second}
	res, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}}})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if err := res.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) == partitions {
			ready := true
			for _, p := range md.Topics[0].Partitions {
				ready = ready && p.Error == nil && p.Leader.Host != ""
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: partitions without a leader: %w", topic, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DeleteTopic deletes a topic; errors are returned for the caller to report.
func DeleteTopic(ctx context.Context, addr, topic string) error {
	c := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 30 * time.Second}
	res, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	return res.Errors[topic]
}

// Produce writes the workload's records into topic (created beforehand), round-robin over its partitions, with
// acks=all, and returns how long it took.
func (w E2EWorkload) Produce(ctx context.Context, addr, topic, tenantHeader string) (time.Duration, error) {
	wr := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.RoundRobin{}, BatchSize: 1000,
		BatchBytes: 4 << 20, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll,
		Compression: kafka.Lz4}
	defer wr.Close()
	start := time.Now()
	const chunk = 5000
	msgs := make([]kafka.Message, 0, chunk)
	for i := 0; i < len(w.Events); i += chunk {
		msgs = msgs[:0]
		for j := i; j < min(i+chunk, len(w.Events)); j++ {
			msgs = append(msgs, kafka.Message{Value: w.Events[j],
				Headers: []kafka.Header{{Key: tenantHeader, Value: []byte(w.Tenant(j))}}})
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			return 0, fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	return time.Since(start), nil
}
