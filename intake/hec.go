package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/vigilsoc/vigil/fields"
)

// Splunk HTTP Event Collector. Status codes and texts are Splunk's ("Troubleshoot HTTP Event Collector" in
// Splunk's documentation): 0 Success, 2 Token is required (401), 3 Invalid authorization (401), 4 Invalid token
// (403), 5 No data (400), 6 Invalid data format (400), 9 Server is busy (503), 12 Event field is required (400),
// 13 Event field cannot be blank (400), 14 ACK is disabled (400), 15 Error in handling indexed fields (400),
// 17 HEC is healthy (200), 18 HEC is unhealthy, queues are full (503). A failing event is numbered from 0 in
// invalid-event-number. Intake adds "detail" with its own explanation (the limit hit, the quota); clients ignore
// unknown keys.
//
// As Splunk does, the events before an invalid one are kept (written to Kafka before the answer), and the
// invalid one and those after it are not: a client resends from invalid-event-number after fixing it.
type hecStatus struct {
	Text   string `json:"text"`
	Code   int    `json:"code"`
	Number *int   `json:"invalid-event-number,omitempty"`
	Detail string `json:"detail,omitempty"`
}

var (
	hecSuccess         = hecStatus{Text: "Success", Code: 0}
	hecTokenRequired   = hecStatus{Text: "Token is required", Code: 2}
	hecInvalidAuth     = hecStatus{Text: "Invalid authorization", Code: 3}
	hecInvalidToken    = hecStatus{Text: "Invalid token", Code: 4}
	hecNoData          = hecStatus{Text: "No data", Code: 5}
	hecInvalidFormat   = hecStatus{Text: "Invalid data format", Code: 6}
	hecBusy            = hecStatus{Text: "Server is busy", Code: 9}
	hecEventRequired   = hecStatus{Text: "Event field is required", Code: 12}
	hecEventBlank      = hecStatus{Text: "Event field cannot be blank", Code: 13}
	hecAckDisabled     = hecStatus{Text: "ACK is disabled", Code: 14}
	hecIndexedFields   = hecStatus{Text: "Error in handling indexed fields", Code: 15}
	hecHealthy         = hecStatus{Text: "HEC is healthy", Code: 17}
	hecUnhealthyQueues = hecStatus{Text: "HEC is unhealthy, queues are full", Code: 18}
)

// hecError is an invalid event: its status and number.
type hecError struct {
	st     hecStatus
	number int
	detail string
}

func (e *hecError) Error() string { return e.detail }

func (s *Server) hecRoutes(mux *http.ServeMux) {
	for _, p := range []string{"/services/collector", "/services/collector/event", "/services/collector/event/1.0"} {
		mux.HandleFunc("POST "+p, s.handleHECEvent)
	}
	for _, p := range []string{"/services/collector/raw", "/services/collector/raw/1.0"} {
		mux.HandleFunc("POST "+p, s.handleHECRaw)
	}
	for _, p := range []string{"/services/collector/health", "/services/collector/health/1.0"} {
		mux.HandleFunc("GET "+p, s.handleHECHealth)
	}
	mux.HandleFunc("POST /services/collector/ack", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusBadRequest, hecAckDisabled)
	})
}

func (s *Server) handleHECHealth(w http.ResponseWriter, r *http.Request) {
	if err := s.ready(r.Context()); err != nil {
		st := hecUnhealthyQueues
		st.Detail = err.Error()
		writeJSON(w, http.StatusServiceUnavailable, st)
		return
	}
	writeJSON(w, http.StatusOK, hecHealthy)
}

func (s *Server) handleHECEvent(w http.ResponseWriter, r *http.Request) {
	s.serveHEC(w, r, "hec/event", s.hecEvents)
}

func (s *Server) handleHECRaw(w http.ResponseWriter, r *http.Request) {
	s.serveHEC(w, r, "hec/raw", s.hecRaw)
}

// serveHEC runs a HEC request: authenticate, read, parse (up to the first invalid event), write, answer.
func (s *Server) serveHEC(w http.ResponseWriter, r *http.Request, route string, parse func([]byte, *http.Request) ([]item, *hecError)) {
	req, err := s.begin(r, route)
	defer req.end()
	req.m.format = "hec"
	var body []byte
	if err == nil {
		body, err = s.readBody(r)
	}
	if err != nil {
		hecFail(w, req, err)
		return
	}
	items, bad := parse(body, r)
	if len(items) == 0 && bad == nil {
		req.status = http.StatusBadRequest
		req.reject("no_data", 1)
		writeJSON(w, http.StatusBadRequest, hecNoData)
		return
	}
	if _, err := req.write(items); err != nil {
		hecFail(w, req, err)
		return
	}
	if bad != nil {
		req.reject("invalid", 1)
		req.status = http.StatusBadRequest
		st := bad.st
		st.Number, st.Detail = &bad.number, bad.detail
		writeJSON(w, http.StatusBadRequest, st)
		return
	}
	req.status = http.StatusOK
	writeJSON(w, http.StatusOK, hecSuccess)
}

