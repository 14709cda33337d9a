package enrich

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/fields"
)

// TestAddedAndMatchFields: a reload's new indicators only (same type and value as before: not new), with their
// metadata, found in an event's fields.
func TestAddedAndMatchFields(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	now := time.Now()
	before, err := LoadIndicators([]string{write("old.csv", "type,value,provider\nip,198.51.100.7,feed-a\ndomain,evil.example,feed-a\n")}, now)
	if err != nil {
		t.Fatal(err)
	}
	after, err := LoadIndicators([]string{write("new.csv", "type,value,provider\nip,198.51.100.7,feed-a\ndomain,evil.example,feed-a\n"+
		"ip,203.0.113.0/24,feed-b\nsha256,"+sha256Hex+",feed-b\ndomain,bad.example,feed-b\n")}, now)
	if err != nil {
		t.Fatal(err)
	}
	added := after.Added(before, now)
	if added.Len() != 3 {
		t.Fatalf("added: got %d indicators, want 3", added.Len())
	}
	if all := after.Added(nil, now); all.Len() != after.Len() {
		t.Errorf("added to nothing: got %d, want %d", all.Len(), after.Len())
	}
	ti := NewThreatIntelOf(added, nil)
	ev, err := fields.Parse([]byte(`{"source":{"ip":"203.0.113.9"},"destination":{"ip":"198.51.100.7"},` +
		`"dns":{"question":{"name":"www.bad.example"}},"file":{"hash":{"sha256":"` + sha256Hex + `"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ti.MatchFields(ev) {
		got = append(got, m.Field+"="+m.Indicator.Value+"/"+m.Indicator.Meta.Provider)
	}
	slices.Sort(got)
	want := []string{"dns.question.name=bad.example/feed-b", "file.hash.sha256=" + sha256Hex + "/feed-b", "source.ip=203.0.113.0/24/feed-b"}
	if !slices.Equal(got, want) {
		t.Errorf("matches:\n got %v\nwant %v (198.51.100.7 was known before: not searched)", got, want)
	}
}

const sha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
