package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/fields"
	"github.com/vigilsoc/vigil/formats"
	"github.com/vigilsoc/vigil/ingest"
	"github.com/vigilsoc/vigil/rules"
)

// formatFlags are the --format, --parsers and --timezone flags of the commands that read raw records.
type formatFlags struct {
	format, timezone *string
	parsers          *[]string
}

func addFormatFlags(fs *pflag.FlagSet) formatFlags {
	return formatFlags{
		format:   fs.String("format", "json", "record format: json, syslog, cef, leef, kv, hec or lines (docs/formats.md)"),
		timezone: fs.String("timezone", "", "zone of timestamps without one (RFC 3164 syslog); default UTC"),
		parsers:  fs.StringSlice("parsers", nil, "message parser files, applied in order (repeatable, or comma-separated)"),
	}
}

func (f formatFlags) config() formats.Config {
	return formats.Config{Format: *f.format, Timezone: *f.timezone, Parsers: *f.parsers}
}

// cmdParse prints the event each record of a raw file becomes, one JSON object per line: what rules see.
func cmdParse(args []string, io stdio) int {
	fs := newFlags("vigil parse", "vigil parse --format F [--parsers FILE] [--timezone ZONE] [INPUT|-]", io)
	ff := addFormatFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	dec, err := formats.New(ff.config())
	if err != nil {
		fmt.Fprintln(io.err, "vigil parse:", err)
		return 2
	}
	in := io.in
	if path := fs.Arg(0); path != "" && path != "-" {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(io.err, "vigil parse:", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	return printParsed(dec, in, io)
}

// printParsed decodes every record of in and prints it; a record that cannot be decoded is reported with its line.
func printParsed(dec *formats.Decoder, in io.Reader, std stdio) int {
	rr := ingest.NewRecordReader(in, ingest.DefaultMaxRecordBytes)
	if dec.Lines() {
		rr = ingest.NewLineReader(in, ingest.DefaultMaxRecordBytes)
	}
	out := bufio.NewWriter(std.out)
	defer out.Flush()
	code, now := 0, time.Now()
	for {
		rec, err := rr.Next()
		if errors.Is(err, io.EOF) {
			return code
		}
		if err != nil {
			fmt.Fprintln(std.err, "vigil parse:", err)
			return 1
		}
		b, err := parsedJSON(dec, rec, now)
		if err != nil {
			fmt.Fprintf(std.err, "line %d: %v\n", rec.Line, err)
			code = 1
			continue
		}
		out.Write(append(b, '\n'))
	}
}

// parsedJSON is the JSON of the event a record becomes.
func parsedJSON(dec *formats.Decoder, rec ingest.Record, now time.Time) ([]byte, error) {
	if rec.Err != nil {
		return nil, rec.Err
	}
	tree, err := dec.Decode(rec.Data, now)
	if err != nil {
		return nil, err
	}
	defer tree.Release()
	return json.Marshal(tree)
}

// rawTestDecoder decodes the raw records of rule tests (`raw:` with a `format`), with one decoder per format and
// list of parser files; the parser paths are relative to the rule file.
type rawTestDecoder struct {
	decoders map[string]*formats.Decoder
}

func (r *rawTestDecoder) decode(t rules.RuleTest, file string) (fields.Value, error) {
	paths := make([]string, len(t.Parsers))
	for i, p := range t.Parsers {
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(file), p)
		}
		paths[i] = p
	}
	key := t.Format + "\x00" + strings.Join(paths, "\x00")
	dec := r.decoders[key]
	if dec == nil {
		var err error
		if dec, err = formats.New(formats.Config{Format: t.Format, Parsers: paths}); err != nil {
			return fields.Value{}, err
		}
		if r.decoders == nil {
			r.decoders = map[string]*formats.Decoder{}
		}
		r.decoders[key] = dec
	}
	return dec.Decode([]byte(t.Raw), time.Now())
}
