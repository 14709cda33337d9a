package formats

import (
	"fmt"
	"regexp"
	"strings"
)

// pattern extracts named values from a text: a dissect pattern or an RE2 expression.
type pattern interface {
	// extract appends the captured (field, text) pairs to dst; ok is false when the text does not match.
	extract(text string, dst []capture) ([]capture, bool)
}

type capture struct{ field, text string }

// dissect is a dissect pattern: literal text and %{field} placeholders. A placeholder takes the text up to the next
// literal (or the rest of the text when it is last); %{} and %{?name} match without keeping the text; %{field->}
// also skips repetitions of the literal after it (padding such as two spaces). The whole text must match.
type dissect struct {
	prefix string
	keys   []dissectKey
}

type dissectKey struct {
	field   string // "" to skip
	literal string // the text after the placeholder, up to the next one
	padded  bool
}

// compileDissect parses a dissect pattern.
func compileDissect(p string) (*dissect, error) {
	d := &dissect{}
	first := strings.Index(p, "%{")
	if first < 0 {
		return nil, fmt.Errorf("dissect %q: no %%{field} placeholder", p)
	}
	d.prefix, p = p[:first], p[first:]
	for p != "" {
		end := strings.IndexByte(p, '}')
		if end < 0 {
			return nil, fmt.Errorf("dissect: unclosed %%{ in %q", p)
		}
		k := dissectKey{field: p[2:end]}
		if strings.HasSuffix(k.field, "->") {
			k.field, k.padded = strings.TrimSuffix(k.field, "->"), true
		}
		if strings.HasPrefix(k.field, "?") {
			k.field = ""
		}
		p = p[end+1:]
		next := strings.Index(p, "%{")
		if next < 0 {
			next = len(p)
		}
		k.literal, p = p[:next], p[next:]
		if k.literal == "" && p != "" {
			return nil, fmt.Errorf("dissect: placeholders %%{%s} and the next one need literal text between them", k.field)
		}
		d.keys = append(d.keys, k)
	}
	return d, nil
}

func (d *dissect) extract(s string, dst []capture) ([]capture, bool) {
	if !strings.HasPrefix(s, d.prefix) {
		return dst, false
	}
	pos := len(d.prefix)
	for _, k := range d.keys {
		var value string
		if k.literal == "" {
			value, pos = s[pos:], len(s)
		} else {
			i := strings.Index(s[pos:], k.literal)
			if i < 0 {
				return dst, false
			}
			value, pos = s[pos:pos+i], pos+i+len(k.literal)
			for k.padded && strings.HasPrefix(s[pos:], k.literal) {
				pos += len(k.literal)
			}
		}
		if k.field != "" {
			dst = append(dst, capture{k.field, value})
		}
	}
	return dst, pos == len(s)
}

// re is an RE2 pattern whose named groups name fields. Go's group names cannot hold dots, so (?P<source.ip>...) and
// (?<source.ip>...) are renamed before compiling.
type re struct {
	rx     *regexp.Regexp
	fields []string // by group index; "" for unnamed groups
}

var groupName = regexp.MustCompile(`\(\?P?<([^>]+)>`)

// compileRegex compiles a pattern with named groups.
func compileRegex(p string) (*re, error) {
	var names []string
	renamed := groupName.ReplaceAllStringFunc(p, func(m string) string {
		names = append(names, groupName.FindStringSubmatch(m)[1])
		return fmt.Sprintf("(?P<g%d>", len(names)-1)
	})
	rx, err := regexp.Compile(renamed)
	if err != nil {
		return nil, fmt.Errorf("regex: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("regex %q: no named group (?P<field>...)", p)
	}
	r := &re{rx: rx, fields: make([]string, rx.NumSubexp()+1)}
	for i, n := range rx.SubexpNames() {
		var j int
		if _, err := fmt.Sscanf(n, "g%d", &j); err == nil && j < len(names) {
			r.fields[i] = names[j]
		}
	}
	return r, nil
}

func (r *re) extract(s string, dst []capture) ([]capture, bool) {
	m := r.rx.FindStringSubmatchIndex(s)
	if m == nil {
		return dst, false
	}
	for i, f := range r.fields {
		if f != "" && m[2*i] >= 0 {
			dst = append(dst, capture{f, s[m[2*i]:m[2*i+1]]})
		}
	}
	return dst, true
}
