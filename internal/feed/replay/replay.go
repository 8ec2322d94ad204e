// Package replay serves real historical candles from a CSV file as a feed
// provider ("replay"), so a simulated clock can replay weeks of market data
// in seconds.
//
// Accepted files:
//   - a header row naming at least open_time, open, high, low, close and
//     volume (any order, case-insensitive, optional close_time), with times
//     in ISO-8601 with a UTC offset ("2023-03-01 00:00:00+00:00",
//     "2023-03-01T00:00:00Z", "…T00:00:00+00:00", fractional seconds
//     allowed) or epoch integers;
//   - Binance kline CSVs without a header: open time, open, high, low,
//     close, volume, close time, … with epoch integer times.
//
// Epoch integers of up to 13 digits are milliseconds, of 16 digits
// microseconds (Binance's newer spot files); other lengths are an error.
//
// Every row is validated. A bad row (unparsable time or number, price <= 0,
// high < low, open/close outside [low, high], negative volume, out-of-order
// time, wrong field count, a blank line) is dropped alone and listed by
// Dropped with its 1-based line number and reason; the rows around it are
// kept. A row repeating an earlier open time collapses into it when its
// values are equal (counted by Duplicates) and is otherwise dropped as a
// conflict (the first is kept, both are quoted). A bad header, a row off
// the bar grid or a file without one good row fails the load. Nothing is
// invented: gaps (missing bars, including dropped ones) are listed by Gaps.
package replay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Name is the provider name stored in market records.
const Name = "replay"

// DefaultLimit is the page size of Fetch when Query.Limit is 0.
const DefaultLimit = 1000

// Gap is a run of missing bars: After is the open time of the bar before
// the gap, Missing the number of bars absent.
type Gap struct {
	After   time.Time
	Missing int
}

// Replay is a loaded CSV: validated candles of one asset, ascending and
// unique by open time. It implements feed.Provider and is read-only after
// loading, so safe for concurrent use.
type Replay struct {
	file        string
	asset       string
	granularity string
	step        time.Duration
	candles     []feed.Candle
	gaps        []Gap
	dropped     []feed.Drop
	duplicates  int
	meta        []byte
}

// Open reads and validates the CSV at path as candles of asset (e.g.
// "BTC"). Errors name the path and, for a bad row, its line number.
func Open(path, asset string) (*Replay, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: reading %s: %w", path, err)
	}
	return Parse(data, path, asset)
}

// Parse validates CSV data (see the package doc) named file (used in
// errors and the records' meta) as candles of asset.
func Parse(data []byte, file, asset string) (*Replay, error) {
	asset = feed.NormalizeAsset(asset)
	if asset == "" {
		return nil, fmt.Errorf("replay: %s: empty asset name", file)
	}
	meta, _ := json.Marshal(map[string]string{"file": filepath.Base(file)})
	r := &Replay{file: file, asset: asset, meta: meta}
	p := parser{file: file}
	if err := p.parse(data); err != nil {
		return nil, err
	}
	r.candles = p.candles
	r.dropped, r.duplicates = p.dropped, p.duplicates
	if err := r.inferGrid(p.lines, p.closeSpan); err != nil {
		return nil, err
	}
	return r, nil
}

// column indexes of a layout.
type layout struct {
	open, o, h, l, c, v, close int // close = -1 when absent
	fields                     int // minimum field count
}

var binanceLayout = layout{open: 0, o: 1, h: 2, l: 3, c: 4, v: 5, close: 6, fields: 7}

type parser struct {
	file       string
	lay        layout
	candles    []feed.Candle
	lines      []int32       // line number of each candle
	closeSpan  time.Duration // close − open of the first row with a close time (0: none)
	fields     []string
	dropped    []feed.Drop
	duplicates int
}

// rowError is a problem with one data row: the row is dropped, the load
// goes on. ts is the row's open time when it could be read.
type rowError struct {
	cause string
	ts    time.Time
	msg   string
}

