package feed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/httpx"
	"github.com/crunch-coordinator/coordinator/internal/loop"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Poller defaults.
const (
	DefaultPageSize      = 1000
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = time.Minute
	DefaultEscalateAfter = 10
)

// PollerOptions configures a Poller. Durations are wall durations measured
// on Clock.
type PollerOptions struct {
	Provider Provider     // required
	Store    store.Market // required
	Clock    clock.Clock  // default clock.Wall
	Logger   hclog.Logger // default hclog.Default().Named("feed")

	Assets            []string // required, e.g. ["BTC"]
	Kind, Granularity string   // must be served by Provider (Provider.Supports)

	PollInterval time.Duration // between successful polls, > 0
	Timeout      time.Duration // deadline of one provider request, > 0
	StaleAfter   time.Duration // staleness bound, > 0 (see FeedHealth.Stale)
	Backfill     time.Duration // history fetched at start when no watermark, > 0

	// MaxAge bounds the age of an accepted price (ticks): a tick published
	// more than MaxAge before the poll is dropped, counted and logged
	// (FEED_MAX_AGE_SECONDS; 0 = no bound).
	MaxAge time.Duration

	PageSize      int           // records per request while catching up (default 1000)
	RetryMin      time.Duration // first retry delay after a failure (default 1 s)
	RetryMax      time.Duration // cap of the doubling retry delay (default 60 s)
	EscalateAfter int           // consecutive failures before errors log at ERROR (default 10)
}

// PollerOptions turns the settings into poller options for provider p
// writing to m.
func (c Config) PollerOptions(p Provider, m store.Market, clk clock.Clock, log hclog.Logger) PollerOptions {
	return PollerOptions{
		Provider: p, Store: m, Clock: clk, Logger: log,
		Assets: append([]string(nil), c.Assets...), Kind: c.Kind, Granularity: c.Granularity,
		PollInterval: c.PollInterval, Timeout: c.Timeout, StaleAfter: c.StaleAfter, Backfill: c.Backfill,
		MaxAge: c.MaxAge,
	}
}

type feedState struct {
	asset       string
	loaded      bool
	last        time.Time // newest stored event time
	cursor      time.Time // newest event time seen (stored or dropped): the next poll starts after it
	stored      time.Time // newest event time this poller upserted (zero before its first write)
	storedSeq   uint64    // Poller.writes after that upsert
	lastSuccess time.Time
	lastErr     string
	lastErrAt   time.Time
	consecutive int
	nextAt      time.Time // when Run polls this feed next
	written     int64
	gaps        int
	counts      RowCounts
	lastDrop    Drop
	staleLogged bool
}

// Poller backfills and then polls one provider for a set of assets,
// upserting every record into a store.Market, and tracks the health of each
// feed. It never invents data: a failed poll is logged, counted, retried
// with capped exponential backoff and visible through Health and Fresh.
// Health and Fresh are safe to call from any goroutine while Run runs.
type Poller struct {
	o    PollerOptions
	step time.Duration
	name string

	syncMu sync.Mutex // one Sync at a time
	mu     sync.Mutex // guards states and writes
	states []*feedState
	writes uint64 // upserts that wrote, over all feeds
}

// watermarks are the store's feed watermarks, read at most once per poll
// round (Sync, pollDue) for all the round's feeds (storeLost), instead of
// once per feed. A read serves a feed only when it began after that
// feed's last upsert (asOf: Poller.writes then), so a feed polled since
// (by a Sync between pollDue's feeds) gets a fresh read.
type watermarks struct {
	read   bool
	asOf   uint64
	states []store.IngestionState
	err    error
}

// get returns the watermarks as of a read begun after upsert number seq.
func (w *watermarks) get(ctx context.Context, p *Poller, seq uint64) ([]store.IngestionState, error) {
	if !w.read || w.asOf < seq {
		p.mu.Lock()
		w.asOf = p.writes
		p.mu.Unlock()
		w.read = true
		w.states, w.err = p.o.Store.IngestionStates(ctx)
	}
	return w.states, w.err
}

