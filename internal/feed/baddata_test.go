package feed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/binance"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
	"github.com/crunch-coordinator/coordinator/internal/feed/pyth"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// stores returns the real stores the storage assertions run on: SQLite
// always, PostgreSQL when TEST_DATABASE_URL is set.
func stores(t *testing.T) map[string]func(t *testing.T) store.Store {
	open := func(t *testing.T, u string) store.Store {
		t.Helper()
		ctx := context.Background()
		st, err := dburl.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	}
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			return open(t, "sqlite://"+filepath.Join(t.TempDir(), "feed.db"))
		},
		"postgres": func(t *testing.T) store.Store {
			return open(t, testutil.ScratchSchema(t, "feedbad"))
		},
	}
}

// kline renders one Binance kline row opened at open (1m bars).
func kline(open time.Time, o, h, l, c, v string) string {
	ms := open.UnixMilli()
	return fmt.Sprintf(`[%d,%q,%q,%q,%q,%q,%d,"100.0",7,"0.7","50.0","0"]`, ms, o, h, l, c, v, ms+59999)
}

// badBinance is an httptest Binance: BTC's klines hold a truncated row, an
// exact duplicate, a conflicting duplicate and a zero-volume placeholder
// among good rows; ETH's are clean. The first failETH ETH requests answer
// HTTP 503.
type badBinance struct {
	srv     *httptest.Server
	clk     clock.Clock
	mu      sync.Mutex
	failETH int
	calls   map[string][]time.Time // symbol → clock time of each request
}

func newBadBinance(t *testing.T, clk clock.Clock, failETH int) *badBinance {
	b := &badBinance{clk: clk, failETH: failETH, calls: map[string][]time.Time{}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sym := q.Get("symbol")
		b.mu.Lock()
		b.calls[sym] = append(b.calls[sym], b.clk.Now())
		fail := sym == "ETHUSDT" && b.failETH > 0
		if fail {
			b.failETH--
		}
		b.mu.Unlock()
		if fail {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		start, _ := strconv.ParseInt(q.Get("startTime"), 10, 64)
		end, _ := strconv.ParseInt(q.Get("endTime"), 10, 64)
		var rows []string
		for i := 0; i < 10; i++ {
			open := day1.Add(time.Duration(i) * time.Minute)
			if ms := open.UnixMilli(); ms < start || ms > end {
				continue
			}
			good := kline(open, "100", "101", "99", "100.5", "3")
			switch {
			case sym == "BTCUSDT" && i == 3:
				rows = append(rows, fmt.Sprintf(`[%d,"100"]`, open.UnixMilli())) // truncated
			case sym == "BTCUSDT" && i == 5:
				rows = append(rows, good, good) // exact duplicate
			case sym == "BTCUSDT" && i == 7:
				rows = append(rows, good, kline(open, "100", "101", "99", "99.5", "3")) // conflicting duplicate
			case sym == "BTCUSDT" && i == 8:
				rows = append(rows, kline(open, "100", "100", "100", "100", "0")) // zero-volume placeholder
			default:
				rows = append(rows, good)
			}
		}
		fmt.Fprint(w, "["+strings.Join(rows, ",")+"]")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *badBinance) requests(sym string) []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.calls[sym]...)
}

