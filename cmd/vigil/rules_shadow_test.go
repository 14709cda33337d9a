package main

import (
	"testing"
)

// TestShadowReportCompare: alerts are counted once per id, by event day, tenant and host; matches are split into
// both sides, shadow only and live only, with the earliest examples.
func TestShadowReportCompare(t *testing.T) {
	doc := func(id, tenant, host, at string) map[string]any {
		return map[string]any{"vigil": map[string]any{"alert": map[string]any{"id": id, "tenant": tenant, "original_time": at}},
			"host": map[string]any{"name": host}}
	}
	r := &shadowReport{Rule: "t"}
	for _, s := range []*shadowSide{&r.Shadow, &r.Live} {
		*s = shadowSide{PerDay: map[string]int{}, Tenants: map[string]int{}, Hosts: map[string]int{}, ids: map[string]shadowExample{}}
	}
	for _, d := range []map[string]any{doc("a", "acme", "h1", "2026-12-05T10:00:00Z"), doc("b", "acme", "h2", "2026-12-06T10:00:00Z"),
		doc("c", "globex", "h1", "2026-12-06T09:00:00Z"), doc("d", "acme", "", "2026-12-06T08:00:00Z"), doc("a", "acme", "h1", "2026-12-05T10:00:00Z")} {
		r.Shadow.add(d)
	}
	for _, d := range []map[string]any{doc("a", "acme", "h1", "2026-12-05T10:00:00Z"), doc("e", "acme", "h3", "2026-12-06T11:00:00Z")} {
		r.Live.add(d)
	}
	r.compare(2)
	if r.Shadow.Alerts != 4 || r.Shadow.PerDay["2026-12-06"] != 3 || len(r.Shadow.Tenants) != 2 || len(r.Shadow.Hosts) != 2 {
		t.Fatalf("shadow side: got %+v", r.Shadow)
	}
	if r.Both != 1 || r.OnlyShadow != 3 || r.OnlyLive != 1 || r.New {
		t.Fatalf("got both %d, only shadow %d, only live %d, new %v; want 1, 3, 1, false", r.Both, r.OnlyShadow, r.OnlyLive, r.New)
	}
	if len(r.OnlyShadowSample) != 2 || r.OnlyShadowSample[0].ID != "d" || r.OnlyShadowSample[1].ID != "c" || r.OnlyLiveSample[0].ID != "e" {
		t.Fatalf("examples: got %+v and %+v, want d, c (earliest first) and e", r.OnlyShadowSample, r.OnlyLiveSample)
	}
}