func (e *rowError) Error() string { return e.msg }

func (p *parser) rowErr(line int, format string, args ...any) error {
	return &rowError{cause: feed.DropMalformed, msg: fmt.Sprintf("line %d: %s", line, fmt.Sprintf(format, args...))}
}

func (p *parser) errf(line int, format string, args ...any) error {
	return fmt.Errorf("replay: %s line %d: %s", p.file, line, fmt.Sprintf(format, args...))
}

func (p *parser) parse(data []byte) error {
	text := string(data)
	line := 0
	first := true
	p.candles = make([]feed.Candle, 0, strings.Count(text, "\n")+1)
	p.lines = make([]int32, 0, cap(p.candles))
	for len(text) > 0 {
		line++
		var row string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			row, text = text[:i], text[i+1:]
		} else {
			row, text = text, ""
		}
		row = strings.TrimSuffix(row, "\r")
		if line == 1 {
			row = strings.TrimPrefix(row, "\ufeff")
		}
		if strings.TrimSpace(row) == "" {
			if len(text) == 0 {
				break // trailing newline
			}
			if !first {
				p.dropped = append(p.dropped, feed.Drop{Cause: feed.DropMalformed, Row: "", Reason: fmt.Sprintf("line %d: empty line", line)})
				continue
			}
			return p.errf(line, "empty line")
		}
		p.fields = splitComma(p.fields[:0], row)
		if first {
			first = false
			if !isDigits(strings.TrimSpace(p.fields[0])) {
				if err := p.header(line); err != nil {
					return err
				}
				continue
			}
			p.lay = binanceLayout
			if len(p.fields) < 7 {
				p.lay.close, p.lay.fields = -1, 6
			}
		}
		if err := p.row(line); err != nil {
			var re *rowError
			if !errors.As(err, &re) {
				return err
			}
			p.dropped = append(p.dropped, feed.Drop{Cause: re.cause, Ts: re.ts, Row: feed.RowText([]byte(row)), Reason: re.msg})
		}
	}
	if len(p.candles) == 0 {
		if len(p.dropped) > 0 {
			d := p.dropped[0]
			return fmt.Errorf("replay: %s: no valid data rows (%d dropped; first: %s)", p.file, len(p.dropped), d.Reason)
		}
		return fmt.Errorf("replay: %s: no data rows", p.file)
	}
	return nil
}

