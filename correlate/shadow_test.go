package correlate

import (
	"testing"
	"time"

	"github.com/vigilsoc/vigil/rules"
)

// TestShadowAlertsFeedNoCorrelation: a match of a rule that a correlation reads gives a match record, unless it is
// a shadow alert, which never reaches live correlations (nor suppressions).
func TestShadowAlertsFeedNoCorrelation(t *testing.T) {
	set := testSet(t, bruteForce)
	e := New(set, Config{})
	ev, err := rules.TestEvent(ev(0, "failure", "bob", "203.0.113.9"), "acme")
	if err != nil {
		t.Fatal(err)
	}
	live := rules.NewAlert(set.Rule("fail"), ev, time.Now())
	if got := len(e.Records(live, nil)); got != 1 {
		t.Fatalf("live alert: got %d match records, want 1", got)
	}
	shadow := rules.NewAlert(set.Rule("fail"), ev, time.Now())
	rules.MarkShadow(shadow)
	if got := len(e.Records(shadow, nil)); got != 0 {
		t.Fatalf("shadow alert: got %d match records, want 0", got)
	}
}
