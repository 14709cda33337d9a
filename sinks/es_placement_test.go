package sinks

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// testClock is a clock the test sets; the sink reads it from its workers.
type testClock struct{ ns atomic.Int64 }

func newTestClock(t time.Time) *testClock {
	c := &testClock{}
	c.set(t)
	return c
}

func (c *testClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// createdAlert is testAlert with its own time at event and its @timestamp (creation) at created.
func createdAlert(tenant string, i int, event, created time.Time) *vigil.Alert {
	a := testAlert(tenant, i, event)
	a.Doc["@timestamp"] = created.UTC().Format(time.RFC3339Nano)
	vigil.Object(vigil.Object(a.Doc, "vigil"), "alert")["original_time"] = event.UTC().Format(time.RFC3339Nano)
	return a
}

// TestElasticsearchIndexDayIsBounded: the event's time chooses the daily index only within event_time_window
// around the alert's reference time; outside it, the alert goes to the index of its reference day, marked, with its
// original time kept, so made-up dates cannot create indices for every day from year 1 to 9999.
func TestElasticsearchIndexDayIsBounded(t *testing.T) {
	created := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	const today = "vigil-alerts-acme-2026.12.05"
	kafka := func(a *vigil.Alert, recordTime time.Time) *vigil.Alert {
		a.Event.Origin.Topic, a.Event.Origin.Time = "partner.acme", recordTime
		return a
	}
	tests := []struct {
		name      string
		alert     *vigil.Alert
		wantIndex string
		wantOut   bool
	}{
		{"yesterday's event", createdAlert("acme", 1, created.Add(-24*time.Hour), created), "vigil-alerts-acme-2026.12.04", false},
		{"29 days ago", createdAlert("acme", 2, created.Add(-29*24*time.Hour), created), "vigil-alerts-acme-2026.11.06", false},
		{"30 days ago exactly: inside", createdAlert("acme", 3, created.Add(-30*24*time.Hour), created), "vigil-alerts-acme-2026.11.05", false},
		{"30 days and a second ago", createdAlert("acme", 4, created.Add(-30*24*time.Hour-time.Second), created), today, true},
		{"23 hours ahead", createdAlert("acme", 5, created.Add(23*time.Hour), created), "vigil-alerts-acme-2026.12.06", false},
		{"25 hours ahead", createdAlert("acme", 6, created.Add(25*time.Hour), created), today, true},
		{"year 1", createdAlert("acme", 7, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), created), today, true},
		{"year -1", createdAlert("acme", 8, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), created), today, true},
		{"year 9999", createdAlert("acme", 9, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), created), today, true},
		{"no time at all", createdAlert("acme", 10, time.Time{}, created), today, true},
		// A consumer 20 days behind: the record reached Kafka 20 days before the alert was created, so the window
		// is around that, and a replay any day later decides the same way.
		{"Kafka record time is the reference", kafka(createdAlert("acme", 11, created.Add(-45*24*time.Hour), created), created.Add(-20*24*time.Hour)),
			"vigil-alerts-acme-2026.10.21", false},
		{"out of the window around the Kafka time: its day", kafka(createdAlert("acme", 12, created.Add(-55*24*time.Hour), created), created.Add(-20*24*time.Hour)),
			"vigil-alerts-acme-2026.11.15", true},
		{"a record time far from the creation is not trusted", kafka(createdAlert("acme", 13, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), created), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)),
			today, true},
	}
	f := newFakeES(t)
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	s.now = newTestClock(created.Add(5 * time.Minute)).Now
	var alerts []*vigil.Alert
	for _, tt := range tests {
		alerts = append(alerts, tt.alert)
	}
	write(t, s, alerts)
	outs := 0
	for _, tt := range tests {
		doc := f.doc(tt.wantIndex, tt.alert.ID)
		if doc == nil {
			t.Errorf("%s: alert not in %s; indices: %v", tt.name, tt.wantIndex, f.indices())
			continue
		}
		if got := docPath(doc, "vigil", "alert", "time_out_of_range"); tt.wantOut != (got == true) {
			t.Errorf("%s: vigil.alert.time_out_of_range: got %v, want %v", tt.name, got, tt.wantOut)
		}
		if got, want := docPath(doc, "vigil", "alert", "original_time"), tt.alert.Time.UTC().Format(time.RFC3339Nano); got != want {
			t.Errorf("%s: vigil.alert.original_time: got %v, want %s", tt.name, got, want)
		}
		if tt.wantOut {
			outs++
		}
		if _, marked := vigil.Get(tt.alert.Doc, "vigil", "alert", "time_out_of_range").(bool); marked {
			t.Errorf("%s: the alert's own document was modified (other sinks share it)", tt.name)
		}
	}
	if got := s.Stats.OutOfRange.Load(); got != int64(outs) {
		t.Errorf("out of range: got %d, want %d", got, outs)
	}
	if n := len(f.indices()); n != 7 {
		t.Errorf("indices: got %d %v, want 7", n, f.indices())
	}
}