func splitComma(dst []string, s string) []string {
	for {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (p *parser) header(line int) error {
	idx := map[string]int{}
	for i, f := range p.fields {
		name := strings.ToLower(strings.TrimSpace(f))
		if _, dup := idx[name]; dup && name != "" {
			return p.errf(line, "header names column %q twice", name)
		}
		idx[name] = i
	}
	p.lay = layout{close: -1}
	for _, c := range []struct {
		name string
		dst  *int
	}{{"open_time", &p.lay.open}, {"open", &p.lay.o}, {"high", &p.lay.h}, {"low", &p.lay.l}, {"close", &p.lay.c}, {"volume", &p.lay.v}} {
		i, ok := idx[c.name]
		if !ok {
			return p.errf(line, "header %q lacks column %q (expected open_time,open,high,low,close,volume)", strings.Join(p.fields, ","), c.name)
		}
		*c.dst = i
	}
	if i, ok := idx["close_time"]; ok {
		p.lay.close = i
	}
	p.lay.fields = len(p.fields)
	return nil
}

func (p *parser) row(line int) error {
	f := p.fields
	if len(f) < p.lay.fields {
		return p.rowErr(line, "%d fields, expected %d", len(f), p.lay.fields)
	}
	open, err := parseTime(strings.TrimSpace(f[p.lay.open]))
	if err != nil {
		return p.rowErr(line, "open_time %q: %v", f[p.lay.open], err)
	}
	c := feed.Candle{Time: open}
	for _, n := range []struct {
		name string
		i    int
		dst  *float64
	}{{"open", p.lay.o, &c.Open}, {"high", p.lay.h, &c.High}, {"low", p.lay.l, &c.Low}, {"close", p.lay.c, &c.Close}, {"volume", p.lay.v, &c.Volume}} {
		v, err := strconv.ParseFloat(strings.TrimSpace(f[n.i]), 64)
		if err != nil {
			return p.rowErr(line, "%s %q: expected a decimal number", n.name, f[n.i])
		}
		*n.dst = v
	}
	if err := c.Validate(); err != nil {
		return p.rowErr(line, "%v", err)
	}
	if p.lay.close >= 0 {
		ct, err := parseTime(strings.TrimSpace(f[p.lay.close]))
		if err != nil {
			return p.rowErr(line, "close_time %q: %v", f[p.lay.close], err)
		}
		span := ct.Sub(open)
		if span <= 0 {
			return p.rowErr(line, "close_time %s is not after open_time %s", ct.Format(time.RFC3339Nano), open.Format(time.RFC3339Nano))
		}
		if p.closeSpan == 0 {
			p.closeSpan = span
		} else if span != p.closeSpan {
			return p.rowErr(line, "bar length (close_time − open_time) %v differs from the first row's %v", span, p.closeSpan)
		}
	}
	if n := len(p.candles); n > 0 {
		prev := p.candles[n-1]
		if open.Equal(prev.Time) {
			if prev == c {
				p.duplicates++ // an exact repeat: collapsed into the first
				return nil
			}
			return &rowError{cause: feed.DropConflict, ts: open, msg: fmt.Sprintf("line %d: conflicting duplicate of open_time %s: kept line %d %s, dropped %s",
				line, open.Format(time.RFC3339), p.lines[n-1], feed.CandleValues(prev), feed.CandleValues(c))}
		}
		if open.Before(prev.Time) {
			return p.rowErr(line, "open_time %s is before the previous row's %s (line %d): rows must be in ascending time order",
				open.Format(time.RFC3339), prev.Time.Format(time.RFC3339), p.lines[n-1])
		}
	}
	p.candles = append(p.candles, c)
	p.lines = append(p.lines, int32(line))
	return nil
}

// parseTime parses an epoch integer (≤13 digits ms, 16 digits µs) or an
// ISO-8601 time with a UTC offset, returning UTC.
func parseTime(s string) (time.Time, error) {
	if isDigits(s) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("epoch integer out of range")
		}
		switch {
		case len(s) <= 13:
			return time.UnixMilli(v).UTC(), nil
		case len(s) == 16:
			return time.UnixMicro(v).UTC(), nil
		default:
			return time.Time{}, fmt.Errorf("epoch integer of %d digits: expected milliseconds (≤13) or microseconds (16)", len(s))
		}
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("expected ISO-8601 with a UTC offset such as 2023-03-01 00:00:00+00:00 or epoch milliseconds")
	}
	return t.UTC(), nil
}

// inferGrid sets the bar length: the close-time span when present (rounded
// up to whole seconds), else the smallest step between rows. Every step
// must be a whole multiple of it; larger steps are recorded as gaps.
func (r *Replay) inferGrid(lines []int32, closeSpan time.Duration) error {
	step := time.Duration(0)
	if closeSpan > 0 {
		step = closeSpan.Truncate(time.Second)
		if step < closeSpan {
			step += time.Second
		}
	} else {
		for i := 1; i < len(r.candles); i++ {
			if d := r.candles[i].Time.Sub(r.candles[i-1].Time); step == 0 || d < step {
				step = d
			}
		}
	}
	if step == 0 {
		return fmt.Errorf("replay: %s: one row without close_time: cannot tell the bar length", r.file)
	}
	gran, ok := granularityName(step)
	if !ok {
		return fmt.Errorf("replay: %s: bar length %v is not a whole number of seconds, minutes, hours or days", r.file, step)
	}
	r.step, r.granularity = step, gran
	for i := 1; i < len(r.candles); i++ {
		d := r.candles[i].Time.Sub(r.candles[i-1].Time)
		if d%step != 0 {
			return fmt.Errorf("replay: %s line %d: open_time %s is %v after the previous row, not a multiple of the %s bar length",
				r.file, lines[i], r.candles[i].Time.Format(time.RFC3339), d, gran)
		}
		if d > step {
			r.gaps = append(r.gaps, Gap{After: r.candles[i-1].Time, Missing: int(d/step) - 1})
		}
	}
	return nil
}

