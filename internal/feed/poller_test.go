package feed_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
	"github.com/crunch-coordinator/coordinator/internal/feed/pyth"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

var day1 = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)

func logger() (hclog.Logger, *testutil.SyncBuffer) {
	buf := &testutil.SyncBuffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "feed", Output: buf, Level: hclog.Debug}), buf
}

var (
	replayOnce sync.Once
	replayData *replay.Replay
	replayErr  error
)

// openReplay loads the shared CSV once; a Replay is read-only and safe to share.
func openReplay(t *testing.T) *replay.Replay {
	t.Helper()
	path := feedtest.SharedCSV(t)
	replayOnce.Do(func() { replayData, replayErr = replay.Open(path, "BTC") })
	if replayErr != nil {
		t.Fatal(replayErr)
	}
	return replayData
}

// wrapped delegates to a provider and can inject failures per call.
type wrapped struct {
	feed.Provider
	mu    sync.Mutex
	calls int
	fail  func(call int, q feed.Query) (feed.Page, error, bool)
}

func (w *wrapped) Fetch(ctx context.Context, q feed.Query) (feed.Page, error) {
	w.mu.Lock()
	w.calls++
	n, fail := w.calls, w.fail
	w.mu.Unlock()
	if fail != nil {
		if page, err, ok := fail(n, q); ok {
			return page, err
		}
	}
	return w.Provider.Fetch(ctx, q)
}

func (w *wrapped) setFail(f func(int, feed.Query) (feed.Page, error, bool)) {
	w.mu.Lock()
	w.fail = f
	w.mu.Unlock()
}

func candleOptions(p feed.Provider, m store.Market, clk clock.Clock, log hclog.Logger) feed.PollerOptions {
	return feed.PollerOptions{
		Provider: p, Store: m, Clock: clk, Logger: log, Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m",
		PollInterval: 5 * time.Second, Timeout: time.Second, StaleAfter: 2 * time.Minute, Backfill: 180 * time.Minute, PageSize: 50,
	}
}

func checkContiguous(t *testing.T, recs []store.MarketRecord, first time.Time, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("%d records stored, want %d", len(recs), n)
	}
	for i, r := range recs {
		if want := first.Add(time.Duration(i) * time.Minute); !r.TsEvent.Equal(want) {
			t.Fatalf("record %d at %v, want %v", i, r.TsEvent, want)
		}
	}
}

func TestBackfillPagesThenPollsWithoutGaps(t *testing.T) {
	now := day1.Add(3000*time.Minute + 20*time.Second)
	clk := clock.NewSimulated(now)
	m := feedtest.NewMarket()
	log, buf := logger()
	p, err := feed.NewPoller(candleOptions(openReplay(t), m, clk, log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	// [now−180m truncated, now−1m]: 180 closed candles; the one opened at 50:00 is still forming.
	recs := m.Records("replay", "BTC", "candle", "1m")
	checkContiguous(t, recs, day1.Add(2820*time.Minute), 180)
	if m.Upserts != 4 { // pages of 50, 50, 50, 30
		t.Fatalf("%d upserts, want 4 pages", m.Upserts)
	}
	if !recs[0].TsIngested.Equal(now) {
		t.Fatalf("TsIngested %v, want the poller clock %v", recs[0].TsIngested, now)
	}
	if !strings.Contains(buf.String(), "phase=backfill") {
		t.Fatalf("backfill not logged: %s", buf)
	}
	if err := p.Fresh("btc", now); err != nil {
		t.Fatalf("fresh after backfill: %v", err)
	}
	clk.Advance(7 * time.Minute)
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1.Add(2820*time.Minute), 187)
	h := p.Health()
	if len(h) != 1 || h[0].Stale || h[0].RecordsWritten != 187 || !h[0].LastEventTs.Equal(day1.Add(3006*time.Minute)) || !h[0].LastSuccessAt.Equal(clk.Now()) || h[0].LastError != "" {
		t.Fatalf("health %+v", h)
	}

	// A new poller on the same store resumes from the watermark: no gap, no refetch.
	clk.Advance(3 * time.Minute)
	rp := &wrapped{Provider: openReplay(t)}
	var firstSince time.Time
	rp.setFail(func(call int, q feed.Query) (feed.Page, error, bool) {
		if call == 1 {
			firstSince = q.Since
		}
		return feed.Page{}, nil, false
	})
	p2, err := feed.NewPoller(candleOptions(rp, m, clk, log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p2.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !firstSince.Equal(day1.Add(3006*time.Minute + time.Nanosecond)) {
		t.Fatalf("restart fetched from %v, want just after the watermark", firstSince)
	}
	checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1.Add(2820*time.Minute), 190)
}

func TestInterruptedBackfillResumes(t *testing.T) {
	now := day1.Add(1000 * time.Minute)
	clk := clock.NewSimulated(now)
	m := feedtest.NewMarket()
	log, buf := logger()
	rp := &wrapped{Provider: openReplay(t)}
	rp.setFail(func(call int, q feed.Query) (feed.Page, error, bool) {
		if call == 3 {
			return feed.Page{}, errors.New("connection reset by peer"), true
		}
		return feed.Page{}, nil, false
	})
	p, err := feed.NewPoller(candleOptions(rp, m, clk, log))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connection reset by peer") || !strings.Contains(err.Error(), "feed replay/BTC/candle/1m: fetching") {
		t.Fatalf("Sync error %v", err)
	}
	checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1.Add(820*time.Minute), 100)
	h := p.Health()[0]
	if h.ConsecutiveErrors != 1 || !strings.Contains(h.LastError, "connection reset") || h.LastErrorAt != now || !h.LastSuccessAt.IsZero() {
		t.Fatalf("health after failure %+v", h)
	}
	if !strings.Contains(buf.String(), "feed poll failed") || !strings.Contains(buf.String(), "connection reset by peer") {
		t.Fatalf("failure not logged: %s", buf)
	}
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1.Add(820*time.Minute), 180)
	if h := p.Health()[0]; h.ConsecutiveErrors != 0 || h.LastError != "" {
		t.Fatalf("health after recovery %+v", h)
	}
}

