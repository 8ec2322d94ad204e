package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Why a provider row was left out of a page (Drop.Cause).
const (
	// DropMalformed: the row could not be read or failed validation
	// (truncated, unparsable number, price <= 0, high < low, wrong feed,
	// outside the requested window, …).
	DropMalformed = "malformed"
	// DropConflict: a second row with the event time of an earlier one but
	// different values. The first is kept; both are logged.
	DropConflict = "conflict"
	// DropStale: a price older than FEED_MAX_AGE_SECONDS when fetched.
	DropStale = "stale"
)

// MaxDropRowBytes bounds Drop.Row: a provider controls the row, the log
// line and /reports/feeds must not grow with it.
const MaxDropRowBytes = 200

// Drop is one provider row left out of a page: the rest of the page is
// kept. Providers return the rows they cannot read; the Poller adds the
// rows it rejects (conflicts, stale prices, rows outside the window).
type Drop struct {
	// Cause is DropMalformed, DropConflict or DropStale.
	Cause string
	// Key is the provider's key of the row when readable (a Pyth feed id),
	// else empty.
	Key string
	// Ts is the row's event time when it could be read (zero otherwise);
	// the poller's cursor moves past it so the row is not fetched again.
	Ts time.Time
	// Row is the raw row as received, cut to MaxDropRowBytes.
	Row string
	// Reason says what is wrong, e.g. "kline 3: 2 fields, expected at least 7".
	Reason string
}

// Page is the answer of Provider.Fetch: the good records, and the rows left
// out with the reason of each.
type Page struct {
	Records []store.MarketRecord
	Dropped []Drop
}

// RowText returns raw as a Drop.Row: compacted JSON when it is JSON, cut to
// MaxDropRowBytes (on a rune boundary, "…" appended when cut).
func RowText(raw []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		raw = buf.Bytes()
	}
	if len(raw) <= MaxDropRowBytes {
		return string(raw)
	}
	cut := MaxDropRowBytes
	for cut > 0 && !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return string(raw[:cut]) + "…"
}

// IsPlaceholderCandle reports whether c is a zero-volume placeholder bar:
// volume 0 and open = high = low = close. Exchanges emit them for minutes
// without a trade (common on illiquid pairs); they are real rows and are
// stored, but counted and reported because they carry no price discovery.
func IsPlaceholderCandle(c Candle) bool {
	return c.Volume == 0 && c.Open == c.High && c.High == c.Low && c.Low == c.Close
}

// candleOf decodes the values of a candle record.
func candleOf(values []byte) (Candle, bool) {
	var v struct {
		Open, High, Low, Close, Volume *float64
	}
	if json.Unmarshal(values, &v) != nil || v.Open == nil || v.High == nil || v.Low == nil || v.Close == nil || v.Volume == nil {
		return Candle{}, false
	}
	return Candle{Open: *v.Open, High: *v.High, Low: *v.Low, Close: *v.Close, Volume: *v.Volume}, true
}

// PageCounts are what CleanPage found in one page.
type PageCounts struct {
	// Duplicates are exact repeats of a kept row (same event time, same
	// values), collapsed into it.
	Duplicates int
	// Placeholders are zero-volume placeholder candles (kept, see
	// IsPlaceholderCandle).
	Placeholders int
}

// CleanRules say what CleanPage accepts.
type CleanRules struct {
	Provider, Asset, Kind, Granularity string
	// Since and Until bound the event time (inclusive, zero = open).
	Since, Until time.Time
	// Now and MaxAge drop tick records whose event time is more than
	// MaxAge before Now (MaxAge 0: no bound).
	Now    time.Time
	MaxAge time.Duration
}

// CleanPage checks a provider page record by record and returns the
// records to store (ascending by event time, unique), the rows it left out
// and the counts. A record of another feed, outside [Since, Until] or older
// than MaxAge (ticks) is dropped alone; rows sharing an event time collapse
// when their values are equal and otherwise keep the first in provider
// order (the later one is a DropConflict whose reason quotes both). It is
// the one place where the poller's page rules live.
func CleanPage(recs []store.MarketRecord, r CleanRules) ([]store.MarketRecord, []Drop, PageCounts) {
	var drops []Drop
	var counts PageCounts
	kept := make([]store.MarketRecord, 0, len(recs))
	for _, rec := range recs {
		row := RowText(rec.Values)
		switch {
		case rec.Provider != r.Provider || rec.Asset != r.Asset || rec.Kind != r.Kind || rec.Granularity != r.Granularity:
			drops = append(drops, Drop{Cause: DropMalformed, Row: row,
				Reason: fmt.Sprintf("record is for feed %s/%s/%s/%s", rec.Provider, rec.Asset, rec.Kind, rec.Granularity)})
		case rec.TsEvent.IsZero():
			drops = append(drops, Drop{Cause: DropMalformed, Row: row, Reason: "record has no event time"})
		case !InWindow(rec.TsEvent, r.Since, r.Until):
			drops = append(drops, Drop{Cause: DropMalformed, Ts: rec.TsEvent, Row: row,
				Reason: fmt.Sprintf("event time %s outside the requested window [%s, %s]", rec.TsEvent.UTC().Format(time.RFC3339Nano),
					r.Since.UTC().Format(time.RFC3339Nano), r.Until.UTC().Format(time.RFC3339Nano))})
		case r.Kind == KindTick && r.MaxAge > 0 && r.Now.Sub(rec.TsEvent) > r.MaxAge:
			drops = append(drops, Drop{Cause: DropStale, Ts: rec.TsEvent, Row: row,
				Reason: fmt.Sprintf("price published at %s is %v old, limit %v (FEED_MAX_AGE_SECONDS)",
					rec.TsEvent.UTC().Format(time.RFC3339), r.Now.Sub(rec.TsEvent).Round(time.Second), r.MaxAge)})
		default:
			kept = append(kept, rec)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].TsEvent.Before(kept[j].TsEvent) })
	out := kept[:0]
	for _, rec := range kept {
		if n := len(out); n > 0 && out[n-1].TsEvent.Equal(rec.TsEvent) {
			first := out[n-1]
			if bytes.Equal(first.Values, rec.Values) {
				counts.Duplicates++
				continue
			}
			drops = append(drops, Drop{Cause: DropConflict, Ts: rec.TsEvent, Row: RowText(rec.Values),
				Reason: fmt.Sprintf("conflicting duplicate of event time %s: kept the first %s, dropped %s",
					rec.TsEvent.UTC().Format(time.RFC3339Nano), RowText(first.Values), RowText(rec.Values))})
			continue
		}
		out = append(out, rec)
		if r.Kind == KindCandle {
			if c, ok := candleOf(rec.Values); ok && IsPlaceholderCandle(c) {
				counts.Placeholders++
			}
		}
	}
	return out, drops, counts
}
