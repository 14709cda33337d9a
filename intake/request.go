package intake

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// request is one HTTP request on its way through intake: authenticated, holding a concurrency slot of its
// tenant, its records gathered by the endpoint.
type request struct {
	s       *Server
	r       *http.Request
	m       meta
	release func()
	status  int
}

// begin authenticates r and takes a concurrency slot of its tenant. The error is an auth error, an *errQuota or a
// *requestError; the caller renders it in its protocol's shape (fail), then calls end.
func (s *Server) begin(r *http.Request, route string) (*request, error) {
	req := &request{s: s, r: r, m: meta{route: route, remote: r.RemoteAddr, received: time.Now()}}
	if s.draining.Load() {
		return req, &requestError{status: http.StatusServiceUnavailable, reason: "shutdown", msg: "intake is shutting down: retry"}
	}
	p, err := s.authenticate(r)
	if err != nil {
		return req, err
	}
	req.m.p = p
	release, err := s.quotas.enter(p.Tenant)
	if err != nil {
		return req, err
	}
	req.release = release
	return req, nil
}

// end counts the request with the status it was answered with, and gives back its slot.
func (req *request) end() {
	if req.release != nil {
		req.release()
	}
	req.s.metrics.answered(req.m.p.Tenant, req.m.route, req.status, req.m.received)
}

// write charges the records to the tenant's quota and delivers them. failed is as for deliver.
func (req *request) write(items []item) (failed []error, err error) {
	bytes := 0
	for _, it := range items {
		bytes += len(it.value)
	}
	if err := req.s.quotas.take(req.m.p.Tenant, len(items), bytes, time.Now()); err != nil {
		return nil, err
	}
	failed, err = req.s.deliver(req.r.Context(), req.m, items)
	ok, okBytes := len(items), bytes
	for i, e := range failed {
		if e != nil {
			ok--
			okBytes -= len(items[i].value)
		}
	}
	req.s.metrics.accepted(req.m.p.Tenant, req.m.route, ok, okBytes)
	if ok < len(items) {
		req.s.metrics.rejected(req.m.p.Tenant, req.m.route, "kafka", len(items)-ok)
	}
	return failed, err
}

// reject counts n records refused for a reason (invalid JSON, over a limit) in a request otherwise served.
func (req *request) reject(reason string, n int) {
	req.s.metrics.rejected(req.m.p.Tenant, req.m.route, reason, n)
}

// failure is what a protocol needs to render an error: the HTTP status, the rejection reason, the message, and
// for quota refusals the Retry-After seconds (0 otherwise).
type failure struct {
	status     int
	reason     string
	msg        string
	retryAfter int
}

// classify maps an error from begin, readBody or write to its failure, and counts the rejection.
func (req *request) classify(err error) failure {
	var f failure
	var q *errQuota
	var re *requestError
	switch {
	case errors.As(err, &q):
		f = failure{http.StatusTooManyRequests, q.reason, q.Error(), q.retryAfterSeconds()}
	case errors.As(err, &re):
		f = failure{re.status, re.reason, re.msg, 0}
	case errors.Is(err, errUnavailable), errors.Is(err, context.DeadlineExceeded):
		f = failure{http.StatusServiceUnavailable, "kafka", err.Error(), 5}
	case errors.Is(err, errNoCredential), errors.Is(err, errBadCredential):
		f = failure{http.StatusUnauthorized, "auth", err.Error(), 0}
	default: // an unknown token, a certificate naming no tenant or another tenant than the token's
		f = failure{http.StatusForbidden, "auth", err.Error(), 0}
	}
	if f.reason != "kafka" { // records Kafka refused are counted by write
		req.s.metrics.rejected(req.m.p.Tenant, req.m.route, f.reason, 1)
	}
	req.status = f.status
	return f
}

// header sets Retry-After for quota refusals and Kafka outages.
func (f failure) header(w http.ResponseWriter) {
	if f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
	}
}
