package intake

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// QuotasConfig sets the per-tenant quotas.
type QuotasConfig struct {
	// Default applies to every tenant not listed in Tenants.
	Default Quota `yaml:"default"`
	// Tenants overrides the default for named tenants; a field left at 0 takes the default's.
	Tenants map[string]Quota `yaml:"tenants"`
}

// Quota is one tenant's allowance. Events and bytes are token buckets: they refill at the rate and hold up to
// Burst seconds of it. A request larger than the whole bucket passes when the bucket is full (and empties it), so a
// request within the limits can always pass eventually.
type Quota struct {
	// EventsPerSecond is the sustained event rate. Default 20,000.
	EventsPerSecond float64 `yaml:"events_per_second"`
	// BytesPerSecond is the sustained rate of (decompressed) bytes. Default 20 MiB/s.
	BytesPerSecond float64 `yaml:"bytes_per_second"`
	// Burst is how many seconds of the rates a tenant may send at once after a quiet period. Default 2.
	Burst float64 `yaml:"burst_seconds"`
	// MaxConcurrent caps the tenant's requests in progress (HTTP) and open connections (syslog). Default 64.
	MaxConcurrent int `yaml:"max_concurrent"`
}

func (q *QuotasConfig) setDefaults() {
	q.Default.fill(Quota{EventsPerSecond: 20000, BytesPerSecond: 20 << 20, Burst: 2, MaxConcurrent: 64})
	for t, tq := range q.Tenants {
		tq.fill(q.Default)
		q.Tenants[t] = tq
	}
}

func (q *Quota) fill(d Quota) {
	if q.EventsPerSecond <= 0 {
		q.EventsPerSecond = d.EventsPerSecond
	}
	if q.BytesPerSecond <= 0 {
		q.BytesPerSecond = d.BytesPerSecond
	}
	if q.Burst <= 0 {
		q.Burst = d.Burst
	}
	if q.MaxConcurrent <= 0 {
		q.MaxConcurrent = d.MaxConcurrent
	}
}

func (q *QuotasConfig) validate() []error {
	var errs []error
	for t := range q.Tenants {
		if t == "" {
			errs = append(errs, errors.New("quotas.tenants: empty tenant name"))
		}
	}
	return errs
}

// Reasons a request is refused over quota; they label the rejection metric.
const (
	reasonRate        = "quota_events"
	reasonBytes       = "quota_bytes"
	reasonConcurrency = "quota_concurrency"
)

// errQuota is a refusal over quota; RetryAfter says when the tenant may try again.
type errQuota struct {
	reason     string
	retryAfter time.Duration
	detail     string
}

func (e *errQuota) Error() string { return e.detail }

// retryAfterSeconds is the Retry-After header's value: whole seconds, at least 1.
func (e *errQuota) retryAfterSeconds() int {
	return max(1, int(math.Ceil(e.retryAfter.Seconds())))
}

// quotas holds every tenant's buckets, created on first use. Safe for concurrent use.
type quotas struct {
	cfg     QuotasConfig
	mu      sync.Mutex
	tenants map[string]*tenantQuota
}

type tenantQuota struct {
	events, bytes *rate.Limiter
	slots         chan struct{}
	q             Quota
}

func newQuotas(cfg QuotasConfig) *quotas {
	return &quotas{cfg: cfg, tenants: map[string]*tenantQuota{}}
}

func (qs *quotas) get(tenant string) *tenantQuota {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if t, ok := qs.tenants[tenant]; ok {
		return t
	}
	q, ok := qs.cfg.Tenants[tenant]
	if !ok {
		q = qs.cfg.Default
	}
	t := &tenantQuota{q: q, slots: make(chan struct{}, q.MaxConcurrent),
		events: rate.NewLimiter(rate.Limit(q.EventsPerSecond), max(int(q.EventsPerSecond*q.Burst), 1)),
		bytes:  rate.NewLimiter(rate.Limit(q.BytesPerSecond), max(int(q.BytesPerSecond*q.Burst), 1))}
	qs.tenants[tenant] = t
	return t
}

// enter takes one of the tenant's concurrency slots, or refuses; the caller calls the returned release.
func (qs *quotas) enter(tenant string) (release func(), err error) {
	t := qs.get(tenant)
	select {
	case t.slots <- struct{}{}:
		return func() { <-t.slots }, nil
	default:
		return nil, &errQuota{reason: reasonConcurrency, retryAfter: time.Second,
			detail: fmt.Sprintf("tenant %s has %d requests in progress (quota max_concurrent)", tenant, t.q.MaxConcurrent)}
	}
}

// take charges events and bytes to the tenant's buckets, or refuses without charging anything.
func (qs *quotas) take(tenant string, events, bytes int, now time.Time) error {
	t := qs.get(tenant)
	events, bytes = min(events, t.events.Burst()), min(bytes, t.bytes.Burst())
	re := t.events.ReserveN(now, events)
	if !re.OK() || re.DelayFrom(now) > 0 {
		d := delay(re, now)
		re.CancelAt(now)
		return &errQuota{reason: reasonRate, retryAfter: d,
			detail: fmt.Sprintf("tenant %s is over its quota of %g events/s", tenant, t.q.EventsPerSecond)}
	}
	rb := t.bytes.ReserveN(now, bytes)
	if !rb.OK() || rb.DelayFrom(now) > 0 {
		d := delay(rb, now)
		rb.CancelAt(now)
		re.CancelAt(now)
		return &errQuota{reason: reasonBytes, retryAfter: d,
			detail: fmt.Sprintf("tenant %s is over its quota of %g bytes/s", tenant, t.q.BytesPerSecond)}
	}
	return nil
}

func delay(r *rate.Reservation, now time.Time) time.Duration {
	if !r.OK() {
		return time.Second
	}
	return r.DelayFrom(now)
}
