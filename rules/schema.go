package rules

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed schema/windows-flat.txt schema/winlogbeat.txt
var schemaFiles embed.FS

// customPrefixes are the objects a SOC fills with fields of its own, known to every schema: Vigil's (vigil.*, which
// enrichment writes) and ECS labels.
var customPrefixes = [...]string{"vigil.*", "labels.*"}

// Schema is a set of known event field names. `vigil rules validate` warns about a field that a condition reads and
// no known schema has, since a misspelt field never matches and its rule never fires. A Schema is built once and
// then only read; it is safe for concurrent reads.
type Schema struct {
	// fields holds every known field and every object above one ("process.parent.name" adds "process.parent" and
	// "process").
	fields map[string]bool
	// open are the objects whose fields are all known, with a trailing dot ("labels.").
	open []string
}

// NewSchema returns a schema of the given names (see Add).
func NewSchema(names ...string) *Schema {
	s := &Schema{fields: map[string]bool{}}
	s.Add(names...)
	return s
}

// DefaultSchema is what Vigil knows without a schema file: ECS, the Windows fields of Elastic's shippers (winlog.*),
// flat Windows events as Sigma names their fields, and the objects a SOC fills itself (vigil.*, labels.*).
func DefaultSchema() *Schema {
	s := NewSchema(ecsFields()...)
	for _, name := range []string{"schema/windows-flat.txt", "schema/winlogbeat.txt"} {
		data, err := schemaFiles.ReadFile(name)
		if err != nil {
			panic(err) // embedded: cannot fail
		}
		names, err := ParseSchema(name, data)
		if err != nil {
			panic(err) // the embedded files are tested
		}
		s.Add(names...)
	}
	s.Add(customPrefixes[:]...)
	return s
}

// LoadSchema returns DefaultSchema with the names of the schema files added (see ParseSchema).
func LoadSchema(files ...string) (*Schema, error) {
	s := DefaultSchema()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("rules: schema: %w", err)
		}
		names, err := ParseSchema(f, data)
		if err != nil {
			return nil, fmt.Errorf("rules: schema %w", err)
		}
		s.Add(names...)
	}
	return s, nil
}

// Add adds field names. A name ending in ".*" opens an object: every field under it is known.
func (s *Schema) Add(names ...string) {
	for _, n := range names {
		if obj, ok := strings.CutSuffix(n, ".*"); ok {
			if !slices.Contains(s.open, obj+".") {
				s.open = append(s.open, obj+".")
			}
			n = obj
		}
		for n != "" && !s.fields[n] {
			s.fields[n] = true
			i := strings.LastIndexByte(n, '.')
			if i < 0 {
				break
			}
			n = n[:i]
		}
	}
}

// Known reports whether path is a known field, an object holding one, or a field under an open object.
func (s *Schema) Known(path string) bool {
	if s.fields[path] {
		return true
	}
	for _, o := range s.open {
		if strings.HasPrefix(path, o) {
			return true
		}
	}
	return false
}

// Suggest returns the known name closest to path, of those in s and in extra, or "" when none is close: a name
// that differs only in case, else the one fewest edits away (at most a third of its length, and at least two).
func (s *Schema) Suggest(path string, extra map[string]bool) string {
	best, bestDist := "", max(2, len(path)/3)+1
	lower := strings.ToLower(path)
	consider := func(name string) {
		if strings.ToLower(name) == lower {
			if bestDist > 0 || name < best {
				best, bestDist = name, 0
			}
			return
		}
		if d := editDistance(path, name); d < bestDist || d == bestDist && name < best {
			best, bestDist = name, d
		}
	}
	for name := range s.fields {
		consider(name)
	}
	for name := range extra {
		consider(name)
	}
	return best
}

// ParseSchema reads a schema file: a YAML list of field names, or a text file of one name per line with `#`
// comments. A name ending in ".*" opens an object (`zeek.*`: every field under zeek is known). Names are event
// paths as conditions write them, dot-separated, without spaces.
func ParseSchema(file string, data []byte) ([]string, error) {
	var list []string
	if err := yaml.Unmarshal(data, &list); err == nil && len(list) > 0 {
		for i, n := range list {
			if err := checkSchemaName(n); err != nil {
				return nil, fmt.Errorf("%s: entry %d: %w", file, i+1, err)
			}
		}
		return list, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		n, _, _ := strings.Cut(sc.Text(), "#")
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if err := checkSchemaName(n); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, line, err)
		}
		list = append(list, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return list, nil
}

func checkSchemaName(n string) error {
	switch {
	case n == "" || strings.ContainsAny(n, " \t"):
		return fmt.Errorf("field name %q: want a dotted path without spaces", n)
	case strings.HasPrefix(n, ".") || strings.HasSuffix(strings.TrimSuffix(n, ".*"), ".") ||
		strings.Contains(strings.TrimSuffix(n, ".*"), "*") || strings.Contains(n, ".."):
		return fmt.Errorf("field name %q: want a dotted path, or an object and .* (labels.*)", n)
	}
	return nil
}
