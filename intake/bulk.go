package intake

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/segmentio/kafka-go"
)

// The Elasticsearch _bulk API: NDJSON pairs of an action line and a document line. index and create are accepted
// (the document becomes the record, the action's _index and _id its es.index and es.id headers); update and delete
// are refused per item, as intake only appends. A document that is not a JSON object, or over
// limits.max_event_bytes, is refused per item (status 400) and the others are kept; an item Kafka did not
// acknowledge gets status 429 (es_rejected_execution_exception), which Beats, Logstash and the clients' bulk
// helpers retry. A malformed action line refuses the whole request, as Elasticsearch does.

// bulkItem is one item of a _bulk request and, once answered, of its response.
type bulkItem struct {
	op      string
	index   string
	id      string
	doc     []byte
	status  int
	errType string
	reason  string
}

// bulkResult is one entry of the response's items, in Elasticsearch's format.
type bulkResult struct {
	Index       string    `json:"_index"`
	ID          string    `json:"_id"`
	Version     int       `json:"_version,omitempty"`
	Result      string    `json:"result,omitempty"`
	Shards      *esShards `json:"_shards,omitempty"`
	SeqNo       *int      `json:"_seq_no,omitempty"`
	PrimaryTerm int       `json:"_primary_term,omitempty"`
	Status      int       `json:"status"`
	Error       *esCause  `json:"error,omitempty"`
}

type esShards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

type esCause struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request) {
	req, err := s.begin(r, "bulk")
	defer req.end()
	var body []byte
	if err == nil {
		body, err = s.readBody(r)
	}
	var items []*bulkItem
	if err == nil {
		items, err = s.parseBulk(body, r.PathValue("index"))
	}
	if err != nil {
		esFail(w, req, err)
		return
	}
	var good []item
	var goodIdx []int
	for i, it := range items {
		if it.status == 0 {
			good = append(good, item{value: it.doc, extra: esHeaders(it)})
			goodIdx = append(goodIdx, i)
		}
	}
	failed, err := req.write(good)
	if err != nil && (len(failed) == 0 || allFailed(failed)) {
		esFail(w, req, err) // nothing acknowledged: the whole request is retried
		return
	}
	for j, i := range goodIdx {
		items[i].status = http.StatusCreated
		if failed != nil && failed[j] != nil {
			items[i].status, items[i].errType = http.StatusTooManyRequests, "es_rejected_execution_exception"
			items[i].reason = "kafka did not acknowledge the record: retry it"
		}
	}
	req.status = http.StatusOK
	writeES(w, http.StatusOK, bulkResponse(items, req.m.received))
}

func allFailed(failed []error) bool {
	for _, e := range failed {
		if e == nil {
			return false
		}
	}
	return true
}

func esHeaders(it *bulkItem) []kafka.Header {
	var h []kafka.Header
	if it.index != "" {
		h = append(h, kafka.Header{Key: "es.index", Value: []byte(it.index)})
	}
	if it.id != "" {
		h = append(h, kafka.Header{Key: "es.id", Value: []byte(it.id)})
	}
	return h
}

// parseBulk reads the action and document lines. Items that cannot be accepted carry their status and error.
func (s *Server) parseBulk(body []byte, pathIndex string) ([]*bulkItem, error) {
	var items []*bulkItem
	var pending *bulkItem // an action waiting for its document line
	err := lines(body, func(line []byte, n int) error {
		if len(line) > s.cfg.Limits.MaxLineBytes {
			return badRequest("line_too_long", "line %d is longer than limits.max_line_bytes (%d bytes)", n, s.cfg.Limits.MaxLineBytes)
		}
		if pending != nil {
			s.bulkDocument(pending, line)
			pending = nil
			return nil
		}
		it, err := parseAction(line, n, pathIndex)
		if err != nil {
			return err
		}
		items = append(items, it)
		if it.op != "delete" {
			pending = it
		}
		return nil
	})
	if err == nil && pending != nil {
		err = badRequest("invalid", "the last action (%s) has no document line", pending.op)
	}
	if err == nil && len(items) == 0 {
		err = badRequest("no_data", "request body is required")
	}
	return items, err
}

// parseAction reads an action line: {"index": {"_index": ..., "_id": ...}}.
func parseAction(line []byte, n int, pathIndex string) (*bulkItem, error) {
	var action map[string]struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
		return nil, badRequest("invalid", "Malformed action/metadata line [%d], expected a JSON object with one action", n)
	}
	it := &bulkItem{}
	for op, m := range action {
		it.op, it.index, it.id = op, m.Index, m.ID
	}
	if it.index == "" {
		it.index = pathIndex
	}
	switch it.op {
	case "index", "create":
	case "update", "delete":
		it.status, it.errType = http.StatusBadRequest, "illegal_argument_exception"
		it.reason = fmt.Sprintf("vigil intake only appends: the %s action is not supported", it.op)
	default:
		return nil, badRequest("invalid", "Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", n, it.op)
	}
	if it.id == "" {
		it.id = newDocID()
	}
	return it, nil
}

// bulkDocument takes a document line for an action, or marks the item refused.
func (s *Server) bulkDocument(it *bulkItem, line []byte) {
	if it.status != 0 {
		return
	}
	switch {
	case len(line) > s.cfg.Limits.MaxEventBytes:
		it.status, it.errType = http.StatusBadRequest, "illegal_argument_exception"
		it.reason = fmt.Sprintf("the document is larger than limits.max_event_bytes (%d bytes)", s.cfg.Limits.MaxEventBytes)
	case line[0] != '{' || !json.Valid(line):
		it.status, it.errType = http.StatusBadRequest, "mapper_parsing_exception"
		it.reason = "failed to parse: the document is not a JSON object"
	default:
		it.doc = line
	}
}

// newDocID returns an id in the style of Elasticsearch's generated ones (20 URL-safe characters). Not secret.
func newDocID() string {
	var b [15]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[7:], rand.Uint64())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// bulkResponse is the answer to a _bulk request: errors true when any item failed, one result per item.
func bulkResponse(items []*bulkItem, start time.Time) map[string]any {
	results := make([]map[string]bulkResult, len(items))
	anyErr := false
	for i, it := range items {
		res := bulkResult{Index: it.index, ID: it.id, Status: it.status}
		if it.status == http.StatusCreated {
			seq := 0
			res.Version, res.Result, res.SeqNo, res.PrimaryTerm = 1, "created", &seq, 1
			res.Shards = &esShards{Total: 1, Successful: 1}
		} else {
			anyErr = true
			res.Error = &esCause{Type: it.errType, Reason: it.reason}
		}
		results[i] = map[string]bulkResult{it.op: res}
	}
	return map[string]any{"took": time.Since(start).Milliseconds(), "errors": anyErr, "items": results}
}