// NewPoller validates o and returns a poller. Errors: missing provider,
// store or assets, a kind/granularity the provider does not serve
// (wrapping ErrUnsupported), non-positive durations.
func NewPoller(o PollerOptions) (*Poller, error) {
	if o.Provider == nil || o.Store == nil {
		return nil, fmt.Errorf("feed poller: provider and store are required")
	}
	if len(o.Assets) == 0 {
		return nil, fmt.Errorf("feed poller: no assets to poll")
	}
	if err := CheckKind(o.Kind); err != nil {
		return nil, fmt.Errorf("feed poller: %w", err)
	}
	step, err := ParseGranularity(o.Granularity)
	if err != nil {
		return nil, fmt.Errorf("feed poller: %w", err)
	}
	if err := o.Provider.Supports(o.Kind, o.Granularity); err != nil {
		return nil, fmt.Errorf("feed poller: %w", err)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"PollInterval", o.PollInterval}, {"Timeout", o.Timeout}, {"StaleAfter", o.StaleAfter}, {"Backfill", o.Backfill}} {
		if d.v <= 0 {
			return nil, fmt.Errorf("feed poller: %s %v: expected > 0", d.name, d.v)
		}
	}
	if o.Clock == nil {
		o.Clock = clock.Wall{}
	}
	if o.Logger == nil {
		o.Logger = hclog.Default().Named("feed")
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(DefaultRetryMax, o.RetryMin)
	}
	if o.EscalateAfter <= 0 {
		o.EscalateAfter = DefaultEscalateAfter
	}
	p := &Poller{o: o, step: step, name: o.Provider.Name()}
	seen := map[string]bool{}
	for _, a := range o.Assets {
		a = NormalizeAsset(a)
		if a == "" || seen[a] {
			return nil, fmt.Errorf("feed poller: asset %q empty or listed twice", a)
		}
		seen[a] = true
		p.states = append(p.states, &feedState{asset: a})
	}
	return p, nil
}

// Run backfills every feed, then polls until ctx is done, returning
// ctx.Err(). Each feed (provider, asset) keeps its own schedule: after a
// successful poll it is polled again after PollInterval; after a failed one
// after RetryMin doubling per consecutive failure of that feed up to
// RetryMax (or the server's Retry-After when longer). One failing asset
// never delays another.
func (p *Poller) Run(ctx context.Context) error {
	return loop.Run(ctx, p.o.Clock, p.pollDue, func(next time.Time, _ error) time.Duration {
		return next.Sub(p.o.Clock.Now()) // each feed's failure is logged by pollFeed
	})
}

// pollDue polls every feed whose next attempt is due and returns the
// earliest next attempt over all feeds.
func (p *Poller) pollDue(ctx context.Context) (time.Time, error) {
	now := p.o.Clock.Now()
	var next time.Time
	var marks watermarks
	for _, st := range p.states {
		if err := ctx.Err(); err != nil {
			return next, err
		}
		p.mu.Lock()
		due := !st.nextAt.After(now)
		p.mu.Unlock()
		if due {
			p.syncMu.Lock()
			_ = p.pollFeed(ctx, st, &marks) // logged and recorded in the feed's health
			p.syncMu.Unlock()
		}
		p.mu.Lock()
		if next.IsZero() || st.nextAt.Before(next) {
			next = st.nextAt
		}
		p.mu.Unlock()
	}
	return next, nil
}

// retryDelay is the wait before the next attempt of a feed that failed
// consecutive times in a row; err may carry the server's Retry-After.
func (p *Poller) retryDelay(consecutive int, err error) time.Duration {
	n := consecutive
	d := p.o.RetryMin
	for i := 1; i < n && d < p.o.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.o.RetryMax)
	var se *httpx.StatusError
	if errors.As(err, &se) && se.RetryAfter > d {
		d = se.RetryAfter
	}
	return d
}

