package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// RecordReader splits a stream of JSON objects into records: one object per line, pretty-printed objects spanning
// several lines, or objects concatenated on one line, as exported by many tools. Anything else on a line (a line that
// is not JSON, an array, a number) becomes one bad record, so the caller can report it with its line number and go on.
type RecordReader struct {
	r        *bufio.Reader
	line     int64 // lines consumed so far
	maxBytes int
	pending  []byte // unread rest of the current line
	lines    bool   // every non-empty line is a record (NewLineReader)
}

// NewLineReader reads lines of text as records, for formats other than JSON (syslog, CEF...): every line that is not
// blank is one record, without its line ending. A line over maxBytes is a bad record holding its first 256 bytes.
func NewLineReader(r io.Reader, maxBytes int) *RecordReader {
	rr := NewRecordReader(r, maxBytes)
	rr.lines = true
	return rr
}

// Record is one raw record and where it starts.
type Record struct {
	Data []byte
	Line int64
	// Err is set when the record is not a complete JSON object; Data then holds the offending text.
	Err error
}

// NewRecordReader reads records of at most maxBytes bytes from r.
func NewRecordReader(r io.Reader, maxBytes int) *RecordReader {
	return &RecordReader{r: bufio.NewReaderSize(r, 64<<10), maxBytes: maxBytes}
}

// ErrOversize marks a record over the size limit.
var ErrOversize = errors.New("record too large")

// errIncomplete marks an object cut off by the end of the input; in follow mode the caller waits for more data.
var errIncomplete = errors.New("incomplete JSON object at end of input")

// Next returns the next record. At the end of the input it returns io.EOF; a final object with no end is returned
// as a bad record.
func (rr *RecordReader) Next() (Record, error) {
	if rr.lines {
		return rr.nextLine()
	}
	for {
		if len(bytes.TrimSpace(rr.pending)) == 0 {
			line, err := rr.readLine()
			if err != nil {
				return Record{}, err
			}
			rr.pending = line
			continue
		}
		rr.pending = bytes.TrimLeft(rr.pending, " \t\r\n")
		start := rr.line
		if rr.pending[0] != '{' {
			bad := bytes.TrimRight(rr.pending, "\r\n")
			rr.pending = nil
			return Record{Data: bad, Line: start, Err: errors.New("not a JSON object")}, nil
		}
		return rr.object(start)
	}
}

// object reads one object starting at rr.pending[0], across lines if needed. An object that ends on the line it
// starts on, the usual case, is returned in place: a slice of that line, capped so that appending to it copies.
func (rr *RecordReader) object(start int64) (Record, error) {
	var buf []byte
	var sc scanner
	data := rr.pending
	for {
		if i := sc.scan(data); i >= 0 {
			rec := data[: i+1 : i+1]
			if buf != nil {
				rec = append(buf, rec...)
			}
			rr.pending = data[i+1:]
			return Record{Data: rec, Line: start}, nil
		}
		buf = append(buf, data...)
		if len(buf) > rr.maxBytes {
			rr.pending = nil
			rr.skipObject(sc)
			return Record{Data: buf[:min(len(buf), 256)], Line: start,
				Err: fmt.Errorf("%w: more than %d bytes", ErrOversize, rr.maxBytes)}, nil
		}
		line, err := rr.readLine()
		if errors.Is(err, io.EOF) {
			rr.pending = nil
			return Record{Data: bytes.TrimRight(buf, "\r\n"), Line: start, Err: errIncomplete}, nil
		}
		if err != nil {
			return Record{}, err
		}
		data = line
	}
}

// skipObject discards input until the current oversized object ends, so the next record starts cleanly.
func (rr *RecordReader) skipObject(sc scanner) {
	for sc.depth > 0 {
		line, err := rr.readLine()
		if err != nil {
			return
		}
		if i := sc.scan(line); i >= 0 {
			rr.pending = line[i+1:]
		}
	}
}

// scanner finds where a JSON object ends without decoding it: it counts the brackets outside strings, and is not a
// validator (the decoder is). It is the reader's hot loop, so it does not look at a string's bytes one by one:
// bytes.IndexByte (vectorized) finds the next quote, and the quote ends the string unless an odd number of
// backslashes precedes it.
type scanner struct {
	depth             int
	inString, escaped bool
}

// scan advances over data and returns the index of the bracket that closes the object, or -1 when data ends first.
func (s *scanner) scan(data []byte) int {
	i := 0
	if s.escaped && len(data) > 0 {
		s.escaped = false
		i = 1
	}
	for i < len(data) {
		if s.inString {
			j := bytes.IndexByte(data[i:], '"')
			if j < 0 {
				s.escaped = oddBackslashes(data[i:])
				return -1
			}
			q := i + j
			s.inString = oddBackslashes(data[i:q])
			i = q + 1
			continue
		}
		switch data[i] {
		case '"':
			s.inString = true
		case '{', '[':
			s.depth++
		case '}', ']':
			if s.depth--; s.depth == 0 {
				return i
			}
		}
		i++
	}
	return -1
}

// oddBackslashes reports whether b ends with an odd number of backslashes, which escape the byte after b.
func oddBackslashes(b []byte) bool {
	n := 0
	for n < len(b) && b[len(b)-1-n] == '\\' {
		n++
	}
	return n%2 == 1
}

// readLine returns the next line including its newline; the last line of the input may have none.
func (rr *RecordReader) readLine() ([]byte, error) {
	line, err := rr.r.ReadBytes('\n')
	if len(line) > 0 {
		rr.line++
		return line, nil
	}
	return nil, err
}

// nextLine returns the next non-blank line.
func (rr *RecordReader) nextLine() (Record, error) {
	for {
		line, err := rr.readLine()
		if err != nil {
			return Record{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(bytes.TrimSpace(line)) == 0:
			continue
		case len(line) > rr.maxBytes:
			return Record{Data: line[:min(len(line), 256)], Line: rr.line,
				Err: fmt.Errorf("%w: more than %d bytes", ErrOversize, rr.maxBytes)}, nil
		}
		return Record{Data: line, Line: rr.line}, nil
	}
}
