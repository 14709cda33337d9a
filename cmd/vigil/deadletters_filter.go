package main

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/sinks"
)

// letterFilter selects dead letters for `vigil deadletters list` and `replay`. Zero fields select everything.
type letterFilter struct {
	reasons      []string  // any of these reasons
	tenant       string    // this tenant
	kind         string    // event or alert
	since, until time.Time // parked at or after since, before until
	limit        int       // the most letters selected; 0: no limit
}

// filterFlags are the command-line form of a letterFilter.
type filterFlags struct {
	reasons      []string
	tenant, kind string
	since, until string
	limit        int
}

func addFilterFlags(fs *pflag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.StringSliceVar(&f.reasons, "reason", nil, "only letters with this reason (repeatable, or comma-separated): decode, oversize, tenant, mapping, ...")
	fs.StringVar(&f.tenant, "tenant", "", "only this tenant's letters")
	fs.StringVar(&f.kind, "kind", "", "only letters of this kind: event (a record) or alert (an alert the index rejected)")
	fs.StringVar(&f.since, "since", "", "only letters parked in this last period (2h, 7d, 1d12h) or since this RFC 3339 time")
	fs.StringVar(&f.until, "until", "", "only letters parked before this period ago (2h, 7d) or before this RFC 3339 time")
	fs.IntVar(&f.limit, "limit", 0, "the most letters selected, oldest first (default: all)")
	return f
}

// filter checks the flags and makes the filter; durations count back from now.
func (f *filterFlags) filter(now time.Time) (letterFilter, error) {
	var errs []error
	lf := letterFilter{tenant: f.tenant, kind: f.kind}
	for _, r := range f.reasons {
		if r = strings.TrimSpace(r); r != "" {
			lf.reasons = append(lf.reasons, r)
		}
	}
	if f.kind != "" && f.kind != "event" && f.kind != "alert" {
		errs = append(errs, fmt.Errorf("--kind: %q is neither event nor alert", f.kind))
	}
	var err error
	if lf.since, err = parseTimeBound(f.since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if lf.until, err = parseTimeBound(f.until, now); err != nil {
		errs = append(errs, fmt.Errorf("--until: %w", err))
	}
	if !lf.since.IsZero() && !lf.until.IsZero() && !lf.since.Before(lf.until) {
		errs = append(errs, fmt.Errorf("--since (%s) must be before --until (%s)", lf.since.Format(time.RFC3339), lf.until.Format(time.RFC3339)))
	}
	if lf.limit = f.limit; f.limit < 0 {
		errs = append(errs, fmt.Errorf("--limit: %d is negative", f.limit))
	}
	return lf, errors.Join(errs...)
}

// empty says whether the filter selects every letter (a limit alone does not count: it selects the oldest).
func (f letterFilter) empty() bool {
	return len(f.reasons) == 0 && f.tenant == "" && f.kind == "" && f.since.IsZero() && f.until.IsZero()
}

func (f letterFilter) match(l *sinks.ParkedLetter) bool {
	switch {
	case len(f.reasons) > 0 && !slices.Contains(f.reasons, l.Reason),
		f.tenant != "" && l.Tenant != f.tenant,
		f.kind != "" && l.Kind != f.kind,
		!f.since.IsZero() && l.Parked.Before(f.since),
		!f.until.IsZero() && !l.Parked.Before(f.until):
		return false
	}
	return true
}

// daysPrefix matches a duration that starts with days, which time.ParseDuration does not know: "7d", "1d12h".
var daysPrefix = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseTimeBound reads a time bound: empty (none), a duration back from now (2h, 90m, 7d, 1d12h), or an RFC 3339
// time (2026-11-27T10:00:00Z) or date (2026-11-27, midnight UTC).
func parseTimeBound(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	var d time.Duration
	rest := s
	if m := daysPrefix.FindStringSubmatch(s); m != nil {
		days, err := strconv.Atoi(m[1])
		if err != nil || days > 100000 {
			return time.Time{}, fmt.Errorf("%q: too many days", s)
		}
		d, rest = time.Duration(days)*24*time.Hour, m[2]
	}
	if rest != "" {
		more, err := time.ParseDuration(rest)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is neither a duration (2h, 7d, 1d12h) nor an RFC 3339 time (2026-11-27T10:00:00Z)", s)
		}
		d += more
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("%q: a duration must be positive", s)
	}
	return now.Add(-d), nil
}

// parseKafkaLetterID splits a Kafka letter id, topic/partition/offset.
func parseKafkaLetterID(id string) (topic string, partition int, offset int64, err error) {
	bad := fmt.Errorf("letter id %q: want TOPIC/PARTITION/OFFSET, as `vigil deadletters list` prints it", id)
	rest, off, ok := cutLast(id, "/")
	if !ok {
		return "", 0, 0, bad
	}
	topic, part, ok := cutLast(rest, "/")
	if !ok || topic == "" {
		return "", 0, 0, bad
	}
	if partition, err = strconv.Atoi(part); err != nil || partition < 0 {
		return "", 0, 0, bad
	}
	if offset, err = strconv.ParseInt(off, 10, 64); err != nil || offset < 0 {
		return "", 0, 0, bad
	}
	return topic, partition, offset, nil
}

// parseFileLetterID splits a file letter id, path:line.
func parseFileLetterID(id string) (path string, line int64, err error) {
	path, n, ok := cutLast(id, ":")
	if ok && path != "" {
		if line, err = strconv.ParseInt(n, 10, 64); err == nil && line > 0 {
			return path, line, nil
		}
	}
	return "", 0, fmt.Errorf("letter id %q: want FILE:LINE, as `vigil deadletters list` prints it", id)
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