func granularityName(d time.Duration) (string, bool) {
	for _, u := range []struct {
		unit time.Duration
		s    string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.s, true
		}
	}
	return "", false
}

// ShiftToEnd returns a copy of r whose every time (candles, gaps, dropped
// rows) is moved by the whole number of bars that makes the bar opening at
// last (a time of r) close at or just before end: its close time lies in
// (end - Step, end]. The copy's records say so in their meta
// ({"file": ..., "shifted_seconds": N}). The offset is returned with it;
// it is a multiple of Step, so the bar grid and every schedule aligned to
// it keep their phase. r itself is not changed.
func (r *Replay) ShiftToEnd(last, end time.Time) (*Replay, time.Duration) {
	diff := end.Sub(last.Add(r.step))
	bars := diff / r.step
	if diff%r.step < 0 {
		bars-- // floor, not truncation toward zero
	}
	d := bars * r.step
	c := *r
	c.candles = make([]feed.Candle, len(r.candles))
	for i, k := range r.candles {
		k.Time = k.Time.Add(d)
		c.candles[i] = k
	}
	c.gaps = make([]Gap, len(r.gaps))
	for i, g := range r.gaps {
		g.After = g.After.Add(d)
		c.gaps[i] = g
	}
	c.dropped = make([]feed.Drop, len(r.dropped))
	for i, dr := range r.dropped {
		if !dr.Ts.IsZero() {
			dr.Ts = dr.Ts.Add(d)
		}
		c.dropped[i] = dr
	}
	c.meta, _ = json.Marshal(map[string]any{"file": filepath.Base(r.file), "shifted_seconds": int64(d / time.Second)})
	return &c, d
}

// Name returns "replay".
func (r *Replay) Name() string { return Name }

// File returns the path the data came from.
func (r *Replay) File() string { return r.file }

// Asset returns the asset the candles belong to (upper-case).
func (r *Replay) Asset() string { return r.asset }

// Granularity returns the bar length as a granularity ("1m").
func (r *Replay) Granularity() string { return r.granularity }

// Step returns the bar length.
func (r *Replay) Step() time.Duration { return r.step }

// Len returns the number of candles.
func (r *Replay) Len() int { return len(r.candles) }

// First returns the open time of the first candle (UTC).
func (r *Replay) First() time.Time { return r.candles[0].Time }

// Last returns the open time of the last candle (UTC).
func (r *Replay) Last() time.Time { return r.candles[len(r.candles)-1].Time }

// Gaps returns the runs of missing bars, oldest first (nil when contiguous).
func (r *Replay) Gaps() []Gap { return append([]Gap(nil), r.gaps...) }

// GapsIn returns the gaps lying inside the inclusive open-time window
// [from, until] (zero = open): those whose bar before and bar after are
// both in it.
func (r *Replay) GapsIn(from, until time.Time) []Gap {
	var out []Gap
	for _, g := range r.gaps {
		next := g.After.Add(time.Duration(g.Missing+1) * r.step)
		if feed.InWindow(g.After, from, until) && feed.InWindow(next, from, until) {
			out = append(out, g)
		}
	}
	return out
}

// Dropped returns the rows left out at load, in file order (nil when none).
func (r *Replay) Dropped() []feed.Drop { return append([]feed.Drop(nil), r.dropped...) }

// Duplicates returns how many rows exactly repeated an earlier one and
// were collapsed into it.
func (r *Replay) Duplicates() int { return r.duplicates }

