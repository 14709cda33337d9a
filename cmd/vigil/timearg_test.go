package main

import (
	"testing"
	"time"
)

func TestParseTimeArg(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"30d", now.AddDate(0, 0, -30)},
		{"2w", now.AddDate(0, 0, -14)},
		{"1w2d", now.AddDate(0, 0, -9)},
		{"1d12h", now.Add(-36 * time.Hour)},
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T10:00:00Z", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-11-01T10:00:00.5+01:00", time.Date(2026, 11, 1, 9, 0, 0, 5e8, time.UTC)},
		{"2026-11-01T10:00", time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
		{"2026-11-01 10:00:30", time.Date(2026, 11, 1, 10, 0, 30, 0, time.UTC)},
	}
	for _, tc := range tests {
		got, err := parseTimeArg(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: got %v (%v), want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "30", "30x", "-5d", "0d", "d", "2026-13-01", "1d-2h", "999999d"} {
		if got, err := parseTimeArg(in, now); err == nil {
			t.Errorf("%q: got %v, want an error", in, got)
		}
	}
}
