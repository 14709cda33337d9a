package sinks

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/vigilsoc/vigil"
)

// Reading dead letters back, for `vigil deadletters`: the letters of a queue as they were parked, each with an ID
// that locates it in its queue. Readers never change the queue.

// ParkedLetter is a dead letter read back from its queue.
type ParkedLetter struct {
	// ID locates the letter in its queue: "topic/partition/offset" in a Kafka queue, "path:line" in a file.
	ID string
	// DeadLetter is the letter as it was parked: kind, reason, detail, payload, origin and tenant.
	vigil.DeadLetter
	// Parked is when the letter was written to the queue.
	Parked time.Time
	// Truncated is the payload's original length when the queue cut it (KafkaDeadLetterConfig.MaxPayloadBytes),
	// else 0: the payload then holds only the first bytes of the record.
	Truncated int
	// Fields are the letter's stored fields but the payload, in order: a Kafka record's headers, a file line's JSON
	// members (nested ones as "origin.topic").
	Fields []LetterField
}

// LetterField is one stored field of a dead letter.
type LetterField struct {
	Key, Value string
}

// FileLetterID is the ID of the letter on line (counted from 1) of the dead-letter file path.
func FileLetterID(path string, line int64) string {
	return path + ":" + strconv.FormatInt(line, 10)
}

// fileLetter is a line of a dead-letter file (DeadLetterDoc).
type fileLetter struct {
	Timestamp     string         `json:"@timestamp"`
	Kind          string         `json:"kind"`
	Reason        string         `json:"reason"`
	Detail        string         `json:"detail"`
	Tenant        string         `json:"tenant"`
	Origin        fileLetterOrig `json:"origin"`
	Payload       *string        `json:"payload"`
	PayloadBase64 []byte         `json:"payload_base64"`
}

type fileLetterOrig struct {
	Source    string `json:"source"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
	File      string `json:"file"`
	Line      int64  `json:"line"`
	Time      string `json:"time"`
}

// ReadDeadLetterFile calls fn with each letter of a dead-letter file written by DeadLetterFile, in file order,
// until fn returns an error (returned as it is; io.EOF stops without an error). A line that holds no letter (the
// rest of a write torn by a crash) is skipped and counted in skipped.
func ReadDeadLetterFile(path string, fn func(*ParkedLetter) error) (skipped int, err error) {
	_, err = scanLines(path, func(n int64, line []byte) error {
		l, ok := parseFileLetter(line)
		if !ok {
			skipped++
			return nil
		}
		l.ID = FileLetterID(path, n)
		return fn(l)
	})
	return skipped, err
}

// ReadDeadLetterFileLine returns the letter on line n of a dead-letter file, or an error saying why there is none.
func ReadDeadLetterFileLine(path string, n int64) (*ParkedLetter, error) {
	var found *ParkedLetter
	lines, err := scanLines(path, func(i int64, line []byte) error {
		if i < n {
			return nil
		}
		l, ok := parseFileLetter(line)
		if !ok {
			return fmt.Errorf("line %d of %s holds no dead letter (the rest of a torn write?)", n, path)
		}
		l.ID = FileLetterID(path, n)
		found = l
		return io.EOF
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("no letter %s: the file has %d lines", FileLetterID(path, n), lines)
	}
	return found, nil
}

// scanLines calls fn with every line of a file and its number (from 1), until fn returns an error: io.EOF stops
// the scan without an error. It returns the number of lines read.
func scanLines(path string, fn func(n int64, line []byte) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("dead-letter file: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var n int64
	for {
		line, rerr := r.ReadBytes('\n')
		if len(line) > 0 {
			n++
			if err := fn(n, line); errors.Is(err, io.EOF) {
				return n, nil
			} else if err != nil {
				return n, err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("dead-letter file %s: %w", path, rerr)
		}
	}
}

// parseFileLetter decodes one line of a dead-letter file; ok is false when the line holds no letter.
func parseFileLetter(line []byte) (l *ParkedLetter, ok bool) {
	var d fileLetter
	if err := json.Unmarshal(line, &d); err != nil || d.Kind == "" && d.Reason == "" {
		return nil, false
	}
	l = &ParkedLetter{DeadLetter: vigil.DeadLetter{Kind: d.Kind, Reason: d.Reason, Detail: d.Detail, Tenant: d.Tenant,
		Origin: vigil.Origin{Source: d.Origin.Source, Topic: d.Origin.Topic, Partition: d.Origin.Partition,
			Offset: d.Origin.Offset, File: d.Origin.File, Line: d.Origin.Line}}}
	l.Parked, _ = time.Parse(time.RFC3339Nano, d.Timestamp)
	l.Origin.Time, _ = time.Parse(time.RFC3339Nano, d.Origin.Time)
	if d.Payload != nil {
		l.Payload = []byte(*d.Payload)
	} else {
		l.Payload = d.PayloadBase64
	}
	add := func(k, v string) {
		if v != "" {
			l.Fields = append(l.Fields, LetterField{k, v})
		}
	}
	add("@timestamp", d.Timestamp)
	add("kind", d.Kind)
	add("reason", d.Reason)
	add("detail", d.Detail)
	add("tenant", d.Tenant)
	add("origin.source", d.Origin.Source)
	if o := d.Origin; o.Topic != "" {
		add("origin.topic", o.Topic)
		add("origin.partition", strconv.Itoa(o.Partition))
		add("origin.offset", strconv.FormatInt(o.Offset, 10))
	} else if o.File != "" {
		add("origin.file", o.File)
		add("origin.line", strconv.FormatInt(o.Line, 10))
	}
	add("origin.time", d.Origin.Time)
	return l, true
}