// TestElasticsearchIndexDayDoesNotFollowTheWallClock: the window is centred on a time fixed per alert, so the
// versions of a growing alert, and an alert written again days later (a replay from Kafka), land in the index
// their first write chose, near the edge of the window too.
func TestElasticsearchIndexDayDoesNotFollowTheWallClock(t *testing.T) {
	created := time.Date(2026, 12, 5, 23, 59, 0, 0, time.UTC)
	f := newFakeES(t)
	s := newTestSink(t, testConfig(f.URL), &memDLQ{})
	clock := newTestClock(created)
	s.now = clock.Now

	// A correlation alert 29 days and 23 hours before its creation, and one whose time is out of range: each
	// written in three versions while the clock moves past midnight and on by two days.
	nearEdge := created.Add(-30*24*time.Hour + time.Hour)
	for i, eventTime := range []time.Time{nearEdge, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)} {
		for v := 1; v <= 3; v++ {
			a := createdAlert("acme", 100+i, eventTime, created)
			a.Update, a.Event = true, nil
			a.Doc["version"] = int64(v)
			write(t, s, []*vigil.Alert{a})
			clock.add(24 * time.Hour)
		}
	}
	clock.set(created)
	if got := f.doc("vigil-alerts-acme-2026.11.06", "acme-00100"); got == nil || got["version"] != float64(3) {
		t.Errorf("alert near the edge: got %v in vigil-alerts-acme-2026.11.06, want its third version; indices %v", got, f.indices())
	}
	if got := f.doc("vigil-alerts-acme-2026.12.05", "acme-00101"); got == nil || got["version"] != float64(3) {
		t.Errorf("alert out of range: got %v in vigil-alerts-acme-2026.12.05, want its third version; indices %v", got, f.indices())
	}

	// An alert from a Kafka record, replayed two days later: the alert is created anew (a new @timestamp), the
	// record time is the same.
	record := created.Add(-time.Minute)
	first := createdAlert("globex", 1, created.Add(-30*24*time.Hour+time.Hour), created)
	first.Event.Origin.Time = record
	replay := createdAlert("globex", 1, first.Time, created.Add(48*time.Hour))
	replay.Event.Origin.Time = record
	write(t, s, []*vigil.Alert{first})
	clock.add(48 * time.Hour)
	write(t, s, []*vigil.Alert{replay})
	if got := f.doc("vigil-alerts-globex-2026.11.06", "globex-00001"); got == nil {
		t.Errorf("replayed alert: not in vigil-alerts-globex-2026.11.06; indices %v", f.indices())
	}
	if got, want := f.count(), 3; got != want {
		t.Errorf("documents: got %d, want %d (one per alert); indices %v", got, want, f.indices())
	}
	if got := s.Stats.Duplicates.Load(); got != 1 {
		t.Errorf("duplicates: got %d, want 1 (the replay)", got)
	}
}

func TestEventTimeWindowReference(t *testing.T) {
	created := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	wall := created.Add(time.Hour)
	w := EventTimeWindow{Past: 30 * 24 * time.Hour, Future: 24 * time.Hour}
	now := func() time.Time { return wall }
	tests := []struct {
		name   string
		stamp  any
		record time.Time
		want   time.Time
	}{
		{"@timestamp", created.Format(time.RFC3339Nano), time.Time{}, created},
		{"@timestamp as a time.Time", created, time.Time{}, created},
		{"Kafka record time", created.Format(time.RFC3339Nano), created.Add(-time.Hour), created.Add(-time.Hour)},
		{"implausible record time", created.Format(time.RFC3339Nano), created.Add(-40 * 24 * time.Hour), created},
		{"no @timestamp: the clock", nil, time.Time{}, wall},
		{"unreadable @timestamp: the clock", "yesterday", time.Time{}, wall},
	}
	for _, tt := range tests {
		a := &vigil.Alert{Doc: map[string]any{"@timestamp": tt.stamp}, Event: &vigil.Event{Origin: vigil.Origin{Time: tt.record}}}
		if got := w.reference(a, now); !got.Equal(tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestEvery(t *testing.T) {
	e := every{interval: time.Minute}
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	for i, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Second, false}, {59 * time.Second, false}, {time.Minute, true}, {90 * time.Second, false}, {3 * time.Minute, true}} {
		if got := e.allow(t0.Add(tt.at)); got != tt.want {
			t.Errorf("%d: allow at +%v: got %v, want %v", i, tt.at, got, tt.want)
		}
	}
}