// Sync runs one poll of every feed: on the first call it loads the stored
// watermark (or starts Backfill ago), then it pages forward from the
// newest known record to now, upserting each page before fetching the
// next, so an interrupted backfill resumes where it stopped and leaves no
// gap. Candles are asked for up to now − granularity (a candle opened later
// has not closed). Every page is checked (right feed, inside the window,
// strictly ascending) before it is stored; records get TsIngested = the
// clock's now. Errors of the feeds are joined; each is also logged and
// recorded in Health.
func (p *Poller) Sync(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	var errs []error
	var marks watermarks
	for _, st := range p.states {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := p.pollFeed(ctx, st, &marks); err != nil {
			errs = append(errs, err)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.Join(errs...)
}

// pollFeed runs one poll of st, records the outcome in its health and
// schedules its next attempt; marks are the round's watermarks. Caller
// holds syncMu.
func (p *Poller) pollFeed(ctx context.Context, st *feedState, marks *watermarks) error {
	err := p.syncFeed(ctx, st, marks)
	now := p.o.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil && ctx.Err() == nil:
		st.consecutive++
		st.lastErr, st.lastErrAt = err.Error(), now
		level := hclog.Warn
		if st.consecutive >= p.o.EscalateAfter {
			level = hclog.Error
		}
		delay := p.retryDelay(st.consecutive, err)
		st.nextAt = now.Add(delay)
		p.o.Logger.Log(level, "feed poll failed", "provider", p.name, "asset", st.asset, "kind", p.o.Kind,
			"granularity", p.o.Granularity, "consecutive_failures", st.consecutive, "retry_in", delay, "error", err)
	case err == nil:
		st.consecutive, st.lastErr, st.lastErrAt, st.lastSuccess = 0, "", time.Time{}, now
		st.nextAt = now.Add(p.o.PollInterval)
	}
	stale, reason := p.staleness(st, now)
	if stale && !st.staleLogged {
		p.o.Logger.Warn("feed stale", "provider", p.name, "asset", st.asset, "reason", reason, "last_error", st.lastErr)
	} else if !stale && st.staleLogged {
		p.o.Logger.Info("feed fresh again", "provider", p.name, "asset", st.asset, "last_event", st.last)
	}
	st.staleLogged = stale
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (p *Poller) feedLabel(asset string) string {
	return p.name + "/" + asset + "/" + p.o.Kind + "/" + p.o.Granularity
}

// storeLost reports whether the store no longer holds the newest record
// this poller wrote (its feed's watermark, advanced in the same
// transaction, is behind it or gone). PostgreSQL commits feed records
// asynchronously (postgres.Store.UpsertMarketRecords): a server crash can
// lose the last few together with their watermark while this process
// keeps running. The poller then reloads the watermark and fetches the
// lost records again on this poll, instead of continuing from its
// in-memory cursor past them. The watermarks are read once per poll round
// for all its feeds (marks).
func (p *Poller) storeLost(ctx context.Context, st *feedState, marks *watermarks) (bool, error) {
	p.mu.Lock()
	stored, seq := st.stored, st.storedSeq
	p.mu.Unlock()
	if stored.IsZero() {
		return false, nil
	}
	states, err := marks.get(ctx, p, seq)
	if err != nil {
		return false, fmt.Errorf("feed %s: reading watermarks: %w", p.feedLabel(st.asset), err)
	}
	for _, s := range states {
		if s.Provider == p.name && s.Asset == st.asset && s.Kind == p.o.Kind && s.Granularity == p.o.Granularity &&
			s.LastEventTs != nil && !s.LastEventTs.Before(stored) {
			return false, nil
		}
	}
	p.o.Logger.Warn("feed records lost by the store (a crash before an asynchronous commit reached disk): fetching them again",
		"provider", p.name, "asset", st.asset, "newest_written", stored)
	return true, nil
}

// loadWatermark returns the newest stored event time of the feed: the
// ingestion watermark, else the newest record (zero when none).
func (p *Poller) loadWatermark(ctx context.Context, asset string) (time.Time, error) {
	states, err := p.o.Store.IngestionStates(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("feed %s: reading watermarks: %w", p.feedLabel(asset), err)
	}
	var wm time.Time
	for _, s := range states {
		if s.Provider == p.name && s.Asset == asset && s.Kind == p.o.Kind && s.Granularity == p.o.Granularity && s.LastEventTs != nil {
			wm = s.LastEventTs.UTC()
		}
	}
	recs, err := p.o.Store.QueryMarketRecords(ctx, store.MarketQuery{Provider: p.name, Asset: asset, Kind: p.o.Kind, Granularity: p.o.Granularity, Limit: 1, Descending: true})
	if err != nil {
		return time.Time{}, fmt.Errorf("feed %s: reading newest record: %w", p.feedLabel(asset), err)
	}
	if len(recs) > 0 && recs[0].TsEvent.After(wm) {
		wm = recs[0].TsEvent.UTC()
	}
	return wm, nil
}

func (p *Poller) syncFeed(ctx context.Context, st *feedState, marks *watermarks) error {
	p.mu.Lock()
	loaded, cursor := st.loaded, st.cursor
	p.mu.Unlock()
	phase := "poll"
	if loaded {
		lost, err := p.storeLost(ctx, st, marks)
		if err != nil {
			return err
		}
		if lost {
			loaded = false
		}
	}
	if !loaded {
		wm, err := p.loadWatermark(ctx, st.asset)
		if err != nil {
			return err
		}
		p.mu.Lock()
		st.loaded, st.last, st.cursor, st.stored = true, wm, wm, time.Time{}
		p.mu.Unlock()
		cursor, phase = wm, "backfill"
	}
	now := p.o.Clock.Now()
	var since time.Time
	if cursor.IsZero() {
		since = now.Add(-p.o.Backfill)
		if p.o.Kind == KindCandle {
			since = since.Truncate(p.step)
		}
	} else {
		since = cursor.Add(time.Nanosecond)
	}
	// A candle opened after now − granularity has not closed yet: never ask for it.
	until := now
	if p.o.Kind == KindCandle {
		until = now.Add(-p.step)
	}
	total := 0
	first := since
	var poll pollRows
	defer func() { p.reportRows(st, phase, &poll) }()
	for !since.After(until) {
		if err := ctx.Err(); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		page, err := p.o.Provider.Fetch(rctx, Query{Assets: []string{st.asset}, Kind: p.o.Kind, Granularity: p.o.Granularity, Since: since, Until: until, Limit: p.o.PageSize})
		cancel()
		if err != nil {
			return fmt.Errorf("feed %s: fetching [%s, %s]: %w", p.feedLabel(st.asset), since.Format(time.RFC3339), until.Format(time.RFC3339), err)
		}
		rows := len(page.Records) + len(page.Dropped)
		if rows > p.o.PageSize {
			return fmt.Errorf("feed %s: provider returned %d rows, asked for at most %d", p.feedLabel(st.asset), rows, p.o.PageSize)
		}
		recs, drops, counts := CleanPage(page.Records, CleanRules{Provider: p.name, Asset: st.asset, Kind: p.o.Kind, Granularity: p.o.Granularity,
			Since: since, Until: until, Now: p.o.Clock.Now(), MaxAge: p.o.MaxAge})
		drops = append(page.Dropped, drops...)
		poll.add(drops, counts)
		// The cursor moves past every row seen, good or dropped, so a bad
		// row is not fetched (and reported) again on every poll.
		seen := cursor
		for _, r := range recs {
			seen = maxTime(seen, r.TsEvent)
		}
		for _, d := range drops {
			if !d.Ts.IsZero() && InWindow(d.Ts, since, until) {
				seen = maxTime(seen, d.Ts)
			}
		}
		if len(recs) > 0 {
			p.noteGaps(st, cursor, recs)
			ingested := p.o.Clock.Now()
			for i := range recs {
				recs[i].TsIngested = ingested
			}
			n, err := p.o.Store.UpsertMarketRecords(ctx, recs)
			if err != nil {
				return fmt.Errorf("feed %s: storing %d records [%s, %s]: %w", p.feedLabel(st.asset), len(recs),
					recs[0].TsEvent.Format(time.RFC3339), recs[len(recs)-1].TsEvent.Format(time.RFC3339), err)
			}
			total += len(recs)
			p.mu.Lock()
			st.last = maxTime(st.last, recs[len(recs)-1].TsEvent)
			st.stored = maxTime(st.stored, recs[len(recs)-1].TsEvent)
			p.writes++
			st.storedSeq = p.writes
			st.written += int64(n)
			p.mu.Unlock()
		}
		p.mu.Lock()
		st.cursor = seen
		p.mu.Unlock()
		if rows < p.o.PageSize || !seen.After(cursor) {
			break
		}
		cursor = seen
		since = seen.Add(time.Nanosecond)
	}
	if total > 0 {
		lvl := hclog.Debug
		if phase == "backfill" {
			lvl = hclog.Info
		}
		p.mu.Lock()
		last := st.last
		p.mu.Unlock()
		p.o.Logger.Log(lvl, "feed records stored", "phase", phase, "provider", p.name, "asset", st.asset,
			"records", total, "from", first, "newest", last)
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// maxLoggedDrops bounds the rows quoted in one poll's log line.
const maxLoggedDrops = 10

// pollRows gathers the rows one poll of one feed left out or noticed.
type pollRows struct {
	drops  []Drop
	counts RowCounts
}

func (r *pollRows) add(drops []Drop, c PageCounts) {
	r.drops = append(r.drops, drops...)
	for _, d := range drops {
		switch d.Cause {
		case DropConflict:
			r.counts.Conflicts++
		case DropStale:
			r.counts.StalePrices++
		default:
			r.counts.Malformed++
		}
	}
	r.counts.Duplicates += int64(c.Duplicates)
	r.counts.Placeholders += int64(c.Placeholders)
}

// reportRows adds one poll's row counts to st and logs them in one line:
// the counts, and each row left out (up to maxLoggedDrops) with its reason.
func (p *Poller) reportRows(st *feedState, phase string, r *pollRows) {
	c := r.counts
	if c == (RowCounts{}) {
		return
	}
	p.mu.Lock()
	st.counts.Malformed += c.Malformed
	st.counts.Duplicates += c.Duplicates
	st.counts.Conflicts += c.Conflicts
	st.counts.StalePrices += c.StalePrices
	st.counts.Placeholders += c.Placeholders
	if len(r.drops) > 0 {
		st.lastDrop = r.drops[len(r.drops)-1]
	}
	p.mu.Unlock()
	args := []any{"provider", p.name, "asset", st.asset, "kind", p.o.Kind, "granularity", p.o.Granularity, "phase", phase}
	if len(r.drops) == 0 {
		// Only notices: exact duplicates collapsed, placeholder candles stored.
		p.o.Logger.Info("feed rows noticed", append(args, "duplicates_collapsed", c.Duplicates, "zero_volume_placeholders", c.Placeholders)...)
		return
	}
	rows := make([]string, 0, min(len(r.drops), maxLoggedDrops)+1)
	for i, d := range r.drops {
		if i == maxLoggedDrops {
			rows = append(rows, fmt.Sprintf("… and %d more", len(r.drops)-maxLoggedDrops))
			break
		}
		rows = append(rows, fmt.Sprintf("%s: %s (row %s)", d.Cause, d.Reason, d.Row))
	}
	p.o.Logger.Warn("feed rows dropped; the rest of the page is stored", append(args, "malformed", c.Malformed, "conflicts", c.Conflicts,
		"stale_prices", c.StalePrices, "duplicates_collapsed", c.Duplicates, "zero_volume_placeholders", c.Placeholders, "rows", rows)...)
}

// noteGaps logs and counts missing candles between consecutive records
// (and between the previous newest record and the page).
func (p *Poller) noteGaps(st *feedState, prev time.Time, recs []store.MarketRecord) {
	if p.o.Kind != KindCandle {
		return
	}
	for _, r := range recs {
		if !prev.IsZero() && r.TsEvent.Sub(prev) > p.step {
			missing := int(r.TsEvent.Sub(prev)/p.step) - 1
			p.o.Logger.Warn("feed data gap: no candles between two stored ones", "provider", p.name, "asset", st.asset,
				"from", prev.Add(p.step), "to", r.TsEvent.Add(-p.step), "missing_candles", missing)
			p.mu.Lock()
			st.gaps++
			p.mu.Unlock()
		}
		prev = r.TsEvent
	}
}
