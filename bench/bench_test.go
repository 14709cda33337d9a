package bench

import (
	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
	"testing"
	"time"

	"github.com/vigilsoc/vigil/rules"
)

func TestRunSmall(t *testing.T) {
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(env, Workload{Name: "small", Rules: Rules(100, 1), Events: Events(3000, 1)},
		Options{MinDuration: 50 * time.Millisecond, BaselineBudget: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Alerts == 0 {
		t.Errorf("the generated workload raised no alert; it must exercise alert building")
	}
}

// benchEngine runs decode and detection as `vigil bench` does; with alerts false it only finds the matching rules
// (Engine.Matches), so the difference is what building the alerts costs.
func benchEngine(b *testing.B, nRules int, alerts bool) {
	env, err := rules.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	set, err := env.CompileSet(Rules(nRules, 1))
	if err != nil {
		b.Fatal(err)
	}
	engine := rules.NewEngine(set)
	events := Events(20000, 1)
	var out []*vigil.Alert
	var matched []*rules.Compiled
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		raw := events[i%len(events)]
		i++
		tree, err := fields.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		ev := &vigil.Event{Raw: raw, Fields: tree, Tenant: "default"}
		if alerts {
			out = engine.Detect(ev, out[:0])
		} else {
			matched = engine.Matches(ev, matched[:0])
		}
		tree.Release()
	}
}

func BenchmarkDetect1000(b *testing.B)  { benchEngine(b, 1000, true) }
func BenchmarkDetect10000(b *testing.B) { benchEngine(b, 10000, true) }
func BenchmarkMatch1000(b *testing.B)   { benchEngine(b, 1000, false) }
func BenchmarkMatch10000(b *testing.B)  { benchEngine(b, 10000, false) }
