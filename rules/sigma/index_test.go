package sigma

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/rules"
)

// TestSigmaHQRegressionIndexed runs every enabled converted SigmaHQ rule (all products, 2,849) over every SigmaHQ
// regression event, with the prefilter index and without: both must raise the same alerts. The regression events
// are the attacks the rules were written for, so each rule whose data is there fires, and the index must keep it.
func TestSigmaHQRegressionIndexed(t *testing.T) {
	root := shared(t, "sigma")
	conv := newTestConverter(t, "windows-flat")
	results, _ := convertAll(t, root, conv)
	var rs []*rules.Rule
	for _, res := range results {
		if res.Rule.IsEnabled() {
			rs = append(rs, res.Rule)
		}
	}
	set, err := conv.Env.CompileSet(rs)
	if err != nil {
		t.Fatal(err)
	}
	var events []*vigil.Event
	err = filepath.WalkDir(filepath.Join(root, "regression_data"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		evs, err := ReadEVTXJSON(data)
		if err != nil {
			return err
		}
		events = append(events, evs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := replayOTRF(set, events)
	want, _ := replayOTRF(set.Unindexed(), events)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alerts per rule: got %v with the index, %v without", got, want)
	}
	if len(want) < 140 {
		t.Errorf("%d rules fired on the regression events, want at least 140 (their data has 143)", len(want))
	}
	t.Logf("%d rules over %d regression events: %d rules fired", len(set.Rules()), len(events), len(want))
}
