package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// refReader is the record reader as it was before its scanner skipped strings with bytes.IndexByte: a byte-by-byte
// state machine, kept as the reference that TestRecordReaderDifferential and FuzzRecordReader hold the reader to.
type refReader struct {
	r        *bufio.Reader
	line     int64
	maxBytes int
	pending  []byte
	lines    bool
}

func newRefReader(r io.Reader, maxBytes int) *refReader {
	return &refReader{r: bufio.NewReaderSize(r, 64<<10), maxBytes: maxBytes}
}

// Next returns the next record. At the end of the input it returns io.EOF; a final object with no end is returned
// as a bad record.
func (rr *refReader) Next() (Record, error) {
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

// object reads one object starting at rr.pending[0], across lines if needed.
func (rr *refReader) object(start int64) (Record, error) {
	var buf []byte
	depth, inString, escaped := 0, false, false
	data := rr.pending
	for {
		for i := 0; i < len(data); i++ {
			c := data[i]
			switch {
			case escaped:
				escaped = false
			case inString:
				switch c {
				case '\\':
					escaped = true
				case '"':
					inString = false
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					rec := append(buf, data[:i+1]...)
					rr.pending = data[i+1:]
					return Record{Data: rec, Line: start}, nil
				}
			}
		}
		buf = append(buf, data...)
		if len(buf) > rr.maxBytes {
			rr.pending = nil
			rr.skipObject(depth, inString, escaped)
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
func (rr *refReader) skipObject(depth int, inString, escaped bool) {
	for depth > 0 {
		line, err := rr.readLine()
		if err != nil {
			return
		}
		for i, c := range line {
			switch {
			case escaped:
				escaped = false
			case inString:
				escaped, inString = c == '\\', c != '"'
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				if depth--; depth == 0 {
					rr.pending = line[i+1:]
				}
			}
			if depth == 0 {
				break
			}
		}
	}
}

// readLine returns the next line including its newline; the last line of the input may have none.
func (rr *refReader) readLine() ([]byte, error) {
	line, err := rr.r.ReadBytes('\n')
	if len(line) > 0 {
		rr.line++
		return line, nil
	}
	return nil, err
}

// nextLine returns the next non-blank line.
func (rr *refReader) nextLine() (Record, error) {
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
