package sinks

import (
	"fmt"
	"testing"
)

// BenchmarkNotifyWrite measures queueing a batch of 100 alerts for one route (a synced file each); the webhook
// hangs, so only the queueing is measured. Its cost is the disk's fsync: 0.5-1 ms per alert and route on the virtual disk it was measured on.
func BenchmarkNotifyWrite(b *testing.B) {
	rv := newReceiver(b)
	rv.set("hang", 0)
	n, err := NewNotify(NotifyConfig{Dir: b.TempDir(), MaxQueued: 1 << 30, Routes: []NotifyRoute{testRoute(rv, "ops")}}, NotifyOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	b.ResetTimer()
	for i := range b.N {
		if err := n.Write(b.Context(), notifyAlerts(fmt.Sprintf("b%d-", i), 100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/alert")
}
