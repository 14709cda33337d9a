package main

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExampleConfigIsComplete checks that configs/vigil.example.yaml parses strictly and validates, and that it shows
// every option of the configuration structs, so the reference cannot fall behind the code.
func TestExampleConfigIsComplete(t *testing.T) {
	const path = "../../configs/vigil.example.yaml"
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("the example configuration does not load: %v", err)
	}
	if len(cfg.Sources) == 0 || len(cfg.Sinks) == 0 {
		t.Fatalf("got %d sources and %d sinks, want some of each", len(cfg.Sources), len(cfg.Sinks))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = expandEnv(data); err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	collectKeys(root.Content[0], "", shown)
	var missing []string
	for _, k := range structKeys(reflect.TypeOf(Config{}), "") {
		if !shown[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("configs/vigil.example.yaml does not show these options:\n  %s", strings.Join(missing, "\n  "))
	}
}

// collectKeys records the dotted paths of every mapping key; list items share their list's path.
func collectKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := prefix + n.Content[i].Value
			out[k] = true
			collectKeys(n.Content[i+1], k+".", out)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			collectKeys(c, prefix, out)
		}
	}
}

// structKeys lists the dotted yaml paths of a configuration type's fields.
func structKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() == "time" {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			out = append(out, structKeys(f.Type, prefix)...)
			continue
		}
		if name == "" {
			continue
		}
		out = append(out, prefix+name)
		if f.Type.Kind() != reflect.Map {
			out = append(out, structKeys(f.Type, prefix+name+".")...)
		}
	}
	return out
}
