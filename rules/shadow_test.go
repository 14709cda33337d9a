package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilsoc/vigil"
)

// TestShadowMode: a rule with mode: shadow gives alerts marked shadow (Alert.Shadow and vigil.alert.mode); a live
// rule's are not; mode takes live or shadow, and shadow only on single-event rules.
func TestShadowMode(t *testing.T) {
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse("s.yml", []byte("id: t.shadow\nname: s\nseverity: low\nmode: shadow\ncondition: process.name == \"nc\"\n"+
		"---\nid: t.live\nname: l\nseverity: low\nmode: live\ncondition: process.name == \"nc\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := env.CompileSet(parsed)
	if err != nil {
		t.Fatal(err)
	}
	ev := event(t, `{"process":{"name":"nc"}}`)
	for id, want := range map[string]bool{"t.shadow": true, "t.live": false} {
		a := NewAlert(set.Rule(id), ev, time.Now())
		mode, _ := vigil.Get(a.Doc, "vigil", "alert", "mode").(string)
		if a.Shadow != want || (mode == ModeShadow) != want {
			t.Errorf("%s: got Shadow %v, vigil.alert.mode %q; want shadow %v", id, a.Shadow, mode, want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"id: t.bad\nname: b\nseverity: low\nmode: dark\ncondition: true\n", `s.yml:4: rule t.bad: mode "dark" must be live or shadow`},
		{"id: t.bad\nname: b\nseverity: low\nmode: shadow\ncondition: true\nsuppress: {for: 1h}\n", "mode shadow is for single-event rules"},
	} {
		if _, err := Parse("s.yml", []byte(tc.text)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}
