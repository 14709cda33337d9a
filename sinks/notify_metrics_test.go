package sinks

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNotifyMetrics(t *testing.T) {
	rv := newReceiver(t)
	rv.set("fail", 2)
	n := openNotify(t, t.TempDir(), nil, testRoute(rv, "ops"))
	reg := prometheus.NewRegistry()
	reg.MustRegister(n.Collector("notify"))
	v1 := notifyAlert("m1", "acme", "high")
	v1.Update = true
	writeNotify(t, n, v1)
	writeNotify(t, n, v1) // a rewrite
	rv.waitDeliveries(t, 1)
	waitUntil(t, "an empty queue", func() bool { return n.Waiting("ops") == 0 })
	want := map[string]float64{"vigil_notify_queued_total": 1, "vigil_notify_sent_total": 1,
		"vigil_notify_failed_attempts_total": 2, "vigil_notify_skipped_total": 1, "vigil_notify_queue_length": 0,
		"vigil_notify_rejected_total": 0, "vigil_notify_possible_duplicates_total": 0}
	got := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] != "ops" || labels["sink"] != "notify" {
				t.Errorf("%s: got labels %v, want route ops and sink notify", f.GetName(), labels)
			}
			got[f.GetName()+labels["reason"]] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s: got %v, want %v", name, got[name], v)
		}
	}
	if got["vigil_notify_dropped_totalqueue_full"] != 0 || len(got) != len(want)+len(dropReasons) {
		t.Errorf("got metrics %v, want %d of them", got, len(want)+len(dropReasons))
	}
}
