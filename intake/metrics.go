package intake

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are intake's Prometheus metrics, labelled by tenant ("unknown" before authentication) and route
// (hec/event, hec/raw, bulk, ndjson, syslog/NAME).
type metrics struct {
	requests   *prometheus.CounterVec
	events     *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	rejections *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	conns      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	tr := []string{"tenant", "route"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_intake_requests_total",
			Help: "HTTP requests answered, by tenant, route and status code."}, append(tr, "code")),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_intake_events_total",
			Help: "Records acknowledged by Kafka, by tenant and route."}, tr),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_intake_bytes_total",
			Help: "Bytes of the records acknowledged by Kafka (values, decompressed), by tenant and route."}, tr),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_intake_rejections_total",
			Help: "Requests, records and connections refused, by tenant, route and reason (auth, quota_events, " +
				"quota_bytes, quota_concurrency, body_too_large, gzip, invalid, kafka, ...)."}, append(tr, "reason")),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_intake_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer (Kafka's acknowledgement included), by tenant and route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, tr),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_intake_syslog_connections",
			Help: "Open syslog connections, by listener."}, []string{"listener"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.events, m.bytes, m.rejections, m.latency, m.conns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// answered counts a finished HTTP request.
func (m *metrics) answered(tenant, route string, code int, start time.Time) {
	if tenant == "" {
		tenant = "unknown"
	}
	m.requests.WithLabelValues(tenant, route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(tenant, route).Observe(time.Since(start).Seconds())
}

// accepted counts records acknowledged by Kafka.
func (m *metrics) accepted(tenant, route string, events, bytes int) {
	m.events.WithLabelValues(tenant, route).Add(float64(events))
	m.bytes.WithLabelValues(tenant, route).Add(float64(bytes))
}

// rejected counts n refusals for a reason.
func (m *metrics) rejected(tenant, route, reason string, n int) {
	if tenant == "" {
		tenant = "unknown"
	}
	m.rejections.WithLabelValues(tenant, route, reason).Add(float64(n))
}
