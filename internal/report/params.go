package report

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// projectIDs merges every projectIds value (repeated and/or comma-separated):
// parts trimmed, empty parts dropped, duplicates removed, first-seen order
// kept. An empty result means "all models".
func projectIDs(q url.Values) []string {
	var ids []string
	seen := map[string]bool{}
	for _, v := range q["projectIds"] {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" || seen[part] {
				continue
			}
			seen[part] = true
			ids = append(ids, part)
		}
	}
	return ids
}

// timeLayouts are tried in order by parseTime.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05.999999999", // naive: UTC
	"2006-01-02T15:04",              // naive: UTC
	"2006-01-02",                    // date: midnight UTC
}

// maxEpoch bounds epoch seconds (about year 5138).
const maxEpoch = 100_000_000_000

// parseTime reads an ISO-8601 / RFC 3339 time (fractional seconds, "Z" or
// an offset, naive = UTC, a space instead of "T" allowed), a date, or epoch
// seconds (integer or fractional). The result is UTC.
func parseTime(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, fmt.Errorf("empty value")
	}
	if isDecimal(v) {
		whole, frac, _ := strings.Cut(v, ".")
		sec, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || sec > maxEpoch || sec < -maxEpoch {
			return time.Time{}, fmt.Errorf("epoch seconds %q out of range", v)
		}
		frac = (frac + "000000000")[:9]
		nsec, _ := strconv.ParseInt(frac, 10, 64) // nine digits, already checked
		if strings.HasPrefix(whole, "-") {
			nsec = -nsec
		}
		return time.Unix(sec, nsec).UTC(), nil
	}
	// A "+hh:mm" offset whose "+" was form-decoded into a space.
	if n := len(v); n > 6 && v[n-6] == ' ' && v[n-3] == ':' {
		v = v[:n-6] + "+" + v[n-5:]
	}
	if len(v) > 10 && v[10] == ' ' {
		v = v[:10] + "T" + v[11:]
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("expected an ISO-8601 time such as 2026-11-30T08:01:45.123Z or epoch seconds, found %q", v)
}

// timeRange reads start and end: end defaults to now, start to
// end - DefaultRange; end before start or a range over maxRange is a problem.
func timeRange(q url.Values, p *params, now time.Time, maxRange time.Duration) (start, end time.Time) {
	end = now
	okEnd, okStart := true, true
	if v := q.Get("end"); q.Has("end") {
		t, err := parseTime(v)
		if err != nil {
			p.add("end", err.Error())
			okEnd = false
		} else {
			end = t
		}
	}
	start = end.Add(-DefaultRange)
	if v := q.Get("start"); q.Has("start") {
		t, err := parseTime(v)
		if err != nil {
			p.add("start", err.Error())
			okStart = false
		} else {
			start = t
		}
	}
	if okEnd && okStart {
		switch {
		case end.Before(start):
			p.add("end", fmt.Sprintf("end %s is before start %s", end.Format(TimeLayout), start.Format(TimeLayout)))
		case end.Sub(start) > maxRange:
			p.add("start", fmt.Sprintf("range %s to %s is %s, longer than the maximum %s",
				start.Format(TimeLayout), end.Format(TimeLayout), end.Sub(start), maxRange))
		}
	}
	return start, end
}

// intParam reads an optional integer in [lo, hi]; def when absent.
func intParam(q url.Values, p *params, name string, def, lo, hi int) int {
	if !q.Has(name) {
		return def
	}
	v := strings.TrimSpace(q.Get(name))
	n, err := strconv.Atoi(v)
	if err != nil {
		p.add(name, fmt.Sprintf("expected an integer, found %q", v))
		return def
	}
	if n < lo || n > hi {
		p.add(name, fmt.Sprintf("expected an integer from %d to %d, found %d", lo, hi, n))
		return def
	}
	return n
}

// aliasParam reads a filter given under either of two names (e.g. provider
// and its UI alias source); both given and different is a problem.
func aliasParam(q url.Values, p *params, name, alias string) string {
	a, b := strings.TrimSpace(q.Get(name)), strings.TrimSpace(q.Get(alias))
	switch {
	case a == "":
		return b
	case b == "" || a == b:
		return a
	default:
		p.add(alias, fmt.Sprintf("%s=%q contradicts %s=%q (they are aliases)", alias, b, name, a))
		return a
	}
}

// isDecimal reports whether v is an optionally signed decimal number such
// as "1700000000" or "1700000000.25" (and not a date like "2026").
func isDecimal(v string) bool {
	v = strings.TrimPrefix(v, "-")
	digits, dot := 0, false
	for _, r := range v {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 4 || (digits > 0 && dot)
}
