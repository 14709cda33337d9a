package rules

import (
	"fmt"
	"strconv"
	"time"
)

// The Sigma time modifiers (minute, hour, day, week, month, year) compare one part of a date and time with numbers:
// `UtcTime|hour: [22, 23]` is UtcTime.hourIs([22, 23]). The specification says they are "not designed to handle
// timezone or format conversions", so a part is read as the text writes it: 2024-03-01T23:30:00+02:00 is hour 23,
// not 21. The texts understood are RFC 3339 and its common relatives: a space instead of the T (Sysmon's UtcTime,
// 2019-05-14 02:05:48.469), no zone, fractional seconds of any length; a date alone has a day, week, month and year
// but no hour or minute. Weeks are ISO 8601 weeks (1 to 53). Anything else, a number included (an epoch is no written
// date), never matches.

// timePartRange is the allowed values of each part.
var timePartRange = map[sigmaOp][2]int{
	opMinute: {0, 59}, opHour: {0, 23}, opDay: {1, 31}, opWeek: {1, 53}, opMonth: {1, 12}, opYear: {1, 9999},
}

var timePartName = map[sigmaOp]string{
	opMinute: "minute", opHour: "hour", opDay: "day", opWeek: "week", opMonth: "month", opYear: "year",
}

// timePartPattern reads a pattern of a time modifier: a whole number within the part's range.
func timePartPattern(op sigmaOp, s string) (int, error) {
	n, err := strconv.Atoi(s)
	r := timePartRange[op]
	if err != nil || n < r[0] || n > r[1] {
		return 0, fmt.Errorf("%q is not a %s: want a whole number from %d to %d", s, timePartName[op], r[0], r[1])
	}
	return n, nil
}

// CheckTimePart reports whether value suits the time modifier part (minute, hour, day, week, month or year), with the
// message a rule's load would give.
func CheckTimePart(part, value string) error {
	for op, name := range timePartName {
		if name == part {
			_, err := timePartPattern(op, value)
			return err
		}
	}
	return fmt.Errorf("%s is no time modifier", part)
}

// timeLayouts are tried in order; the second value says whether the layout has a time of day.
var timeLayouts = []struct {
	layout string
	clock  bool
}{
	{time.RFC3339, true}, // fractional seconds are accepted after the seconds of any layout
	{"2006-01-02 15:04:05Z07:00", true},
	{"2006-01-02T15:04:05", true},
	{"2006-01-02 15:04:05", true},
	{"2006-01-02T15:04Z07:00", true},
	{"2006-01-02T15:04", true},
	{"2006-01-02 15:04", true},
	{"2006-01-02", false},
}

// parseWrittenTime reads a date and time as written, keeping its own offset.
func parseWrittenTime(s string) (t time.Time, clock, ok bool) {
	if len(s) < len("2006-01-02") || s[4] != '-' {
		return time.Time{}, false, false // cheap rejection of the texts that are no dates
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l.layout, s); err == nil {
			return t, l.clock, true
		}
	}
	return time.Time{}, false, false
}

// timePart returns the part op names of t.
func timePart(op sigmaOp, t time.Time) int {
	switch op {
	case opMinute:
		return t.Minute()
	case opHour:
		return t.Hour()
	case opDay:
		return t.Day()
	case opWeek:
		_, w := t.ISOWeek()
		return w
	case opMonth:
		return int(t.Month())
	}
	return t.Year()
}

func (m *sigmaMatcher) matchTimePart(s string) bool {
	t, clock, ok := parseWrittenTime(s)
	if !ok || (!clock && (m.op == opMinute || m.op == opHour)) {
		return false
	}
	return m.matchTime(t)
}

func (m *sigmaMatcher) matchTime(t time.Time) bool {
	part := float64(timePart(m.op, t))
	for _, l := range m.lits {
		if l.num == part {
			return true
		}
	}
	return false
}
