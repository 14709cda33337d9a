package rules

import (
	"fmt"
	"testing"
)

// TestTopTable finds every name of the table, colliding ones too (same length, first, middle and last bytes), and no
// other.
func TestTopTable(t *testing.T) {
	var tops []topFields
	for i := range 300 {
		tops = append(tops, topFields{name: fmt.Sprintf("F%03dx", i)}) // F000x..F299x: many share their hash bytes
	}
	tops = append(tops, topFields{name: ""}, topFields{name: "EventID"}, topFields{name: "Image"})
	tab := newTopTable(tops)
	for i, top := range tops {
		if got := tab.find(tops, top.name); got != i {
			t.Errorf("find(%q): got %d, want %d", top.name, got, i)
		}
	}
	for _, name := range []string{"F300x", "F00x", "Eventid", "image", "x", "F000xx"} {
		if got := tab.find(tops, name); got != -1 {
			t.Errorf("find(%q): got %d, want -1", name, got)
		}
	}
}
