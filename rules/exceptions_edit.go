package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// CheckException reports whether expr is a valid exception in e's environment: it compiles to a bool.
func (e *Env) CheckException(expr string) error {
	_, _, _, err := e.program(expr)
	return err
}

// AppendException appends entry to the list named list in file, creating the list (a new document at the end of
// the file) or the file as needed. The other documents, and the comments the YAML parser keeps, stay; the file is
// replaced in one rename, so a reload never reads half of it.
func AppendException(file, list string, entry ExceptionEntry) error {
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	docs, err := yamlDocuments(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var item yaml.Node
	if err := item.Encode(entry); err != nil {
		return err
	}
	if !appendEntry(docs, list, &item) {
		doc := &yaml.Node{Kind: yaml.DocumentNode}
		if err := doc.Encode(map[string]any{"name": list, "entries": []any{}}); err != nil {
			return err
		}
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{doc}}
		docs = append(docs, doc)
		appendEntry(docs, list, &item)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	if err := enc.Close(); err != nil {
		return err
	}
	return writeFileAtomic(file, out.Bytes())
}

func yamlDocuments(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		doc := &yaml.Node{}
		err := dec.Decode(doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// appendEntry appends item to the entries of the document whose name is list, and reports whether it found it.
func appendEntry(docs []*yaml.Node, list string, item *yaml.Node) bool {
	for _, d := range docs {
		if len(d.Content) == 0 || d.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := d.Content[0]
		if name := mapValue(m, "name"); name == nil || name.Value != list {
			continue
		}
		entries := mapValue(m, "entries")
		if entries == nil || entries.Kind != yaml.SequenceNode {
			entries = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "entries"}, entries)
		}
		entries.Style = 0 // block style, one entry per line group
		entries.Content = append(entries.Content, item)
		return true
	}
	return false
}

func writeFileAtomic(file string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if info, err := os.Stat(file); err == nil {
		os.Chmod(tmp.Name(), info.Mode().Perm())
	} else {
		os.Chmod(tmp.Name(), 0o644)
	}
	return os.Rename(tmp.Name(), file)
}
