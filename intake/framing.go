package intake

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// errFrameTooLong is a syslog message over limits.max_line_bytes; it was skipped, and the stream goes on.
type errFrameTooLong struct{ n int }

func (e *errFrameTooLong) Error() string {
	return fmt.Sprintf("syslog message longer than limits.max_line_bytes (%d bytes)", e.n)
}

// readFrame reads one syslog message with RFC 6587 framing: octet counting ("123 <34>1 ...") when the frame
// starts with a digit, else up to the next LF. Blank lines give an empty message.
func readFrame(br *bufio.Reader, max int) ([]byte, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	if counted(br) {
		return readCounted(br, max)
	}
	return readLine(br, max)
}

// counted says whether the next frame starts with a length: up to 10 digits, the first not 0, then a space. A
// line that starts with a digit but no such length (a bare timestamp) is read as a line.
func counted(br *bufio.Reader) bool {
	head, _ := br.Peek(11)
	for i, c := range head {
		switch {
		case c == ' ':
			return i > 0
		case c < '0' || c > '9' || (i == 0 && c == '0'):
			return false
		}
	}
	return false
}

// readCounted reads "LEN SP MSG".
func readCounted(br *bufio.Reader, max int) ([]byte, error) {
	head, err := br.ReadSlice(' ')
	if err != nil {
		return nil, fmt.Errorf("syslog octet counting: %w", err)
	}
	n, err := strconv.Atoi(string(head[:len(head)-1]))
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("syslog octet counting: bad length %q", head)
	}
	if n > max {
		if _, err := br.Discard(n); err != nil {
			return nil, err
		}
		return nil, &errFrameTooLong{max}
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		return nil, err
	}
	return bytes.TrimRight(msg, "\r\n"), nil
}

// readLine reads up to LF; a longer line than max is skipped to its end.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > max+2 { // the line ending does not count
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			if err != nil {
				return nil, err
			}
			return nil, &errFrameTooLong{max}
		}
		line = append(line, chunk...)
		switch err {
		case nil:
			return bytes.TrimRight(line, "\r\n"), nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(line) > 0 {
				return bytes.TrimRight(line, "\r\n"), nil
			}
		}
		return nil, err
	}
}