// hecFail answers an error of begin, readBody or write in HEC's shape.
func hecFail(w http.ResponseWriter, req *request, err error) {
	f := req.classify(err)
	var st hecStatus
	switch {
	case errors.Is(err, errNoCredential):
		st = hecTokenRequired
	case errors.Is(err, errBadCredential):
		st = hecInvalidAuth
	case f.status == http.StatusForbidden:
		st = hecInvalidToken
	case f.status == http.StatusTooManyRequests, f.status == http.StatusServiceUnavailable:
		st = hecBusy
	default:
		st = hecInvalidFormat
	}
	if f.status != http.StatusForbidden && f.status != http.StatusUnauthorized {
		st.Detail = f.msg // never echo what an authentication failure was about
	}
	f.header(w)
	writeJSON(w, f.status, st)
}

// hecEvents splits a body of concatenated event objects, stopping at the first invalid one. Each object is decoded
// once, in place, by the pipeline's own decoder (fields.ParseFirst); the record is the object's bytes in the body.
func (s *Server) hecEvents(body []byte, _ *http.Request) ([]item, *hecError) {
	var items []item
	for n, pos := 0, 0; len(bytes.TrimLeft(body[pos:], " \t\r\n")) > 0; n++ {
		ev, used, err := fields.ParseFirst(body[pos:])
		value := bytes.TrimRight(body[pos:pos+used], " \t\r\n")
		pos += used
		if err != nil {
			return items, &hecError{st: hecInvalidFormat, number: n, detail: err.Error()}
		}
		bad := s.checkHECEvent(ev, len(value), n)
		ev.Release()
		if bad != nil {
			return items, bad
		}
		items = append(items, item{value: value})
	}
	return items, nil
}

// checkHECEvent checks one event object of size bytes: within limits.max_event_bytes, an event field that is not
// blank, fields an object. Dotted keys count as the paths they stand for, as `vigil run` reads the record, so
// {"event.code": 1} has an event field.
func (s *Server) checkHECEvent(ev fields.Value, size, n int) *hecError {
	event, extra := ev.Get("event"), ev.Get("fields")
	switch {
	case size > s.cfg.Limits.MaxEventBytes:
		return &hecError{st: hecInvalidFormat, number: n,
			detail: fmt.Sprintf("the event is larger than limits.max_event_bytes (%d bytes)", s.cfg.Limits.MaxEventBytes)}
	case !event.Exists():
		return &hecError{st: hecEventRequired, number: n, detail: "no event field"}
	case event.Kind() == fields.Null, event.Kind() == fields.String && event.Str() == "":
		return &hecError{st: hecEventBlank, number: n, detail: "the event field is blank"}
	case extra.Exists() && extra.Kind() != fields.Object:
		return &hecError{st: hecIndexedFields, number: n, detail: "fields must be an object"}
	}
	return nil
}

// hecRaw makes one event per line of a raw body: {"event": LINE} with the query string's host, source,
// sourcetype and index.
func (s *Server) hecRaw(body []byte, r *http.Request) ([]item, *hecError) {
	q := r.URL.Query()
	ev := struct {
		Event      string `json:"event"`
		Host       string `json:"host,omitempty"`
		Source     string `json:"source,omitempty"`
		Sourcetype string `json:"sourcetype,omitempty"`
		Index      string `json:"index,omitempty"`
	}{Host: q.Get("host"), Source: q.Get("source"), Sourcetype: q.Get("sourcetype"), Index: q.Get("index")}
	var items []item
	var bad *hecError
	_ = lines(body, func(line []byte, _ int) error {
		if len(line) > s.cfg.Limits.MaxLineBytes {
			bad = &hecError{st: hecInvalidFormat, number: len(items),
				detail: fmt.Sprintf("a line is longer than limits.max_line_bytes (%d bytes)", s.cfg.Limits.MaxLineBytes)}
			return bad
		}
		ev.Event = string(line)
		v, _ := json.Marshal(ev) // strings only: cannot fail
		items = append(items, item{value: v})
		return nil
	})
	return items, bad
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
