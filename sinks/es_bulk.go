package sinks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/vigilsoc/vigil"
)

// bulkFilterPath trims the bulk response to what the sink reads: per item its status and error, in request order.
var bulkFilterPath = []string{"errors", "items.*.status", "items.*.error"}

// bulkResponse is the trimmed response of a bulk request. Each item is keyed by its operation: create, or update
// for an Update alert.
type bulkResponse struct {
	Errors bool `json:"errors"`
	Items  []struct {
		Create bulkResult `json:"create"`
		Update bulkResult `json:"update"`
	} `json:"items"`
}

type bulkResult struct {
	Status int      `json:"status"`
	Error  *esError `json:"error"`
}

// esError is an error object of Elasticsearch or OpenSearch.
type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by"`
}

func (e *esError) String() string {
	if e == nil {
		return "no error detail"
	}
	s := e.Type
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.String() + ")"
	}
	return s
}

// statusError is a whole request answered with an error status.
type statusError struct {
	status int
	err    *esError
	body   string // the start of a body that is not an Elasticsearch error object
}

func (e *statusError) Error() string {
	switch {
	case e.err != nil:
		return fmt.Sprintf("status %d: %s", e.status, e.err)
	case e.body != "":
		return fmt.Sprintf("status %d: %s", e.status, e.body)
	}
	return fmt.Sprintf("status %d", e.status)
}

// readStatusError reads the error body of a response (at most 64 KiB of it).
func readStatusError(res *esapi.Response) error {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	_, _ = io.Copy(io.Discard, res.Body)
	se := &statusError{status: res.StatusCode}
	var obj struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(data, &obj) == nil && len(obj.Error) > 0 {
		var e esError
		if json.Unmarshal(obj.Error, &e) == nil && e.Type != "" {
			se.err = &e
			return se
		}
		var msg string
		if json.Unmarshal(obj.Error, &msg) == nil {
			se.err = &esError{Type: "error", Reason: msg}
			return se
		}
	}
	se.body = strings.TrimSpace(string(data[:min(len(data), 200)]))
	return se
}

