package intake

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// requestError is a request refused before anything was written: the HTTP status, the reason (a rejection metric
// label) and a message for the client that names the limit or the fault.
type requestError struct {
	status int
	reason string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(reason, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// readBody reads a request body whole, gunzipping it when Content-Encoding is gzip, within limits.max_body_bytes
// (counted after decompression, so a small gzip bomb is refused too).
func (s *Server) readBody(r *http.Request) ([]byte, error) {
	limit := int64(s.cfg.Limits.MaxBodyBytes)
	if r.ContentLength > limit && !isGzip(r) {
		return nil, tooLarge(r.ContentLength, limit)
	}
	var body io.Reader = r.Body
	if isGzip(r) {
		// The compressed body may not be longer than the decompressed limit either.
		zr, err := gzip.NewReader(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, badRequest("gzip", "gzip: the body is not gzip data (Content-Encoding: gzip): %v", err)
		}
		defer zr.Close()
		body = zr
	} else if enc := r.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, &requestError{status: http.StatusUnsupportedMediaType, reason: "encoding",
			msg: fmt.Sprintf("Content-Encoding %q is not supported (gzip or none)", enc)}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(body, limit+1))
	switch {
	case n > limit:
		return nil, tooLarge(n, limit)
	case errors.Is(err, io.ErrUnexpectedEOF) && isGzip(r):
		return nil, badRequest("gzip", "gzip: the body is truncated (unexpected end of the gzip stream after %d decompressed bytes)", n)
	case err != nil && isGzip(r):
		return nil, badRequest("gzip", "gzip: the body is corrupt: %v", err)
	case err != nil:
		return nil, badRequest("read", "reading the body: %v", err)
	}
	return buf.Bytes(), nil
}

func tooLarge(n, limit int64) *requestError {
	return &requestError{status: http.StatusRequestEntityTooLarge, reason: "body_too_large",
		msg: fmt.Sprintf("the body is larger than limits.max_body_bytes (%d bytes; got at least %d)", limit, n)}
}

func isGzip(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip")
}

// lines calls f with each line of body (without its line ending and the blanks around it) and its number, from 1;
// empty lines are skipped.
// It stops at the first error f returns.
func lines(body []byte, f func(line []byte, n int) error) error {
	n := 0
	for len(body) > 0 {
		n++
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := f(line, n); err != nil {
			return err
		}
	}
	return nil
}
