package main

import (
	"fmt"
	"strings"

	"github.com/vigilsoc/vigil/ingest"
)

// kafkaLagAttrs are the attributes of the "kafka consumer lag" log line: every owned partition as topic/partition=lag
// ("?" while its lag is unknown, right after a rebalance), the total of the partitions whose lag is known, and how
// many are unknown. Nothing when the member owns no partition.
func kafkaLagAttrs(lags []ingest.PartitionLag) []any {
	if len(lags) == 0 {
		return nil
	}
	var total int64
	unknown := 0
	parts := make([]string, len(lags))
	for i, l := range lags {
		if l.Lag < 0 {
			unknown++
			parts[i] = fmt.Sprintf("%s/%d=?", l.Topic, l.Partition)
			continue
		}
		total += l.Lag
		parts[i] = fmt.Sprintf("%s/%d=%d", l.Topic, l.Partition, l.Lag)
	}
	attrs := make([]any, 0, 6)
	if unknown < len(lags) {
		attrs = append(attrs, "total", total)
	}
	if unknown > 0 {
		attrs = append(attrs, "unknown", unknown)
	}
	return append(attrs, "partitions", strings.Join(parts, " "))
}
