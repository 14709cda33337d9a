package testenv

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestParseSearch(t *testing.T) {
	got, err := ParseSearch(" opensearch=http://127.0.0.1:39201/ ,elasticsearch=https://es:9200,")
	if err != nil {
		t.Fatal(err)
	}
	want := []SearchEngine{{FlavorOpenSearch, "http://127.0.0.1:39201"}, {FlavorElasticsearch, "https://es:9200"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", ",", "opensearch", "solr=http://x", "opensearch=", "opensearch=127.0.0.1:9200"} {
		if _, err := ParseSearch(bad); err == nil {
			t.Errorf("ParseSearch(%q): no error", bad)
		}
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t, "vigil-test-"), UniqueName(t, "vigil-test-")
	if a == b {
		t.Errorf("two calls gave %q", a)
	}
	if !regexp.MustCompile(`^vigil-test-testuniquename-[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("name %q", a)
	}
	t.Run("Sub Test/with:odd chars", func(t *testing.T) {
		n := UniqueName(t, "p-")
		if !regexp.MustCompile(`^p-testuniquename-sub-test-with-odd-chars-[0-9a-f]{8}$`).MatchString(n) {
			t.Errorf("name %q", n)
		}
	})
}

// fakeTB records Skipf/Fatalf and stops the calling goroutine as testing.T does.
type fakeTB struct {
	testing.TB
	skipped, fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func call(f func(testing.TB) string) (tb *fakeTB, value string) {
	tb = &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		value = f(tb)
	}()
	<-done
	return tb, value
}

func TestMissingVariableSkipsOrFails(t *testing.T) {
	kafka := func(tb testing.TB) string { return Kafka(tb) }

	t.Setenv(EnvKafka, "")
	t.Setenv(EnvRequire, "")
	tb, _ := call(kafka)
	if !strings.Contains(tb.skipped, EnvKafka) || tb.fatal != "" {
		t.Errorf("without %s: skipped %q, fatal %q; want a skip naming the variable", EnvRequire, tb.skipped, tb.fatal)
	}

	t.Setenv(EnvRequire, "1")
	tb, _ = call(kafka)
	if !strings.Contains(tb.fatal, EnvKafka) || tb.skipped != "" {
		t.Errorf("with %s=1: skipped %q, fatal %q; want a failure naming the variable", EnvRequire, tb.skipped, tb.fatal)
	}

	t.Setenv(EnvKafka, "127.0.0.1:39092")
	tb, v := call(kafka)
	if v != "127.0.0.1:39092" || tb.skipped != "" || tb.fatal != "" {
		t.Errorf("set: got %q, skipped %q, fatal %q", v, tb.skipped, tb.fatal)
	}
}
