package sinks

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeES is an HTTP server that speaks the parts of the Elasticsearch 8 API the sink uses (root info, composable
// index templates, bulk create, and bulk update with doc and upsert, merged into the stored document as the engines
// merge it) and injects faults: whole-request error statuses, slow responses, dropped
// connections, and per-item statuses.
type fakeES struct {
	*httptest.Server
	t testing.TB

	// product sends X-Elastic-Product: Elasticsearch on every response, as Elasticsearch 7.14+ does.
	product bool
	// requestFault, when set, is asked about every bulk request (n counts from 1) before it is processed.
	requestFault func(n int) fault
	// itemFault, when set, may answer for a create or update item instead of storing it; doc is the document (an
	// update's upsert), attempt counts the times this id was seen, from 1. A zero status means no fault.
	itemFault func(id string, doc map[string]any, attempt int) itemReply
	// maxBody answers 413 to bulk requests with a larger body; 0 means no limit.
	maxBody int

	mu        sync.Mutex
	docs      map[string]map[string]json.RawMessage // index → id → document
	templates map[string]json.RawMessage
	seen      map[string]int          // id → create and update items received
	ops       map[string][]receivedOp // id → the items received, in order
	bulks     int
	headers   []http.Header // of every request
}

// fault is what happens to a whole bulk request.
type fault struct {
	status  int           // answer this status with an Elasticsearch error body
	errType string        // the error's type; default by status (statusErrorType)
	reason  string        // the error's reason; default "fake: injected fault"
	delay   time.Duration // wait before answering (after storing, unless status is set)
	drop    bool          // close the connection without an answer
	// hang holds the request, unanswered, until the channel is closed (then it is processed as usual) or the client
	// gives up: a server that accepts connections and never answers.
	hang chan struct{}
}

// receivedOp is one item of a bulk request as the server received it.
type receivedOp struct {
	action, body json.RawMessage
}

// itemReply is a per-item answer.
type itemReply struct {
	status  int
	errType string
	reason  string
}

func newFakeES(t testing.TB) *fakeES {
	f := &fakeES{t: t, product: true, docs: map[string]map[string]json.RawMessage{},
		templates: map[string]json.RawMessage{}, seen: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeES) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.headers = append(f.headers, r.Header.Clone())
	product := f.product
	f.mu.Unlock()
	if product {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/":
		fmt.Fprint(w, `{"name":"fake","cluster_name":"fake","version":{"number":"8.19.0","build_flavor":"default"},"tagline":"You Know, for Search"}`)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		body, _ := io.ReadAll(r.Body)
		if !json.Valid(body) {
			writeError(w, 400, "parse_exception", "request body is not JSON")
			return
		}
		f.mu.Lock()
		f.templates[strings.TrimPrefix(r.URL.Path, "/_index_template/")] = body
		f.mu.Unlock()
		fmt.Fprint(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk"):
		f.bulk(w, r)
	default:
		writeError(w, 400, "illegal_argument_exception", "fake: unsupported request "+r.Method+" "+r.URL.Path)
	}
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`, typ, reason, typ, reason, status)
}

func (f *fakeES) bulk(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.bulks++
	n := f.bulks
	var flt fault
	if f.requestFault != nil {
		flt = f.requestFault(n)
	}
	f.mu.Unlock()
	if flt.hang != nil {
		select {
		case <-flt.hang:
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case flt.drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	case flt.status != 0:
		time.Sleep(flt.delay)
		typ, reason := flt.errType, flt.reason
		if typ == "" {
			typ = statusErrorType(flt.status)
		}
		if reason == "" {
			reason = "fake: injected fault"
		}
		writeError(w, flt.status, typ, reason)
		return
	case f.maxBody > 0 && len(body) > f.maxBody:
		writeError(w, 413, "content_too_long_exception", "request body is too large")
		return
	}
	items, err := f.apply(body)
	if err != nil {
		writeError(w, 400, "illegal_argument_exception", err.Error())
		return
	}
	time.Sleep(flt.delay)
	errs := false
	for _, it := range items {
		for _, res := range it { // one key: the operation
			errs = errs || res.(map[string]any)["status"].(int) >= 300
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": errs, "items": items})
}

func statusErrorType(status int) string {
	switch status {
	case 429:
		return "es_rejected_execution_exception"
	case 503:
		return "unavailable_shards_exception"
	}
	return "exception"
}

// apply processes the create and update operations of a bulk body and returns the response items, each keyed by
// its operation.
func (f *fakeES) apply(body []byte) ([]map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops == nil {
		f.ops = map[string][]receivedOp{}
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 64<<20)
	var items []map[string]any
	for sc.Scan() {
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
			return nil, fmt.Errorf("action line: %v", err)
		}
		op := "create"
		if _, ok := action["update"]; ok {
			op = "update"
		}
		meta, ok := action[op]
		if !ok || len(action) != 1 || meta.Index == "" || meta.ID == "" {
			return nil, fmt.Errorf("want create or update with _index and _id, got %s", sc.Bytes())
		}
		line := json.RawMessage(bytes.Clone(sc.Bytes()))
		if !sc.Scan() {
			return nil, fmt.Errorf("no document after %s", line)
		}
		doc := json.RawMessage(bytes.Clone(sc.Bytes()))
		f.seen[meta.ID]++
		f.ops[meta.ID] = append(f.ops[meta.ID], receivedOp{line, doc})
		if op == "update" {
			var u struct{ Doc, Upsert map[string]any }
			if err := json.Unmarshal(doc, &u); err != nil || u.Doc == nil || u.Upsert == nil {
				return nil, fmt.Errorf("update: want doc and upsert, got %s (%v)", doc, err)
			}
			items = append(items, map[string]any{"update": f.updateItem(meta.Index, meta.ID, u.Doc, u.Upsert)})
			continue
		}
		var fields map[string]any
		if err := json.Unmarshal(doc, &fields); err != nil {
			return nil, fmt.Errorf("document: %v", err)
		}
		items = append(items, map[string]any{"create": f.createItem(meta.Index, meta.ID, doc, fields)})
	}
	return items, sc.Err()
}

// updateItem inserts upsert when the document is new (201), else merges doc into it (200), as the engines do.
func (f *fakeES) updateItem(index, id string, doc, upsert map[string]any) map[string]any {
	res := map[string]any{"_index": index, "_id": id}
	reply := itemReply{}
	if f.itemFault != nil {
		reply = f.itemFault(id, upsert, f.seen[id])
	}
	switch {
	case reply.status != 0:
		res["status"] = reply.status
		res["error"] = map[string]any{"type": reply.errType, "reason": reply.reason}
	case f.docs[index][id] == nil:
		f.store(index, id, upsert)
		res["status"], res["result"] = 201, "created"
	default:
		var stored map[string]any
		if err := json.Unmarshal(f.docs[index][id], &stored); err != nil {
			f.t.Errorf("stored document %s/%s: %v", index, id, err)
		}
		mergeDoc(stored, doc)
		f.store(index, id, stored)
		res["status"], res["result"] = 200, "updated"
	}
	return res
}

// mergeDoc merges src into dst like a partial update: objects are merged key by key, anything else is replaced.
func mergeDoc(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if d, isObj := dst[k].(map[string]any); ok && isObj {
			mergeDoc(d, sub)
			continue
		}
		dst[k] = v
	}
}

func (f *fakeES) store(index, id string, doc map[string]any) {
	if f.docs[index] == nil {
		f.docs[index] = map[string]json.RawMessage{}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		f.t.Errorf("store %s/%s: %v", index, id, err)
	}
	f.docs[index][id] = raw
}

// analystUpdate merges partial into a stored document, as an analyst's _update request does.
func (f *fakeES) analystUpdate(index, id string, partial map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var stored map[string]any
	if err := json.Unmarshal(f.docs[index][id], &stored); err != nil {
		f.t.Fatalf("analyst update of %s/%s: %v", index, id, err)
	}
	mergeDoc(stored, partial)
	f.store(index, id, stored)
}

// received returns the items received for id, in order.
func (f *fakeES) received(id string) []receivedOp {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]receivedOp(nil), f.ops[id]...)
}

func (f *fakeES) createItem(index, id string, doc json.RawMessage, fields map[string]any) map[string]any {
	res := map[string]any{"_index": index, "_id": id}
	reply := itemReply{}
	if f.itemFault != nil {
		reply = f.itemFault(id, fields, f.seen[id])
	}
	switch {
	case reply.status != 0:
		res["status"] = reply.status
		res["error"] = map[string]any{"type": reply.errType, "reason": reply.reason,
			"caused_by": map[string]any{"type": "illegal_argument_exception", "reason": "fake cause"}}
	case f.docs[index][id] != nil:
		res["status"] = 409
		res["error"] = map[string]any{"type": "version_conflict_engine_exception",
			"reason": fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", id)}
	default:
		if f.docs[index] == nil {
			f.docs[index] = map[string]json.RawMessage{}
		}
		f.docs[index][id] = doc
		res["status"] = 201
		res["result"] = "created"
	}
	return res
}

// count is the number of stored documents in all indices.
func (f *fakeES) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, docs := range f.docs {
		n += len(docs)
	}
	return n
}

// doc returns a stored document, decoded; nil when absent.
func (f *fakeES) doc(index, id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	raw := f.docs[index][id]
	if raw == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		f.t.Fatalf("stored document %s/%s: %v", index, id, err)
	}
	return m
}

func (f *fakeES) bulkCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bulks
}

func (f *fakeES) template(name string) json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.templates[name]
}

func (f *fakeES) lastHeader() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.headers[len(f.headers)-1]
}

// indices returns the names of the indices that hold documents, sorted.
func (f *fakeES) indices() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name := range f.docs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
