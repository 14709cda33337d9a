package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

func TestNotifyConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"without block", `sinks: [{type: notify}]`, "sinks[0]: type notify needs a notify block"},
		{"unknown key", `sinks: [{type: notify, notify: {routes: [{name: a, url: "http://h", severity: high}]}}]`,
			"field severity not found"},
		{"bad route", `sinks: [{type: notify, notify: {routes: [{name: a, url: "http://h", shape: email}]}}]`,
			`sinks[0]: notify: routes[0] (a): shape: unknown shape "email"`},
		{"unknown tenant", `sinks: [{type: notify, notify: {routes: [{name: a, url: "http://h", tenants: [initech]}]}}]`,
			`sinks[0]: notify: routes[0].tenants: "initech" is not in tenants`},
		{"shared dir", `sinks: [{type: notify, notify: {routes: [{name: a, url: "http://h"}]}}, {type: notify, notify: {dir: ./notify, routes: [{name: b, url: "http://h"}]}}]`,
			`sinks[1]: notify.dir: "notify" is also sinks[0]'s`},
		{"url from an unset variable", `sinks: [{type: notify, notify: {routes: [{name: a, url: "${VIGIL_TEST_UNSET_WEBHOOK}"}]}}]`,
			"VIGIL_TEST_UNSET_WEBHOOK"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			text := "rules: {paths: [r]}\ntenants: [acme]\nsources: [{type: file, file: {paths: [x], tenant: acme}}]\n" + tc.yaml + "\n"
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want an error naming %s and containing %q", err, path, tc.want)
			}
		})
	}
}

// TestNotifyConfigErrorLines: a validation error names the line of the route (or sink) it is about.
func TestNotifyConfigErrorLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	text := `rules: {paths: [r]}
sources: [{type: file, file: {paths: [x], tenant: acme}}]
sinks:
  - type: stdout
  - type: notify
    notify:
      routes:
        - name: ok
          url: http://h
        - name: bad
          url: http://h
          min_severity: urgent
  - type: notify
`
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(path)
	for _, want := range []string{`line 10: sinks[1]: notify: routes[1] (bad): min_severity: "urgent"`,
		"line 13: sinks[2]: type notify needs a notify block"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want an error containing %q", err, want)
		}
	}
}

// TestNotifySinkWired builds a configured notify sink as `vigil run` does: the alert reaches the webhook, and the
// sink's metrics are in the registry.
func TestNotifySinkWired(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("X-Vigil-Alert-Id")
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "c.yaml")
	t.Setenv("VIGIL_TEST_WEBHOOK", srv.URL+"/hook")
	text := "rules: {paths: [r]}\nsources: [{type: file, file: {paths: [x], tenant: acme}}]\n" +
		"sinks: [{type: notify, notify: {dir: " + filepath.Join(t.TempDir(), "q") + ", routes: [{name: soc, url: \"${VIGIL_TEST_WEBHOOK}\", min_severity: low}]}}]\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	fanout, err := buildSinks(context.Background(), cfg.Sinks, nil, stdio{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer fanout.Close()
	mon := newMonitor(log)
	sink := mon.sinks(fanout, cfg.Sinks)
	alert := &vigil.Alert{ID: "a1", Tenant: "acme", Doc: map[string]any{"vigil": map[string]any{"alert": map[string]any{"severity": "low"}}}}
	if err := sink.Write(context.Background(), []*vigil.Alert{alert}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != "a1" {
			t.Errorf("got alert id %q, want a1", id)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("got no webhook request after 20s, want one")
	}
	families, err := mon.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "vigil_notify_") {
			names = append(names, f.GetName())
		}
	}
	if len(names) != 8 {
		t.Errorf("got notify metrics %v, want 8 families", names)
	}
}
