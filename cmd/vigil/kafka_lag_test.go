package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil/ingest"
)

// TestKafkaLagLogLine: partitions whose lag is unknown (right after a rebalance) show "?" and stay out of the
// total; with none known there is no total at all, rather than a total of 0.
func TestKafkaLagLogLine(t *testing.T) {
	tests := []struct {
		name string
		lags []ingest.PartitionLag
		want string
	}{
		{"all known", []ingest.PartitionLag{{Topic: "t", Partition: 0, Lag: 5}, {Topic: "t", Partition: 1, Lag: 0}},
			`msg="kafka consumer lag" total=5 partitions="t/0=5 t/1=0"`},
		{"some unknown", []ingest.PartitionLag{{Topic: "t", Partition: 0, Lag: 5}, {Topic: "t", Partition: 1, Lag: -1}},
			`msg="kafka consumer lag" total=5 unknown=1 partitions="t/0=5 t/1=?"`},
		{"none known", []ingest.PartitionLag{{Topic: "t", Partition: 0, Lag: -1}, {Topic: "u", Partition: 2, Lag: -1}},
			`msg="kafka consumer lag" unknown=2 partitions="t/0=? u/2=?"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return a
			}}))
			log.Info("kafka consumer lag", kafkaLagAttrs(tc.lags)...)
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if attrs := kafkaLagAttrs(nil); attrs != nil {
		t.Errorf("no partitions: got %v, want no line", attrs)
	}
}
