package enrich

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsoc/vigil"
)

// oneBatch is a source that yields its events once.
type oneBatch struct {
	events []*vigil.Event
	done   bool
}

func (s *oneBatch) Read(ctx context.Context) ([]*vigil.Event, vigil.AckFunc, error) {
	if s.done {
		return nil, nil, io.EOF
	}
	s.done = true
	return s.events, func(context.Context) error { return nil }, nil
}

func (s *oneBatch) Close() error { return nil }

// alertPerEvent turns every event into an alert whose document is the event's fields.
type alertPerEvent struct{}

func (alertPerEvent) Detect(ev *vigil.Event, dst []*vigil.Alert) []*vigil.Alert {
	return append(dst, &vigil.Alert{Tenant: ev.Tenant, Doc: ev.Fields.Map(), Event: ev})
}

type collectSink struct {
	mu     sync.Mutex
	alerts []*vigil.Alert
}

func (s *collectSink) Write(ctx context.Context, alerts []*vigil.Alert) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alerts = append(s.alerts, alerts...)
	return nil
}

func (s *collectSink) Close() error { return nil }

type failing struct{}

func (failing) Name() string                               { return "broken" }
func (failing) Enrich(context.Context, *vigil.Alert) error { return errors.New("table corrupt") }

// stuck waits for its context, as an enricher blocked on something would if it honoured the timeout.
type stuck struct{}

func (stuck) Name() string { return "slow" }
func (stuck) Enrich(ctx context.Context, _ *vigil.Alert) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestPipelineFailOpen runs the real pipeline with a failing and a timing-out enricher around the real ones: every
// alert is still written, with the real enrichments and the names of the skipped enrichers.
func TestPipelineFailOpen(t *testing.T) {
	geo := newTestGeoIP(t)
	ti := newTestThreatIntel(t, map[string]string{"feed.csv": testIndicatorsCSV})
	var events []*vigil.Event
	for range 3 {
		events = append(events, eventFrom(t, "acme", `{"destination": {"ip": "203.0.113.7"}}`))
	}
	sink := &collectSink{}
	p := &vigil.Pipeline{Source: &oneBatch{events: events}, Detector: alertPerEvent{}, Sink: sink,
		Enrichers: []vigil.Enricher{failing{}, geo, ti, stuck{}}, EnrichTimeout: 20 * time.Millisecond}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.alerts) != 3 {
		t.Fatalf("got %d alerts, want 3", len(sink.alerts))
	}
	for _, a := range sink.alerts {
		got := toJSON(a.Doc)
		for _, want := range []string{`"skipped":["broken","slow"]`, `"country_iso_code":"XR"`, `"atomic":"203.0.113.7"`} {
			if !strings.Contains(got, want) {
				t.Errorf("got %s, want it to contain %s", got, want)
			}
		}
	}
	if got := p.Stats.EnrichSkips.Load(); got != 6 {
		t.Errorf("got %d skips counted, want 6", got)
	}
}

func TestCollector(t *testing.T) {
	geo := newTestGeoIP(t)
	ti := newTestThreatIntel(t, map[string]string{"feed.csv": testIndicatorsCSV})
	ti.Skipped.Add(2)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(append(geo.Tables(), ti.Tables()...), geo, nil, ti))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName() + "{" + m.GetLabel()[0].GetValue() + "}"
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"vigil_enrich_skipped_total{geoip}":                  0,
		"vigil_enrich_skipped_total{threat_intel}":           2,
		"vigil_enrich_table_entries{threat_intel}":           12,
		"vigil_enrich_table_loads_total{geoip.city}":         1,
		"vigil_enrich_table_load_errors_total{threat_intel}": 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: got %v (present %v), want %v", k, g, ok, v)
		}
	}
	if got["vigil_enrich_table_loaded_timestamp_seconds{geoip.asn}"] < 1e9 {
		t.Errorf("got no load time for geoip.asn: %v", got)
	}
}
