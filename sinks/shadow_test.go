package sinks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// TestShadowAlertsOnlyInShadowIndex: a shadow alert goes to vigil-shadow-<tenant>-<day> (with its own template and
// alias), never to the live index, even when it has the id of a live alert (the same rule id and event).
func TestShadowAlertsOnlyInShadowIndex(t *testing.T) {
	day := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	f := newFakeES(t)
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	live, shadow := testAlert("acme", 1, day), testAlert("acme", 1, day)
	shadow.Shadow = true
	only := testAlert("acme", 2, day)
	only.Shadow = true
	write(t, s, []*vigil.Alert{live, shadow, only})
	if f.doc("vigil-alerts-acme-2026.12.05", live.ID) == nil || f.doc("vigil-shadow-acme-2026.12.05", shadow.ID) == nil ||
		f.doc("vigil-shadow-acme-2026.12.05", only.ID) == nil {
		t.Fatalf("indices %v: want the live alert in vigil-alerts-acme-2026.12.05 and both shadow alerts in vigil-shadow-acme-2026.12.05", f.indices())
	}
	if f.doc("vigil-alerts-acme-2026.12.05", only.ID) != nil {
		t.Fatal("a shadow alert is in the live index")
	}
	var tmpl struct {
		Patterns []string       `json:"index_patterns"`
		Template map[string]any `json:"template"`
	}
	if err := json.Unmarshal(f.template("vigil-shadow"), &tmpl); err != nil || len(tmpl.Patterns) != 1 || tmpl.Patterns[0] != "vigil-shadow-*" {
		t.Fatalf("shadow template: got %s (%v), want index_patterns [vigil-shadow-*]", f.template("vigil-shadow"), err)
	}
	if _, ok := tmpl.Template["mappings"]; !ok {
		t.Fatal("shadow template has no mappings")
	}
}

func TestShadowIndexPrefixMustNotOverlap(t *testing.T) {
	for _, tc := range []struct{ live, shadow, want string }{
		{"vigil-alerts", "vigil-alerts-shadow", "would match"},
		{"vigil", "vigil-shadow", "would match"},
		{"vigil-alerts", "vigil-shadow", ""},
	} {
		cfg := testConfig("http://127.0.0.1:9200")
		cfg.IndexPrefix, cfg.ShadowIndexPrefix = tc.live, tc.shadow
		err := cfg.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s and %s: got %v, want %q", tc.live, tc.shadow, err, tc.want)
		}
	}
}

// TestNotifySkipsShadow: a shadow alert is never sent; the live alert written after it is.
func TestNotifySkipsShadow(t *testing.T) {
	rv := newReceiver(t)
	n := openNotify(t, t.TempDir(), nil, testRoute(rv, "soc"))
	shadow := notifyAlert("shadow-1", "acme", "critical")
	shadow.Shadow = true
	if err := n.Write(context.Background(), []*vigil.Alert{shadow, notifyAlert("live-1", "acme", "critical")}); err != nil {
		t.Fatal(err)
	}
	got := rv.waitDeliveries(t, 1)
	n.Close()
	for _, d := range rv.deliveries() {
		if d.id == "shadow-1" {
			t.Fatalf("the shadow alert was notified: %+v", got)
		}
	}
}