// bulk sends items as one bulk request. It settles the alerts that are stored or rejected and returns the ones
// the server asked to retry; an error means the request as a whole failed and no item was settled.
func (s *Elasticsearch) bulk(items []*bulkItem) ([]*bulkItem, error) {
	body := make([]byte, 0, itemsSize(items))
	for _, it := range items {
		body = append(body, it.lines...)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	s.Stats.Requests.Add(1)
	res, err := esapi.BulkRequest{Body: bytes.NewReader(body), FilterPath: bulkFilterPath}.Do(ctx, s.tp)
	if err != nil {
		return nil, explainTransportError(err, s.cfg.Flavor)
	}
	defer res.Body.Close()
	if res.IsError() {
		return nil, readStatusError(res)
	}
	var br bulkResponse
	if err := json.NewDecoder(res.Body).Decode(&br); err != nil {
		return nil, fmt.Errorf("bulk response: %w", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if len(br.Items) != len(items) {
		return nil, fmt.Errorf("bulk response has %d items for %d alerts", len(br.Items), len(items))
	}
	var retry []*bulkItem
	var block *esError // the first block answered
	blockedAt, blocks, noted := "", 0, false
	for i, item := range br.Items {
		it, r := items[i], item.Create
		if it.update {
			r = item.Update
		}
		st := r.Status
		switch {
		case st == http.StatusOK && it.update: // an earlier version replaced (or "noop": the same again)
			s.Stats.Updated.Add(1)
			s.settle(it, nil)
		case st == http.StatusOK || st == http.StatusCreated:
			s.Stats.Created.Add(1)
			s.settle(it, nil)
		case st == http.StatusConflict && !it.update:
			s.Stats.Duplicates.Add(1)
			s.settle(it, nil)
		case clusterBlock(r.Error) != nil: // 403, or 429 for the flood stage: wait for the block to be lifted
			if block == nil {
				block, blockedAt = clusterBlock(r.Error), it.index
			}
			blocks++
			s.block(it, clusterBlock(r.Error))
			retry = append(retry, it)
		case st == 0 || retryableStatus(st) || st == http.StatusConflict: // an update's 409: a concurrent writer
			if !noted {
				s.health.failed(fmt.Sprintf("index %s: status %d: %s", it.index, st, r.Error))
				noted = true
			}
			s.unblock(it)
			retry = append(retry, it)
		case mappingRace(r.Error) && it.races < maxMappingRaces:
			it.races++
			s.unblock(it)
			retry = append(retry, it)
		default:
			detail := fmt.Sprintf("index %s: status %d: %s", it.index, st, r.Error)
			s.settle(it, alertLetter(it.alert, it.doc, rejectReason(r.Error), detail))
		}
	}
	if len(retry) < len(items) {
		s.health.progress(s.now())
	}
	if block != nil {
		s.blocked(blockedAt, block, blocks)
	}
	return retry, nil
}

// settle marks it as stored (letter nil) or rejected.
func (s *Elasticsearch) settle(it *bulkItem, letter *vigil.DeadLetter) {
	s.unblock(it)
	it.op.settle(letter)
}

// send delivers items: it retries failed requests and the alerts the server asks to retry until each is stored or
// rejected, the Write waiting for it has given up, or the sink is closed.
func (s *Elasticsearch) send(items []*bulkItem) {
	defer func() { s.unblockAll(items) }() // those still waiting when the sink closes
	failures := 0
	for attempt := 0; ; attempt++ {
		items = s.waited(items)
		if len(items) == 0 || s.ctx.Err() != nil {
			return
		}
		retry, err := s.bulk(items)
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusRequestEntityTooLarge {
			s.splitTooLarge(items, se)
			return
		}
		if err != nil {
			if s.ctx.Err() != nil { // closed while the request was in flight
				return
			}
			failures++
			s.Stats.RequestErrors.Add(1)
			wait := s.backoff(attempt)
			if block := requestBlock(err); block != nil {
				for _, it := range items {
					s.block(it, block)
				}
				s.blocked(items[0].index, block, len(items))
			} else {
				s.unblockAll(items)
				s.health.failed(err.Error())
				s.log.Warn("bulk request failed, retrying", "alerts", len(items), "attempt", attempt+1, "retry_in", wait.Round(time.Millisecond), "err", err)
			}
			if !s.sleep(wait) {
				return
			}
			continue
		}
		if failures > 0 {
			s.log.Info("bulk request succeeded after failures", "alerts", len(items), "failed_attempts", failures)
			failures = 0
		}
		if len(retry) == 0 {
			return
		}
		s.Stats.Retries.Add(int64(len(retry)))
		wait := s.backoff(attempt)
		s.log.Debug("alerts to retry", "alerts", len(retry), "attempt", attempt+1, "retry_in", wait)
		if !s.sleep(wait) {
			return
		}
		items = retry
	}
}

// splitTooLarge handles a 413: the halves are sent separately; a single alert too large for the server is rejected.
func (s *Elasticsearch) splitTooLarge(items []*bulkItem, se *statusError) {
	if len(items) == 1 {
		it := items[0]
		s.settle(it, alertLetter(it.alert, it.doc, "oversize", fmt.Sprintf("index %s: %v", it.index, se)))
		s.health.progress(s.now())
		return
	}
	half := len(items) / 2
	s.send(items[:half])
	s.send(items[half:])
}

// waited drops the items whose Write has already returned (its context ended): nobody waits for them and their
// batch will not be acknowledged, so they will be read and written again.
func (s *Elasticsearch) waited(items []*bulkItem) []*bulkItem {
	out := items[:0:0]
	for _, it := range items {
		if it.op.ctx.Err() == nil {
			out = append(out, it)
		} else {
			s.unblock(it)
		}
	}
	return out
}

// maxMappingRaces is how often an alert rejected for a dynamic mapping race is sent again before it is dead-lettered.
const maxMappingRaces = 3

// mappingRace says whether a rejection comes from two requests that added the same new field with different types
// at the same moment (a long and a float, a keyword and a boolean): the engine refuses the second mapping update
// with "mapper [f] cannot be changed from type [long] to [float]". Once the first mapping is in place the document
// usually fits it (5.5 is stored in a long field), so the alert is retried rather than dead-lettered. A document
// that conflicts with a settled mapping fails differently (mapper_parsing_exception) and is dead-lettered at once.
func mappingRace(e *esError) bool {
	return e != nil && e.Type == "illegal_argument_exception" && strings.Contains(e.Reason, "cannot be changed from type")
}

// rejectReason is the dead-letter reason of an alert the server rejected: "mapping" when the document does not
// fit the index mapping, else "rejected".
func rejectReason(e *esError) string {
	if e != nil {
		switch e.Type {
		case "mapper_parsing_exception", "document_parsing_exception", "strict_dynamic_mapping_exception",
			"illegal_argument_exception", "mapper_exception", "document_source_missing_exception":
			return "mapping"
		}
	}
	return "rejected"
}