// Placeholders returns how many candles are zero-volume placeholders (see
// feed.IsPlaceholderCandle).
func (r *Replay) Placeholders() int {
	n := 0
	for _, c := range r.candles {
		if feed.IsPlaceholderCandle(c) {
			n++
		}
	}
	return n
}

// Candles returns the candles with open time in the inclusive window
// [from, until] (zero = open). The slice is shared: do not modify it.
func (r *Replay) Candles(from, until time.Time) []feed.Candle {
	lo, hi := r.bounds(from, until)
	return r.candles[lo:hi:hi]
}

func (r *Replay) bounds(from, until time.Time) (int, int) {
	lo, hi := 0, len(r.candles)
	if !from.IsZero() {
		lo = sort.Search(len(r.candles), func(i int) bool { return !r.candles[i].Time.Before(from) })
	}
	if !until.IsZero() {
		hi = sort.Search(len(r.candles), func(i int) bool { return r.candles[i].Time.After(until) })
	}
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// Record returns candle i as a market record: provider "replay", kind
// "candle", TsEvent the open time, TsIngested the close time (open + bar
// length: the earliest moment a live feed could have stored it), Meta
// {"file": "<base name>"}.
func (r *Replay) Record(i int) store.MarketRecord {
	c := r.candles[i]
	return store.MarketRecord{
		Provider: Name, Asset: r.asset, Kind: feed.KindCandle, Granularity: r.granularity,
		TsEvent: c.Time, TsIngested: c.Time.Add(r.step), Values: feed.CandleValues(c), Meta: r.meta,
	}
}

// Supports accepts kind "candle" at the file's granularity only.
func (r *Replay) Supports(kind, granularity string) error {
	if kind != feed.KindCandle || granularity != r.granularity {
		return fmt.Errorf("replay file %s holds %s candles, %s %q requested: %w", r.file, r.granularity, kind, granularity, feed.ErrUnsupported)
	}
	return nil
}

// Fetch returns records with open time in [q.Since, q.Until], oldest
// first, at most q.Limit (0: DefaultLimit). The rows dropped at load are
// reported once by Dropped, not in every page. Errors: another asset, kind
// or granularity than the file holds.
func (r *Replay) Fetch(ctx context.Context, q feed.Query) (feed.Page, error) {
	if err := ctx.Err(); err != nil {
		return feed.Page{}, err
	}
	if err := r.Supports(q.Kind, q.Granularity); err != nil {
		return feed.Page{}, err
	}
	if len(q.Assets) == 0 {
		return feed.Page{}, fmt.Errorf("replay: no assets requested")
	}
	for _, a := range q.Assets {
		if feed.NormalizeAsset(a) != r.asset {
			return feed.Page{}, fmt.Errorf("replay file %s holds asset %s, not %q: %w", r.file, r.asset, a, feed.ErrUnsupported)
		}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	lo, hi := r.bounds(q.Since, q.Until)
	hi = min(hi, lo+limit)
	out := make([]store.MarketRecord, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, r.Record(i))
	}
	return feed.Page{Records: out}, nil
}

// Iter returns an iterator over the records with open time in the
// inclusive window [from, until] (zero = open), oldest first.
func (r *Replay) Iter(from, until time.Time) *Iter {
	lo, hi := r.bounds(from, until)
	return &Iter{r: r, i: lo, end: hi}
}

// Iter walks a Replay window. Not safe for concurrent use.
type Iter struct {
	r      *Replay
	i, end int
}

// Next returns the next record and true, or a zero record and false when
// the window is exhausted.
func (it *Iter) Next() (store.MarketRecord, bool) {
	if it.i >= it.end {
		return store.MarketRecord{}, false
	}
	rec := it.r.Record(it.i)
	it.i++
	return rec, true
}

// Remaining returns how many records Next will still return.
func (it *Iter) Remaining() int { return it.end - it.i }
