package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// STIX 2.1 bundles: the indicator objects whose pattern is one or more equality comparisons joined by OR, on
// ipv4-addr:value, ipv6-addr:value, domain-name:value, url:value or file:hashes.(MD5|SHA-1|SHA-256), are loaded.
// Other indicators (AND, FOLLOWEDBY, qualifiers, other operators or object types, non-STIX pattern types) are skipped
// and counted as Unsupported; revoked indicators are skipped. The provider is the name of the identity in
// created_by_ref, else the file's name; confidence (0-100) becomes ECS's words; valid_until is the expiry; the first
// external reference with a URL is the reference.

// stixObject holds the fields Vigil reads from any STIX object; others are ignored, as STIX allows custom properties.
type stixObject struct {
	Type         string `json:"type"`
	ID           string `json:"id"`
	Name         string `json:"name"`
	Description  string `json:"description"`
	Pattern      string `json:"pattern"`
	PatternType  string `json:"pattern_type"`
	ValidUntil   string `json:"valid_until"`
	Confidence   *int   `json:"confidence"`
	CreatedByRef string `json:"created_by_ref"`
	Revoked      bool   `json:"revoked"`
	ExternalRefs []struct {
		URL string `json:"url"`
	} `json:"external_references"`

	line int
}

// readSTIX reads a STIX 2.1 bundle.
func (b *indicatorBuilder) readSTIX(file string, data []byte) error {
	objects, err := stixObjects(file, data)
	if err != nil {
		return err
	}
	identities := map[string]string{}
	for _, o := range objects {
		if o.Type == "identity" {
			identities[o.ID] = o.Name
		}
	}
	defaultProvider := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	for _, o := range objects {
		if o.Type != "indicator" || o.Revoked {
			continue
		}
		if o.PatternType != "" && o.PatternType != "stix" {
			b.set.Unsupported++
			continue
		}
		cmps, ok := parseSTIXPattern(o.Pattern)
		if !ok {
			b.set.Unsupported++
			continue
		}
		meta, expires, err := b.stixMeta(o, identities, defaultProvider)
		if err != nil {
			return lineErr(file, o.line, "indicator %s: %v", o.ID, err)
		}
		for _, c := range cmps {
			if err := b.add(file, o.line, c.typ, c.value, expires, meta); err != nil {
				return lineErr(file, o.line, "indicator %s: %v", o.ID, errors.Unwrap(err))
			}
		}
	}
	return nil
}

func (b *indicatorBuilder) stixMeta(o stixObject, identities map[string]string, provider string) (uint32, int64, error) {
	if name := identities[o.CreatedByRef]; name != "" {
		provider = name
	}
	m := IndicatorMeta{Provider: provider, Description: o.Description, ID: o.ID}
	if m.Description == "" {
		m.Description = o.Name
	}
	if o.Confidence != nil {
		w, err := confidenceWord(fmt.Sprint(*o.Confidence))
		if err != nil {
			return 0, 0, err
		}
		m.Confidence = w
	}
	for _, r := range o.ExternalRefs {
		if r.URL != "" {
			m.Reference = r.URL
			break
		}
	}
	var expires int64
	if o.ValidUntil != "" {
		t, err := time.Parse(time.RFC3339Nano, o.ValidUntil)
		if err != nil {
			return 0, 0, fmt.Errorf("valid_until %q: want an RFC 3339 time", o.ValidUntil)
		}
		expires = t.Unix()
	}
	return b.meta(m), expires, nil
}

// stixObjects decodes the bundle's objects, recording the line each starts on.
func stixObjects(file string, data []byte) ([]stixObject, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	fail := func(err error) error { return lineErr(file, lineAt(data, dec.InputOffset()), "%v", err) }
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fail(errors.New("want a STIX 2.1 bundle (a JSON object)"))
	}
	var objects []stixObject
	var isBundle bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail(err)
		}
		switch tok {
		case "type":
			var t string
			if err := dec.Decode(&t); err != nil {
				return nil, fail(err)
			}
			isBundle = t == "bundle"
		case "objects":
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return nil, fail(errors.New("objects: want an array"))
			}
			for dec.More() {
				line := lineAt(data, dec.InputOffset())
				var o stixObject
				if err := dec.Decode(&o); err != nil {
					return nil, lineErr(file, line, "%v", err)
				}
				o.line = line
				objects = append(objects, o)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fail(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fail(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(err)
	}
	if !isBundle {
		return nil, lineErr(file, 1, `want a STIX 2.1 bundle ("type": "bundle")`)
	}
	return objects, nil
}

// stixComparison is one `object:path = 'value'` comparison, as an indicator type name and value.
type stixComparison struct {
	typ, value string
}

// stixPaths maps the supported object paths to indicator type names (see indicatorTypes).
var stixPaths = map[string]string{
	"ipv4-addr:value": "ipv4", "ipv6-addr:value": "ipv6", "domain-name:value": "domain", "url:value": "url",
	"file:hashes.md5": "md5", "file:hashes.'md5'": "md5",
	"file:hashes.sha1": "sha1", "file:hashes.'sha1'": "sha1", "file:hashes.'sha-1'": "sha1",
	"file:hashes.sha256": "sha256", "file:hashes.'sha256'": "sha256", "file:hashes.'sha-256'": "sha256",
}

// parseSTIXPattern accepts `[a = 'x' OR b = 'y'] OR [c = 'z']` with supported paths and nothing else.
func parseSTIXPattern(p string) ([]stixComparison, bool) {
	toks, ok := stixTokens(p)
	if !ok {
		return nil, false
	}
	var out []stixComparison
	i := 0
	for {
		if i >= len(toks) || toks[i] != "[" {
			return nil, false
		}
		i++
		for {
			if i+3 > len(toks) || toks[i+1] != "=" || !strings.HasPrefix(toks[i+2], "'") {
				return nil, false
			}
			typ, ok := stixPaths[strings.ToLower(toks[i])]
			if !ok {
				return nil, false
			}
			out = append(out, stixComparison{typ, toks[i+2][1:]})
			i += 3
			if i < len(toks) && toks[i] == "OR" {
				i++
				continue
			}
			break
		}
		if i >= len(toks) || toks[i] != "]" {
			return nil, false
		}
		i++
		if i == len(toks) {
			return out, true
		}
		if toks[i] != "OR" {
			return nil, false
		}
		i++
	}
}

// stixTokens splits a pattern into brackets, '=', words (paths and keywords) and string literals; a string literal
// token keeps its opening quote to tell it from a word, and has its escapes resolved. Paths may contain quoted
// parts (file:hashes.'SHA-256'), which stay in the path token.
func stixTokens(p string) ([]string, bool) {
	var toks []string
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '[' || c == ']' || c == '=':
			toks = append(toks, string(c))
			i++
		case c == '\'':
			var b strings.Builder
			b.WriteByte('\'')
			i++
			for ; i < len(p) && p[i] != '\''; i++ {
				if p[i] == '\\' && i+1 < len(p) {
					i++
				}
				b.WriteByte(p[i])
			}
			if i >= len(p) {
				return nil, false
			}
			i++
			toks = append(toks, b.String())
		default:
			start := i
			for i < len(p) && !strings.ContainsRune(" \t\r\n[]=", rune(p[i])) {
				if p[i] == '\'' { // a quoted path component
					end := strings.IndexByte(p[i+1:], '\'')
					if end < 0 {
						return nil, false
					}
					i += end + 2
					continue
				}
				i++
			}
			toks = append(toks, p[start:i])
		}
	}
	return toks, true
}