// A bad or conflicting row is dropped alone: the good rows of the page are
// stored, the drop is counted and logged once with the row and the reason,
// and the next poll starts after it.
func TestBadRowsAreDroppedAlone(t *testing.T) {
	rec := func(min int, close float64) store.MarketRecord {
		return store.MarketRecord{Provider: "replay", Asset: "BTC", Kind: "candle", Granularity: "1m", TsEvent: day1.Add(time.Duration(min) * time.Minute),
			Values: fmt.Appendf(nil, `{"open":1,"high":2,"low":1,"close":%g,"volume":3}`, close)}
	}
	eth := rec(902, 1)
	eth.Asset = "ETH"
	tests := []struct {
		name    string
		page    feed.Page
		stored  int
		counts  feed.RowCounts
		wantLog string
	}{
		{"exact duplicate collapses", feed.Page{Records: []store.MarketRecord{rec(900, 1), rec(900, 1), rec(901, 1)}}, 2,
			feed.RowCounts{Duplicates: 1}, "duplicates_collapsed=1"},
		{"conflicting duplicate keeps the first", feed.Page{Records: []store.MarketRecord{rec(900, 1), rec(900, 2), rec(901, 1)}}, 2,
			feed.RowCounts{Conflicts: 1}, `kept the first {\"open\":1,\"high\":2,\"low\":1,\"close\":1,\"volume\":3}, dropped {\"open\":1,\"high\":2,\"low\":1,\"close\":2,\"volume\":3}`},
		{"out of order is sorted", feed.Page{Records: []store.MarketRecord{rec(901, 1), rec(900, 1)}}, 2, feed.RowCounts{}, ""},
		{"outside window", feed.Page{Records: []store.MarketRecord{rec(10, 1), rec(900, 1)}}, 1, feed.RowCounts{Malformed: 1}, "outside the requested window"},
		{"not yet closed", feed.Page{Records: []store.MarketRecord{rec(900, 1), rec(1000, 1)}}, 1, feed.RowCounts{Malformed: 1}, "outside the requested window"},
		{"wrong asset", feed.Page{Records: []store.MarketRecord{rec(900, 1), eth}}, 1, feed.RowCounts{Malformed: 1}, "record is for feed replay/ETH/candle/1m"},
		{"provider drop", feed.Page{Records: []store.MarketRecord{rec(900, 1), rec(902, 1)}, Dropped: []feed.Drop{{Cause: feed.DropMalformed, Ts: day1.Add(901 * time.Minute), Row: `[1677682860000,"1"]`, Reason: "kline 1: 2 fields, expected at least 7"}}},
			2, feed.RowCounts{Malformed: 1}, `kline 1: 2 fields, expected at least 7 (row [1677682860000,\"1\"])`},
		{"placeholder candle stored and counted", feed.Page{Records: []store.MarketRecord{rec(900, 1), {Provider: "replay", Asset: "BTC", Kind: "candle", Granularity: "1m",
			TsEvent: day1.Add(901 * time.Minute), Values: []byte(`{"open":5,"high":5,"low":5,"close":5,"volume":0}`)}}}, 2, feed.RowCounts{Placeholders: 1}, "zero_volume_placeholders=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := feedtest.NewMarket()
			m.SetWatermark("replay", "BTC", "candle", "1m", day1.Add(899*time.Minute))
			rp := &wrapped{Provider: openReplay(t)}
			rp.setFail(func(n int, q feed.Query) (feed.Page, error, bool) {
				if n == 1 {
					return tc.page, nil, true
				}
				return feed.Page{}, nil, true
			})
			log, buf := logger()
			clk := clock.NewSimulated(day1.Add(1000 * time.Minute))
			p, err := feed.NewPoller(candleOptions(rp, m, clk, log))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Sync(context.Background()); err != nil {
				t.Fatalf("a bad row failed the poll: %v", err)
			}
			if n := len(m.Records("replay", "BTC", "candle", "1m")); n != tc.stored {
				t.Fatalf("%d records stored, want %d", n, tc.stored)
			}
			if n := len(m.Records("replay", "ETH", "candle", "1m")); n != 0 {
				t.Fatal("a wrong-feed record was stored")
			}
			h := p.Health()[0]
			if h.RowCounts != tc.counts || h.LastError != "" || h.ConsecutiveErrors != 0 {
				t.Fatalf("health %+v, want counts %+v", h, tc.counts)
			}
			if tc.wantLog != "" && !strings.Contains(buf.String(), tc.wantLog) {
				t.Fatalf("log lacks %q:\n%s", tc.wantLog, buf)
			}
			if n := strings.Count(buf.String(), "feed rows dropped"); n > 1 {
				t.Fatalf("%d drop lines for one poll", n)
			}
			// The next poll starts after every row seen, dropped ones included.
			clk.Advance(5 * time.Second)
			if err := p.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if h2 := p.Health()[0]; h2.RowCounts != tc.counts {
				t.Fatalf("second poll re-counted rows: %+v", h2.RowCounts)
			}
		})
	}
}

