package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// weeksDays matches the week and day units that time.ParseDuration does not know, before the rest of a duration:
// "2w", "30d", "1w2d", "1d12h".
var weeksDays = regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(.*)$`)

// timeLayouts are the absolute times a time argument takes, tried in order: RFC 3339, then ISO 8601 without a
// zone (UTC), then a date (midnight UTC).
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02 15:04:05",
	"2006-01-02 15:04", time.DateOnly}

// parseTimeArg reads a time bound such as --since or --until: a duration back from now (30d, 2w, 1d12h, 24h, 90m),
// or a time: RFC 3339 (2026-11-01T10:00:00Z, 2026-11-01T10:00:00+01:00), ISO 8601 without a zone (UTC:
// 2026-11-01T10:00, 2026-11-01 10:00:00) or a date (2026-11-01, its midnight UTC).
func parseTimeArg(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	d, err := parseLongDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (30d, 2w, 1d12h, 24h, 90m) nor a time "+
			"(2026-11-01, 2026-11-01T10:00:00Z)", s)
	}
	return now.Add(-d), nil
}

// parseLongDuration is time.ParseDuration with weeks (w) and days (d, 24 hours) in front; it must be positive.
func parseLongDuration(s string) (time.Duration, error) {
	m := weeksDays.FindStringSubmatch(s)
	if m == nil || s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var d time.Duration
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour} {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i+1])
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q: too long", s)
		}
		d += time.Duration(n) * unit
	}
	if m[3] != "" {
		if strings.ContainsAny(m[3], "+-") {
			return 0, fmt.Errorf("%q: a duration must be positive", s)
		}
		rest, err := time.ParseDuration(m[3])
		if err != nil {
			return 0, err
		}
		d += rest
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: a duration must be positive", s)
	}
	return d, nil
}
