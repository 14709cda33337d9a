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

func benchEngine(b *testing.B, nRules int) {
	env, err := rules.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	set, err := env.CompileSet(Rules(nRules, 1))
	if err != nil {
		b.Fatal(err)
	}
	engine := rules.NewEngine(set)
	events := Events(2000, 1)
	var alerts []*vigil.Alert
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		raw := events[i%len(events)]
		i++
		tree, err := fields.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		alerts = engine.Detect(&vigil.Event{Raw: raw, Fields: tree, Tenant: "default"}, alerts[:0])
	}
}

func BenchmarkDetect1000(b *testing.B)  { benchEngine(b, 1000) }
func BenchmarkDetect10000(b *testing.B) { benchEngine(b, 10000) }
