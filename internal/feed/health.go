package feed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// ErrStale is wrapped by Fresh and FreshInStore when a feed has no record
// recent enough to act on.
var ErrStale = errors.New("feed data stale")

// FeedHealth is the state of one polled feed (one asset).
type FeedHealth struct {
	Provider, Asset, Kind, Granularity string
	// LastEventTs is the event time of the newest record known (stored
	// before start or fetched since); zero when none.
	LastEventTs time.Time
	// LastSuccessAt is the clock time of the last poll that completed
	// without error (zero: none yet).
	LastSuccessAt time.Time
	// Stale is true when there is no record or the newest one ended more
	// than StaleAfter ago (ticks end at their event time, candles at open
	// time + granularity). StaleReason says why.
	Stale       bool
	StaleReason string
	// LastError is the error of the latest poll, empty after a success.
	LastError   string
	LastErrorAt time.Time
	// ConsecutiveErrors counts failed polls since the last success.
	ConsecutiveErrors int
	// RecordsWritten counts records upserted by this poller.
	RecordsWritten int64
	// Gaps counts missing candle runs observed while polling (logged).
	Gaps int
	// RowCounts count the rows of this feed left out or noticed since
	// start (each poll's are logged once).
	RowCounts
	// LastDrop is the latest row left out and why (zero: none).
	LastDrop Drop
	// NextAttemptAt is when Run polls this feed next (its own backoff
	// after failures; other feeds keep their cadence).
	NextAttemptAt time.Time
}

// RowCounts are the per-feed counters of bad and notable rows.
type RowCounts struct {
	// Malformed rows were unreadable or invalid and left out alone.
	Malformed int64
	// Duplicates were exact repeats of a kept row, collapsed into it.
	Duplicates int64
	// Conflicts shared the event time of a kept row with other values;
	// the first was kept.
	Conflicts int64
	// StalePrices were ticks older than MaxAge, left out.
	StalePrices int64
	// Placeholders were zero-volume placeholder candles (stored).
	Placeholders int64
}

// staleness reports whether st is stale at now and why. Caller holds p.mu.
func (p *Poller) staleness(st *feedState, now time.Time) (bool, string) {
	if st.last.IsZero() {
		return true, "no record received yet"
	}
	end := st.last
	if p.o.Kind == KindCandle {
		end = end.Add(p.step)
	}
	if age := now.Sub(end); age > p.o.StaleAfter {
		return true, fmt.Sprintf("newest record (event time %s) is %v old, limit %v",
			st.last.Format(time.RFC3339), age.Round(time.Second), p.o.StaleAfter)
	}
	return false, ""
}

// Health returns one entry per asset, in the configured order, with
// staleness evaluated at the clock's now.
func (p *Poller) Health() []FeedHealth {
	now := p.o.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]FeedHealth, 0, len(p.states))
	for _, st := range p.states {
		stale, reason := p.staleness(st, now)
		out = append(out, FeedHealth{
			Provider: p.name, Asset: st.asset, Kind: p.o.Kind, Granularity: p.o.Granularity,
			LastEventTs: st.last, LastSuccessAt: st.lastSuccess, Stale: stale, StaleReason: reason,
			LastError: st.lastErr, LastErrorAt: st.lastErrAt, ConsecutiveErrors: st.consecutive,
			RecordsWritten: st.written, Gaps: st.gaps, RowCounts: st.counts, LastDrop: st.lastDrop, NextAttemptAt: st.nextAt,
		})
	}
	return out
}

// Fresh returns nil when asset's newest record is within StaleAfter of now
// (see FeedHealth.Stale), else an error wrapping ErrStale that says why
// (including the latest poll error). An asset this poller does not poll is
// an error too. The predict loop calls it before each cycle and skips the
// cycle on error.
func (p *Poller) Fresh(asset string, now time.Time) error {
	a := NormalizeAsset(asset)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.states {
		if st.asset != a {
			continue
		}
		stale, reason := p.staleness(st, now)
		if !stale {
			return nil
		}
		msg := fmt.Sprintf("feed %s: %s", p.feedLabel(a), reason)
		if st.lastErr != "" {
			msg += fmt.Sprintf("; %d consecutive poll failures, last: %s", st.consecutive, st.lastErr)
		}
		return fmt.Errorf("%s: %w", msg, ErrStale)
	}
	names := make([]string, 0, len(p.states))
	for _, st := range p.states {
		names = append(names, st.asset)
	}
	return fmt.Errorf("feed %s: asset %q is not polled (polled: %s)", p.name, asset, strings.Join(names, ", "))
}

// FeedKey names one feed.
type FeedKey struct {
	Provider, Asset, Kind, Granularity string
}

// FreshInStore is Fresh for processes that do not run the Poller: it reads
// the newest record of the feed from m and returns an error wrapping
// ErrStale when there is none or it ended more than staleAfter before now
// (candles end at open time + granularity). Store errors are returned
// wrapped.
func FreshInStore(ctx context.Context, m store.Market, k FeedKey, staleAfter time.Duration, now time.Time) error {
	label := k.Provider + "/" + k.Asset + "/" + k.Kind + "/" + k.Granularity
	recs, err := m.QueryMarketRecords(ctx, store.MarketQuery{Provider: k.Provider, Asset: k.Asset, Kind: k.Kind, Granularity: k.Granularity, Limit: 1, Descending: true})
	if err != nil {
		return fmt.Errorf("feed %s: reading newest record: %w", label, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("feed %s: no record stored: %w", label, ErrStale)
	}
	end := recs[0].TsEvent
	if k.Kind == KindCandle {
		step, err := ParseGranularity(k.Granularity)
		if err != nil {
			return fmt.Errorf("feed %s: %w", label, err)
		}
		end = end.Add(step)
	}
	if age := now.Sub(end); age > staleAfter {
		return fmt.Errorf("feed %s: newest record (event time %s) is %v old, limit %v: %w",
			label, recs[0].TsEvent.UTC().Format(time.RFC3339), age.Round(time.Second), staleAfter, ErrStale)
	}
	return nil
}
