package enrich

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

// Helpers shared by the table formats.

// readCSV reads a CSV file with a header row; blank lines and lines starting with # are skipped. Every header must be
// one of known; required must be present. row receives each record's line and its values by column name.
func readCSV(file string, data []byte, known []string, required string, row func(line int, col map[string]string) error) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return csvErr(file, err)
	}
	names := make([]string, len(header))
	seenRequired := false
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !contains(known, h) {
			return lineErr(file, 1, "unknown column %q (want %s)", h, strings.Join(known, ", "))
		}
		names[i] = h
		seenRequired = seenRequired || h == required
	}
	if !seenRequired {
		return lineErr(file, 1, "no %q column", required)
	}
	col := make(map[string]string, len(names))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return csvErr(file, err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(names) {
			return lineErr(file, line, "%d fields, want %d as in the header", len(rec), len(names))
		}
		for i, v := range rec {
			col[names[i]] = v
		}
		if err := row(line, col); err != nil {
			return err
		}
	}
}

func csvErr(file string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return lineErr(file, pe.Line, "%v", pe.Err)
	}
	return &FileError{File: file, Err: err}
}

// lineAt is the 1-based line of a byte offset, skipping the whitespace that follows it.
func lineAt(data []byte, off int64) int {
	off = min(off, int64(len(data)))
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,", data[off]) >= 0 {
		off++
	}
	return bytes.Count(data[:min(off, int64(len(data)))], []byte("\n")) + 1
}