func TestStoreFailureIsRetried(t *testing.T) {
	clk := clock.NewSimulated(day1.Add(100 * time.Minute))
	m := feedtest.NewMarket()
	m.FailUpsert = fmt.Errorf("connection refused: %w", store.ErrUnavailable)
	log, _ := logger()
	p, err := feed.NewPoller(candleOptions(openReplay(t), m, clk, log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(context.Background()); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "storing 50 records") {
		t.Fatalf("error %v", err)
	}
	if h := p.Health()[0]; !h.LastEventTs.IsZero() || !h.Stale || h.StaleReason != "no record received yet" {
		t.Fatalf("watermark advanced past unstored data: %+v", h)
	}
	m.FailUpsert = nil
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1, 100)
}

func TestWatermarkReadFailure(t *testing.T) {
	m := feedtest.NewMarket()
	m.FailRead = fmt.Errorf("dial tcp: %w", store.ErrUnavailable)
	log, _ := logger()
	p, err := feed.NewPoller(candleOptions(openReplay(t), m, clock.NewSimulated(day1.Add(time.Hour)), log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(context.Background()); !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "reading watermarks") {
		t.Fatalf("error %v", err)
	}
	if m.Upserts != 0 {
		t.Fatal("fetched and stored without knowing the watermark")
	}
}

func TestStoredWatermarkIsUsed(t *testing.T) {
	clk := clock.NewSimulated(day1.Add(500 * time.Minute))
	m := feedtest.NewMarket()
	m.SetWatermark("replay", "BTC", "candle", "1m", day1.Add(490*time.Minute))
	log, _ := logger()
	p, err := feed.NewPoller(candleOptions(openReplay(t), m, clk, log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1.Add(491*time.Minute), 9)
}

func TestGapIsLoggedAndCounted(t *testing.T) {
	m := feedtest.NewMarket()
	rp := &wrapped{Provider: openReplay(t)}
	rp.setFail(func(_ int, q feed.Query) (feed.Page, error, bool) {
		page, err := rp.Provider.Fetch(context.Background(), q)
		if recs := page.Records; len(recs) > 10 {
			page.Records = append(recs[:5:5], recs[8:]...) // the exchange lost three candles
		}
		return page, err, true
	})
	log, buf := logger()
	p, err := feed.NewPoller(candleOptions(rp, m, clock.NewSimulated(day1.Add(30*time.Minute)), log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Records("replay", "BTC", "candle", "1m")); n != 27 {
		t.Fatalf("%d records stored, want the 27 delivered (nothing filled in)", n)
	}
	if h := p.Health()[0]; h.Gaps != 1 {
		t.Fatalf("gaps %d", h.Gaps)
	}
	if !strings.Contains(buf.String(), "missing_candles=3") {
		t.Fatalf("gap not logged: %s", buf)
	}
}

func TestStalenessAndFresh(t *testing.T) {
	clk := clock.NewSimulated(day1.Add(60 * time.Minute))
	m := feedtest.NewMarket()
	rp := &wrapped{Provider: openReplay(t)}
	log, buf := logger()
	p, err := feed.NewPoller(candleOptions(rp, m, clk, log))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Fresh("BTC", clk.Now()); !errors.Is(err, feed.ErrStale) || !strings.Contains(err.Error(), "no record received yet") {
		t.Fatalf("before any poll: %v", err)
	}
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Newest candle opened 00:59 and ended 01:00; the bound is 2 minutes.
	if err := p.Fresh("BTC", day1.Add(62*time.Minute)); err != nil {
		t.Fatalf("2 minutes after the end: %v", err)
	}
	rp.setFail(func(int, feed.Query) (feed.Page, error, bool) {
		return feed.Page{}, errors.New("HTTP 503: maintenance"), true
	})
	clk.Advance(10 * time.Minute)
	if err := p.Sync(context.Background()); err == nil {
		t.Fatal("no error from a failing provider")
	}
	err = p.Fresh("BTC", clk.Now())
	if !errors.Is(err, feed.ErrStale) || !strings.Contains(err.Error(), "is 10m0s old, limit 2m0s") || !strings.Contains(err.Error(), "HTTP 503: maintenance") {
		t.Fatalf("stale error %v", err)
	}
	if h := p.Health()[0]; !h.Stale || h.ConsecutiveErrors != 1 {
		t.Fatalf("health %+v", h)
	}
	if n := len(m.Records("replay", "BTC", "candle", "1m")); n != 60 {
		t.Fatalf("%d records: the outage must not add any", n)
	}
	if !strings.Contains(buf.String(), "feed stale") {
		t.Fatalf("staleness not logged: %s", buf)
	}
	rp.setFail(nil)
	if err := p.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Fresh("BTC", clk.Now()); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if !strings.Contains(buf.String(), "feed fresh again") {
		t.Fatalf("recovery not logged: %s", buf)
	}
	if err := p.Fresh("ETH", clk.Now()); err == nil || errors.Is(err, feed.ErrStale) || !strings.Contains(err.Error(), `"ETH" is not polled`) {
		t.Fatalf("unknown asset: %v", err)
	}
	if err := feed.FreshInStore(context.Background(), m, feed.FeedKey{Provider: "replay", Asset: "BTC", Kind: "candle", Granularity: "1m"}, 2*time.Minute, clk.Now()); err != nil {
		t.Fatalf("FreshInStore: %v", err)
	}
	err = feed.FreshInStore(context.Background(), m, feed.FeedKey{Provider: "replay", Asset: "BTC", Kind: "candle", Granularity: "1m"}, 2*time.Minute, clk.Now().Add(time.Hour))
	if !errors.Is(err, feed.ErrStale) || !strings.Contains(err.Error(), "1h0m0s old") {
		t.Fatalf("FreshInStore stale: %v", err)
	}
	if err := feed.FreshInStore(context.Background(), m, feed.FeedKey{Provider: "pyth", Asset: "BTC", Kind: "tick", Granularity: "1s"}, time.Minute, clk.Now()); !errors.Is(err, feed.ErrStale) {
		t.Fatalf("FreshInStore without records: %v", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	rp := &wrapped{Provider: openReplay(t)}
	rp.setFail(func(int, feed.Query) (feed.Page, error, bool) { return feed.Page{}, nil, false })
	blocking := &blockingProvider{Provider: rp}
	log, _ := logger()
	o := candleOptions(blocking, feedtest.NewMarket(), clock.NewSimulated(day1.Add(time.Hour)), log)
	o.Timeout = 20 * time.Millisecond
	p, err := feed.NewPoller(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the request deadline", err)
	}
}

type blockingProvider struct{ feed.Provider }

func (b *blockingProvider) Fetch(ctx context.Context, _ feed.Query) (feed.Page, error) {
	<-ctx.Done()
	return feed.Page{}, ctx.Err()
}

func TestNewPollerRejects(t *testing.T) {
	r := openReplay(t)
	m := feedtest.NewMarket()
	base := candleOptions(r, m, nil, nil)
	tests := []struct {
		name string
		mod  func(*feed.PollerOptions)
		want string
	}{
		{"tick from a candle file", func(o *feed.PollerOptions) { o.Kind = "tick" }, "unsupported"},
		{"other granularity", func(o *feed.PollerOptions) { o.Granularity = "5m" }, "unsupported"},
		{"bad granularity", func(o *feed.PollerOptions) { o.Granularity = "5 min" }, "granularity"},
		{"bad kind", func(o *feed.PollerOptions) { o.Kind = "depth" }, "feed kind"},
		{"no assets", func(o *feed.PollerOptions) { o.Assets = nil }, "no assets"},
		{"duplicate asset", func(o *feed.PollerOptions) { o.Assets = []string{"BTC", "btc"} }, "listed twice"},
		{"no store", func(o *feed.PollerOptions) { o.Store = nil }, "required"},
		{"zero poll", func(o *feed.PollerOptions) { o.PollInterval = 0 }, "PollInterval"},
		{"zero stale", func(o *feed.PollerOptions) { o.StaleAfter = 0 }, "StaleAfter"},
	}
	for _, tc := range tests {
		o := base
		tc.mod(&o)
		if _, err := feed.NewPoller(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestPythTicksThroughPoller runs the Pyth provider against a Hermes fake
// through the poller: a repeated publish time is not stored twice and the
// feed turns stale when Hermes keeps serving an old price.
func TestPythTicksThroughPoller(t *testing.T) {
	var publish atomic.Int64
	publish.Store(day1.Unix())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"binary":{"encoding":"hex","data":["00"]},"parsed":[{"id":"e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43","price":{"price":"2314048000000","conf":"1200000000","expo":-8,"publish_time":%d},"ema_price":{"price":"2314000000000","conf":"1300000000","expo":-8,"publish_time":%d},"metadata":{"slot":1,"proof_available_time":%d,"prev_publish_time":%d}}]}`,
			publish.Load(), publish.Load(), publish.Load(), publish.Load()-1)
	}))
	defer srv.Close()
	clk := clock.NewSimulated(day1.Add(time.Second))
	c, err := pyth.New(pyth.Config{BaseURL: srv.URL, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	m := feedtest.NewMarket()
	log, _ := logger()
	p, err := feed.NewPoller(feed.PollerOptions{Provider: c, Store: m, Clock: clk, Logger: log, Assets: []string{"BTC"}, Kind: "tick", Granularity: "1s",
		PollInterval: 5 * time.Second, Timeout: time.Second, StaleAfter: 30 * time.Second, Backfill: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := p.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Advance(5 * time.Second)
	}
	if n := len(m.Records("pyth", "BTC", "tick", "1s")); n != 1 || m.Upserts != 1 {
		t.Fatalf("%d records / %d upserts from one publish time", n, m.Upserts)
	}
	publish.Store(day1.Unix() + 14)
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Records("pyth", "BTC", "tick", "1s")); n != 2 {
		t.Fatalf("%d records after a new publish time", n)
	}
	clk.Advance(time.Minute)
	if err := p.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Fresh("BTC", clk.Now()); !errors.Is(err, feed.ErrStale) {
		t.Fatalf("Hermes serving a 62 s old price: %v", err)
	}
}

func TestRunPollsUntilCancelled(t *testing.T) {
	rp := &wrapped{Provider: openReplay(t)}
	calls := make(chan int, 100)
	rp.setFail(func(n int, q feed.Query) (feed.Page, error, bool) {
		select {
		case calls <- n:
		default:
		}
		if n%2 == 0 {
			return feed.Page{}, errors.New("flaky"), true
		}
		return feed.Page{}, nil, false
	})
	o := candleOptions(rp, feedtest.NewMarket(), clock.NewSimulated(day1.Add(time.Hour)), nil)
	log, _ := logger()
	o.Logger = log
	o.Clock = clock.Wall{} // real sleeps, kept tiny
	o.PollInterval, o.RetryMin, o.RetryMax = time.Millisecond, time.Millisecond, 4*time.Millisecond
	o.Backfill = time.Minute
	p, err := feed.NewPoller(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for i := 0; i < 6; i++ {
		<-calls
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}

// anyAssetCandles serves a flat 1-minute candle every minute for any asset.
type anyAssetCandles struct{}

func (anyAssetCandles) Name() string                  { return "flat" }
func (anyAssetCandles) Supports(string, string) error { return nil }
func (anyAssetCandles) Fetch(_ context.Context, q feed.Query) (feed.Page, error) {
	var page feed.Page
	for ts := q.Since.Truncate(time.Minute); !ts.After(q.Until) && len(page.Records) < q.Limit; ts = ts.Add(time.Minute) {
		if ts.Before(q.Since) {
			continue
		}
		page.Records = append(page.Records, store.MarketRecord{Provider: "flat", Asset: q.Assets[0], Kind: q.Kind, Granularity: q.Granularity,
			TsEvent: ts, Values: []byte(`{"open":1,"high":2,"low":1,"close":1,"volume":3}`)})
	}
	return page, nil
}

// watermarkCounter counts the store's watermark reads.
type watermarkCounter struct {
	*feedtest.Market
	reads atomic.Int32
}

func (w *watermarkCounter) IngestionStates(ctx context.Context) ([]store.IngestionState, error) {
	w.reads.Add(1)
	return w.Market.IngestionStates(ctx)
}

// TestLostRecordCheckReadsWatermarksOncePerPoll: the check for records
// the store lost (see TestRecordsLostByTheStoreAreFetchedAgain) reads the
// watermarks once per poll round for all feeds, not once per feed, and
// still finds the one feed whose records were lost.
func TestLostRecordCheckReadsWatermarksOncePerPoll(t *testing.T) {
	clk := clock.NewSimulated(day1.Add(100 * time.Minute))
	m := &watermarkCounter{Market: feedtest.NewMarket()}
	log, _ := logger()
	o := candleOptions(anyAssetCandles{}, m, clk, log)
	o.Assets = []string{"BTC", "ETH", "SOL"}
	p, err := feed.NewPoller(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Sync(ctx); err != nil { // loads each feed's watermark
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		lose      string // the asset whose records after 95 min the store loses
		wantReads int32  // the round's read, and one watermark load per lost feed
	}{
		{"nothing lost", "", 1},
		{"one feed lost records", "ETH", 2},
		{"nothing lost again", "", 1},
	} {
		if tc.lose != "" {
			m.LoseAfter("flat", tc.lose, "candle", "1m", day1.Add(95*time.Minute))
		}
		clk.Advance(2 * time.Minute)
		m.reads.Store(0)
		if err := p.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := m.reads.Load(); got != tc.wantReads {
			t.Errorf("%s: %d watermark reads in one poll of 3 feeds, want %d", tc.name, got, tc.wantReads)
		}
		btc := m.Records("flat", "BTC", "candle", "1m")
		for _, a := range o.Assets[1:] {
			if got := m.Records("flat", a, "candle", "1m"); len(got) != len(btc) {
				t.Errorf("%s: %s has %d records, BTC %d", tc.name, a, len(got), len(btc))
			}
		}
	}
}

// TestRecordsLostByTheStoreAreFetchedAgain: the store loses the newest
// records the poller wrote, with their watermark (PostgreSQL commits feed
// records asynchronously; a server crash loses the last ones while the
// node keeps running). The next poll notices that the watermark is behind
// what it wrote and fetches them again instead of continuing past them.
func TestRecordsLostByTheStoreAreFetchedAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep time.Time // the lost store's watermark (zero: none left)
	}{
		{"watermark behind", day1.Add(95 * time.Minute)},
		{"watermark gone", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewSimulated(day1.Add(100 * time.Minute))
			m := feedtest.NewMarket()
			log, buf := logger()
			p, err := feed.NewPoller(candleOptions(openReplay(t), m, clk, log))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1, 100)
			m.LoseAfter("replay", "BTC", "candle", "1m", tc.keep)
			clk.Advance(2 * time.Minute)
			if err := p.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkContiguous(t, m.Records("replay", "BTC", "candle", "1m"), day1, 102)
			if !strings.Contains(buf.String(), "feed records lost by the store") {
				t.Fatalf("the loss was not logged:\n%s", buf.String())
			}
		})
	}
}