// Bad rows from Binance are dropped alone and the rest stored, on SQLite
// and PostgreSQL: 9 BTC candles of 10 (the truncated one is missing, the
// duplicates collapse to their first), the watermark reaches the newest
// one, and the counters and the one log line per poll say what happened.
func TestBinanceBadRowsStored(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			clk := clock.NewSimulated(day1.Add(10*time.Minute + time.Second))
			ex := newBadBinance(t, clk, 0)
			c, err := binance.New(binance.Config{BaseURL: ex.srv.URL, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			log, buf := logger()
			p, err := feed.NewPoller(feed.PollerOptions{Provider: c, Store: st, Clock: clk, Logger: log, Assets: []string{"BTC", "ETH"}, Kind: "candle", Granularity: "1m",
				PollInterval: 5 * time.Second, Timeout: 5 * time.Second, StaleAfter: 5 * time.Minute, Backfill: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := p.Sync(ctx); err != nil {
				t.Fatalf("bad rows failed the poll: %v", err)
			}
			recs, err := st.QueryMarketRecords(ctx, store.MarketQuery{Provider: "binance", Asset: "BTC", Kind: "candle", Granularity: "1m"})
			if err != nil {
				t.Fatal(err)
			}
			var mins []int
			for _, r := range recs {
				mins = append(mins, int(r.TsEvent.Sub(day1)/time.Minute))
			}
			if fmt.Sprint(mins) != "[0 1 2 4 5 6 7 8 9]" {
				t.Fatalf("BTC candles stored at minutes %v, want all but the truncated 3", mins)
			}
			var v struct{ Close float64 }
			if err := json.Unmarshal(recs[6].Values, &v); err != nil || v.Close != 100.5 {
				t.Fatalf("conflicting duplicate: stored %s, want the first (close 100.5)", recs[6].Values)
			}
			if eth, _ := st.QueryMarketRecords(ctx, store.MarketQuery{Provider: "binance", Asset: "ETH"}); len(eth) != 10 {
				t.Fatalf("%d ETH candles, want 10", len(eth))
			}
			states, err := st.IngestionStates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range states {
				if s.LastEventTs == nil || !s.LastEventTs.Equal(day1.Add(9*time.Minute)) {
					t.Fatalf("watermark of %s %v, want 00:09", s.Asset, s.LastEventTs)
				}
			}
			h := p.Health()
			want := feed.RowCounts{Malformed: 1, Duplicates: 1, Conflicts: 1, Placeholders: 1}
			if h[0].RowCounts != want || h[0].LastError != "" || h[0].Stale || !strings.Contains(h[0].LastDrop.Reason, "conflicting duplicate") {
				t.Fatalf("BTC health %+v, want counts %+v", h[0], want)
			}
			if h[1].RowCounts != (feed.RowCounts{}) {
				t.Fatalf("ETH counts %+v", h[1].RowCounts)
			}
			out := buf.String()
			if n := strings.Count(out, "feed rows dropped"); n != 1 {
				t.Fatalf("%d drop lines, want one for the poll:\n%s", n, out)
			}
			for _, want := range []string{"BTCUSDT kline 3: 2 fields, expected at least 7", `(row [1677628980000`, "conflicting duplicate of event time 2023-03-01T00:07:00Z",
				"malformed=1", "conflicts=1", "duplicates_collapsed=1", "zero_volume_placeholders=1"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			// The next poll does not fetch, count or log the bad rows again.
			clk.Advance(5 * time.Second)
			if err := p.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if h := p.Health(); h[0].RowCounts != want {
				t.Fatalf("second poll re-counted: %+v", h[0].RowCounts)
			}
		})
	}
}

// sleepSignal is a simulated clock whose Sleep reports the requested delay,
// so a test can step Run's loop deterministically.
type sleepSignal struct {
	*clock.Simulated
	sleeps chan time.Duration
}

func (s *sleepSignal) Sleep(ctx context.Context, d time.Duration) error {
	until := s.Now().Add(d)
	select {
	case s.sleeps <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Simulated.SleepUntil(ctx, until) // the test may have advanced the clock already
}

// A burst of HTTP 503 on ETH backs ETH off on its own schedule while BTC
// keeps its 5 s cadence (the issue: gaps of up to 60 s on the healthy asset).
func TestOneFailingAssetNeverSlowsAnother(t *testing.T) {
	sim := clock.NewSimulated(day1.Add(10*time.Minute + time.Second))
	clk := &sleepSignal{Simulated: sim, sleeps: make(chan time.Duration)}
	ex := newBadBinance(t, clk, 6)
	c, err := binance.New(binance.Config{BaseURL: ex.srv.URL, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logger()
	p, err := feed.NewPoller(feed.PollerOptions{Provider: c, Store: feedtest.NewMarket(), Clock: clk, Logger: log, Assets: []string{"BTC", "ETH"}, Kind: "candle", Granularity: "1m",
		PollInterval: 5 * time.Second, Timeout: 5 * time.Second, StaleAfter: 5 * time.Minute, Backfill: 10 * time.Minute,
		RetryMin: time.Second, RetryMax: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	start := sim.Now()
	for sim.Now().Sub(start) < 2*time.Minute {
		d := <-clk.sleeps
		sim.Advance(d)
	}
	cancel()
	<-done

	btc := ex.requests("BTCUSDT")
	for i := 1; i < len(btc); i++ {
		if gap := btc[i].Sub(btc[i-1]); gap > 5*time.Second {
			t.Fatalf("BTC request %d came %v after the previous one while ETH failed: %v", i, gap, btc)
		}
	}
	if len(btc) < 24 {
		t.Fatalf("%d BTC requests in 2 minutes, want one every 5 s", len(btc))
	}
	eth := ex.requests("ETHUSDT")
	// 6 failures: retries after 1, 2, 4, 8, 16, 32 s, then the 5 s cadence.
	var gaps []time.Duration
	for i := 1; i < len(eth) && i <= 6; i++ {
		gaps = append(gaps, eth[i].Sub(eth[i-1]))
	}
	if fmt.Sprint(gaps) != "[1s 2s 4s 8s 16s 32s]" {
		t.Fatalf("ETH retry gaps %v, want its own doubling backoff", gaps)
	}
	h := p.Health()
	if h[1].ConsecutiveErrors != 0 || h[1].LastError != "" || h[0].ConsecutiveErrors != 0 {
		t.Fatalf("health after the burst %+v", h)
	}
}

// pythServer is an httptest Hermes answering BTC with a price published
// 10 minutes before the clock and ETH with a fresh one.
func pythServer(t *testing.T, clk clock.Clock) *httptest.Server {
	const btcID, ethID = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43", "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace"
	el := func(id string, publish int64) string {
		return fmt.Sprintf(`{"id":%q,"price":{"price":"2314048000000","conf":"1200000000","expo":-8,"publish_time":%d}}`, id, publish)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := clk.Now().Unix()
		var els []string
		for _, id := range r.URL.Query()["ids[]"] {
			switch id {
			case btcID:
				els = append(els, el(id, now-600))
			case ethID:
				els = append(els, el(id, now-1))
			}
		}
		fmt.Fprint(w, `{"parsed":[`+strings.Join(els, ",")+`]}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A price older than FEED_MAX_AGE_SECONDS is rejected, counted and logged;
// the other asset's fresh price is stored (SQLite and PostgreSQL).
func TestPythStalePriceRejected(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			clk := clock.NewSimulated(day1.Add(time.Hour))
			c, err := pyth.New(pyth.Config{BaseURL: pythServer(t, clk).URL, Clock: clk})
			if err != nil {
				t.Fatal(err)
			}
			log, buf := logger()
			p, err := feed.NewPoller(feed.PollerOptions{Provider: c, Store: st, Clock: clk, Logger: log, Assets: []string{"BTC", "ETH"}, Kind: "tick", Granularity: "1s",
				PollInterval: 5 * time.Second, Timeout: 5 * time.Second, StaleAfter: 30 * time.Second, Backfill: time.Hour, MaxAge: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := p.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			btc, _ := st.QueryMarketRecords(ctx, store.MarketQuery{Provider: "pyth", Asset: "BTC"})
			eth, _ := st.QueryMarketRecords(ctx, store.MarketQuery{Provider: "pyth", Asset: "ETH"})
			if len(btc) != 0 || len(eth) != 1 {
				t.Fatalf("stored %d BTC (10 min old) and %d ETH ticks, want 0 and 1", len(btc), len(eth))
			}
			h := p.Health()
			if h[0].StalePrices != 1 || !h[0].Stale || h[1].StalePrices != 0 || h[1].Stale {
				t.Fatalf("health %+v", h)
			}
			if out := buf.String(); !strings.Contains(out, "stale_prices=1") || !strings.Contains(out, "is 10m0s old, limit 1m0s (FEED_MAX_AGE_SECONDS)") {
				t.Fatalf("stale price not logged:\n%s", out)
			}
		})
	}
}
