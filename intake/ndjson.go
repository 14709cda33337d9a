package intake

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// POST /v1/events: one JSON object per line, for scripts (curl --data-binary @events.ndjson). Every valid line
// is kept; the answer counts them and lists the lines refused, with why:
//
//	{"accepted": 998, "rejected": 2, "errors": [{"line": 7, "error": "not a JSON object"}, ...]}
//
// 200 when every line was accepted, 422 when some were refused (the others are in Kafka), 503 when Kafka did not
// acknowledge them (retry the whole file), and the usual 401, 403, 413, 429.

type ndjsonResult struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Errors   []ndjsonError `json:"errors,omitempty"`
}

type ndjsonError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

func (s *Server) handleNDJSON(w http.ResponseWriter, r *http.Request) {
	req, err := s.begin(r, "ndjson")
	defer req.end()
	var body []byte
	if err == nil {
		body, err = s.readBody(r)
	}
	if err != nil {
		ndjsonFail(w, req, err)
		return
	}
	var items []item
	var res ndjsonResult
	_ = lines(body, func(line []byte, n int) error {
		if msg := s.checkLine(line); msg != "" {
			res.Errors = append(res.Errors, ndjsonError{Line: n, Error: msg})
			return nil
		}
		items = append(items, item{value: line})
		return nil
	})
	if _, err := req.write(items); err != nil {
		ndjsonFail(w, req, err)
		return
	}
	res.Accepted, res.Rejected = len(items), len(res.Errors)
	req.status = http.StatusOK
	if res.Rejected > 0 {
		req.reject("invalid", res.Rejected)
		req.status = http.StatusUnprocessableEntity
	}
	writeJSON(w, req.status, res)
}

// checkLine says what is wrong with an NDJSON line, or "".
func (s *Server) checkLine(line []byte) string {
	switch {
	case len(line) > s.cfg.Limits.MaxEventBytes:
		return fmt.Sprintf("the line is larger than limits.max_event_bytes (%d bytes)", s.cfg.Limits.MaxEventBytes)
	case line[0] != '{':
		return "not a JSON object"
	case !json.Valid(line):
		return "invalid JSON"
	}
	return ""
}

func ndjsonFail(w http.ResponseWriter, req *request, err error) {
	f := req.classify(err)
	f.header(w)
	writeJSON(w, f.status, map[string]string{"error": f.msg})
}
