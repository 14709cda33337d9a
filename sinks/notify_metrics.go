package sinks

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// NotifyRouteStats count one route's notifications; safe to read while the sink runs.
type NotifyRouteStats struct {
	Queued         atomic.Int64 // notifications accepted into the route's queue
	Sent           atomic.Int64 // notifications the webhook took (2xx)
	Duplicates     atomic.Int64 // of Sent, those marked as possible duplicates
	FailedAttempts atomic.Int64 // requests that failed and were retried
	Rejected       atomic.Int64 // notifications given up: the webhook rejected the message (400, 413, 422)
	Skipped        atomic.Int64 // alerts not notified again: a later version, or a replay, of a notified alert

	dropped [len(dropReasons)]atomic.Int64 // notifications not queued, by reason
}

// dropReasons are why a notification may not be queued: its route's queue is full, the queue's disk failed, or the
// alert cannot be encoded as JSON.
var dropReasons = [...]string{"queue_full", "disk", "encode"}

// addDropped counts a dropped notification and returns the count for its reason.
func (s *NotifyRouteStats) addDropped(reason string) int64 {
	for i, r := range dropReasons {
		if r == reason {
			return s.dropped[i].Add(1)
		}
	}
	return 0
}

// Dropped returns the notifications dropped for a reason: "queue_full", "disk" or "encode".
func (s *NotifyRouteStats) Dropped(reason string) int64 {
	for i, r := range dropReasons {
		if r == reason {
			return s.dropped[i].Load()
		}
	}
	return 0
}

// RouteStats returns a route's counters, nil for an unknown route.
func (n *Notify) RouteStats(route string) *NotifyRouteStats {
	if r := n.route(route); r != nil {
		return &r.stats
	}
	return nil
}

// Waiting returns how many notifications a route's queue holds now, the one being sent included.
func (n *Notify) Waiting(route string) int {
	if r := n.route(route); r != nil {
		return r.queue.len()
	}
	return 0
}

func (n *Notify) route(name string) *notifyRoute {
	for _, r := range n.routes {
		if r.cfg.Name == name {
			return r
		}
	}
	return nil
}

// Collector exports the sink's metrics by route (docs/notifications.md), labelled sink=label.
func (n *Notify) Collector(label string) prometheus.Collector {
	c := &notifyCollector{n: n}
	sink := prometheus.Labels{"sink": label}
	route := []string{"route"}
	for _, m := range [][2]string{
		{"queued_total", "Notifications accepted into the route's durable queue."},
		{"sent_total", "Notifications the webhook took (2xx)."},
		{"possible_duplicates_total", "Notifications sent marked as possible duplicates (an earlier attempt may have arrived)."},
		{"failed_attempts_total", "Webhook requests that failed (connection, timeout, 429, 5xx, ...) and were retried."},
		{"rejected_total", "Notifications given up because the webhook rejected the message (400, 413, 422)."},
		{"skipped_total", "Alerts not notified again: later versions of an alert already notified, and replays."},
	} {
		c.counters = append(c.counters, prometheus.NewDesc("vigil_notify_"+m[0], m[1], route, sink))
	}
	c.waiting = prometheus.NewDesc("vigil_notify_queue_length", "Notifications waiting in the route's queue.", route, sink)
	c.dropped = prometheus.NewDesc("vigil_notify_dropped_total",
		"Notifications not queued, by reason: queue_full (max_queued reached), disk (the queue could not be written), encode.",
		[]string{"route", "reason"}, sink)
	return c
}

type notifyCollector struct {
	n                *Notify
	counters         []*prometheus.Desc
	waiting, dropped *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *notifyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.counters {
		ch <- d
	}
	ch <- c.waiting
	ch <- c.dropped
}

// Collect implements prometheus.Collector.
func (c *notifyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.n.routes {
		st, name := &r.stats, r.cfg.Name
		for i, v := range []int64{st.Queued.Load(), st.Sent.Load(), st.Duplicates.Load(), st.FailedAttempts.Load(),
			st.Rejected.Load(), st.Skipped.Load()} {
			ch <- prometheus.MustNewConstMetric(c.counters[i], prometheus.CounterValue, float64(v), name)
		}
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(r.queue.len()), name)
		for i, reason := range dropReasons {
			ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.dropped[i].Load()), name, reason)
		}
	}
}
