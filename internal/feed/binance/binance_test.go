package binance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/httpx"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
)

// exchange is a fake Binance serving the shared real candles as klines,
// with Binance's paging rules, plus the candle still forming at now.
type exchange struct {
	srv     *httptest.Server
	candles []feed.Candle
	clk     *clock.Simulated
	mu      sync.Mutex
	queries []map[string]string
}

func klineRow(c feed.Candle, step time.Duration) []any {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	open := c.Time.UnixMilli()
	return []any{open, f(c.Open), f(c.High), f(c.Low), f(c.Close), f(c.Volume), open + step.Milliseconds() - 1, "1234.5", 42, "0.5", "600.1", "0"}
}

func newExchange(t *testing.T, now time.Time) *exchange {
	t.Helper()
	r, err := replay.Open(feedtest.SharedCSV(t), "BTC")
	if err != nil {
		t.Fatal(err)
	}
	e := &exchange{candles: r.Candles(time.Time{}, time.Time{}), clk: clock.NewSimulated(now)}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		e.mu.Lock()
		e.queries = append(e.queries, map[string]string{"symbol": q.Get("symbol"), "interval": q.Get("interval"), "startTime": q.Get("startTime"), "endTime": q.Get("endTime"), "limit": q.Get("limit")})
		e.mu.Unlock()
		if req.URL.Path != "/api/v3/klines" || q.Get("symbol") != "BTCUSDT" || q.Get("interval") != "1m" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"code":-1121,"msg":"Invalid symbol."}`)
			return
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		if limit > 1000 {
			limit = 1000
		}
		end := e.clk.Now().UnixMilli()
		if v := q.Get("endTime"); v != "" {
			end, _ = strconv.ParseInt(v, 10, 64)
		}
		var rows [][]any
		nowMs := e.clk.Now().UnixMilli()
		for _, c := range e.candles {
			ms := c.Time.UnixMilli()
			if ms > nowMs || ms > end { // the exchange has no future candles
				continue
			}
			if v := q.Get("startTime"); v != "" {
				if start, _ := strconv.ParseInt(v, 10, 64); ms < start {
					continue
				}
			}
			rows = append(rows, klineRow(c, time.Minute))
		}
		if q.Get("startTime") == "" && len(rows) > limit {
			rows = rows[len(rows)-limit:]
		} else if len(rows) > limit {
			rows = rows[:limit]
		}
		if rows == nil {
			rows = [][]any{}
		}
		json.NewEncoder(w).Encode(rows)
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *exchange) client(t *testing.T) *Client {
	t.Helper()
	c, err := New(Config{BaseURL: e.srv.URL, Clock: e.clk})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var day1 = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)

func TestFetchPagesClosedCandles(t *testing.T) {
	now := day1.Add(2000*time.Minute + 30*time.Second) // the 2000th candle is still forming
	e := newExchange(t, now)
	c := e.client(t)
	page, err := c.Fetch(context.Background(), feed.Query{Assets: []string{"btc"}, Kind: feed.KindCandle, Granularity: "1m", Since: day1, Until: now, Limit: 5000})
	recs := page.Records
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2000 {
		t.Fatalf("%d records, want 2000 closed candles", len(recs))
	}
	for i, r := range recs {
		if want := day1.Add(time.Duration(i) * time.Minute); !r.TsEvent.Equal(want) {
			t.Fatalf("record %d at %v, want %v (gap or duplicate)", i, r.TsEvent, want)
		}
	}
	last := recs[len(recs)-1]
	if last.Provider != "binance" || last.Asset != "BTC" || last.Kind != "candle" || last.Granularity != "1m" || string(last.Meta) != `{"symbol":"BTCUSDT"}` {
		t.Fatalf("labels %+v", last)
	}
	var v map[string]float64
	if err := json.Unmarshal(recs[0].Values, &v); err != nil || v["open"] != 23140.48 || v["volume"] != 2.131777 {
		t.Fatalf("values %s", recs[0].Values)
	}
	if len(e.queries) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(e.queries))
	}
	q0, q1 := e.queries[0], e.queries[1]
	if q0["startTime"] != strconv.FormatInt(day1.UnixMilli(), 10) || q0["endTime"] != strconv.FormatInt(now.UnixMilli(), 10) || q0["limit"] != "1000" {
		t.Fatalf("first request %v", q0)
	}
	if q1["startTime"] != strconv.FormatInt(day1.Add(1000*time.Minute).UnixMilli(), 10) {
		t.Fatalf("second page starts at %v", q1["startTime"])
	}
}

func TestClosedBoundary(t *testing.T) {
	open := day1.Add(10 * time.Minute)
	for _, tc := range []struct {
		name string
		now  time.Time
		want int
	}{
		{"one ms before close time", open.Add(time.Minute - 2*time.Millisecond), 10},
		{"at close time (last ms of the bar)", open.Add(time.Minute - time.Millisecond), 10},
		{"after close", open.Add(time.Minute), 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newExchange(t, tc.now)
			page, err := e.client(t).Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m", Since: day1})
			if err != nil || len(page.Records) != tc.want || len(page.Dropped) != 0 {
				t.Fatalf("%d records (%d dropped), %v; want %d", len(page.Records), len(page.Dropped), err, tc.want)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	e := newExchange(t, day1.Add(time.Hour))
	c := e.client(t)
	for _, q := range []feed.Query{
		{Assets: []string{"BTC"}, Kind: "candle", Granularity: "2m"},
		{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1w"},
		{Assets: []string{"BTC"}, Kind: "tick", Granularity: "1m"},
		{Assets: []string{"DOGE"}, Kind: "candle", Granularity: "1m"},
	} {
		if _, err := c.Fetch(context.Background(), q); !errors.Is(err, feed.ErrUnsupported) {
			t.Errorf("Fetch(%+v) error %v, want ErrUnsupported", q, err)
		}
	}
	if len(e.queries) != 0 {
		t.Fatalf("%d requests sent for unsupported queries", len(e.queries))
	}
	if err := c.Supports("candle", "1s"); err != nil {
		t.Fatalf("1s is a real Binance interval: %v", err)
	}
}

func TestProbe(t *testing.T) {
	now := day1.Add(90*time.Minute + 10*time.Second)
	e := newExchange(t, now)
	rec, err := Probe(context.Background(), Config{BaseURL: e.srv.URL, Clock: e.clk}, "BTC", "1m")
	if err != nil || !rec.TsEvent.Equal(day1.Add(89*time.Minute)) {
		t.Fatalf("probe %v at %v, want the candle opened at 01:29", err, rec.TsEvent)
	}
	if e.queries[0]["startTime"] != "" {
		t.Fatalf("probe sent startTime %v", e.queries[0])
	}
}

func serve(t *testing.T, status int, header map[string]string, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, Clock: clock.NewSimulated(day1.Add(time.Hour)), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func row(openMin int, o, h, l, c string) string {
	open := day1.Add(time.Duration(openMin) * time.Minute).UnixMilli()
	return fmt.Sprintf(`[%d,%q,%q,%q,%q,"1.5",%d,"100.0",7,"0.7","50.0","0"]`, open, o, h, l, c, open+59999)
}

func TestResponseErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"invalid symbol", 400, `{"code":-1121,"msg":"Invalid symbol."}`, `HTTP 400: {"code":-1121,"msg":"Invalid symbol."}`},
		{"server error", 502, `bad gateway`, "HTTP 502"},
		{"malformed json", 200, `[[1677628800000,"1"`, "decoding klines"},
		{"object not array", 200, `{"code":0}`, "expected an array of arrays"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.status, nil, tc.body)
			page, err := c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m", Since: day1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if page.Records != nil || page.Dropped != nil {
				t.Fatalf("rows with an error: %+v", page)
			}
		})
	}
}

// A bad kline row is dropped alone: the good rows before and after it are
// returned and the drop names the row, the reason and (when readable) its
// open time.
func TestBadRowIsDroppedAlone(t *testing.T) {
	before, after := row(0, "10", "11", "9", "10.5"), row(2, "10", "11", "9", "10")
	tests := []struct {
		name    string
		bad     string
		want    string
		tsKnown bool
	}{
		{"truncated row", `[1677628860000,"1"]`, "kline 1: 2 fields, expected at least 7", true},
		{"short row", `[1677628860000,"1","2","0.5","1.5","3"]`, "kline 1: 6 fields, expected at least 7", true},
		{"not an array", `"garbage"`, "kline 1: expected an array", false},
		{"bad number", row(1, "10", "eleven", "9", "10"), `kline 1: field 2: "eleven"`, true},
		{"number not string", `[1677628860000,10,"11","9","10","1",1677628919999]`, "expected a decimal string", true},
		{"high below low", row(1, "10", "9", "11", "10"), "high 9 < low 11", true},
		{"zero price", row(1, "0", "11", "9", "10"), "open price 0", true},
		{"close time mismatch", `[1677628860000,"10","11","9","10","1",1677628979999]`, "close time 1677628979999", true},
		{"unaligned open", `[1677628861000,"10","11","9","10","1",1677628920999]`, "not aligned to 1m", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, 200, nil, `[`+before+`,`+tc.bad+`,`+after+`]`)
			page, err := c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m", Since: day1})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) != 2 || !page.Records[0].TsEvent.Equal(day1) || !page.Records[1].TsEvent.Equal(day1.Add(2*time.Minute)) {
				t.Fatalf("records %+v, want the rows at 00:00 and 00:02", page.Records)
			}
			if len(page.Dropped) != 1 {
				t.Fatalf("dropped %+v, want one", page.Dropped)
			}
			d := page.Dropped[0]
			if d.Cause != feed.DropMalformed || !strings.Contains(d.Reason, tc.want) || !strings.Contains(d.Reason, "BTCUSDT") || d.Row == "" {
				t.Fatalf("drop %+v, want reason containing %q", d, tc.want)
			}
			if tc.tsKnown != d.Ts.Equal(day1.Add(time.Minute)) {
				t.Fatalf("drop time %v (known: %v)", d.Ts, tc.tsKnown)
			}
		})
	}
}

func TestEmptyAndRateLimit(t *testing.T) {
	c := serve(t, 200, nil, `[]`)
	page, err := c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m", Since: day1})
	if err != nil || len(page.Records) != 0 {
		t.Fatalf("empty response: %d records, %v", len(page.Records), err)
	}
	c = serve(t, 200, nil, `[`+row(0, "10", "11", "9", "10")+`,`+row(1, "10", "11", "9", "10")+`]`)
	if _, err := c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m", Since: day1, Limit: 1}); err == nil || !strings.Contains(err.Error(), "asked for 1 klines, got 2") {
		t.Fatalf("oversized page error %v", err)
	}
	c = serve(t, 429, map[string]string{"Retry-After": "30"}, `{"code":-1003,"msg":"Too many requests"}`)
	_, err = c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m", Since: day1})
	var se *httpx.StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.RetryAfter != 30*time.Second {
		t.Fatalf("429 error %v (%+v)", err, se)
	}
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC"}, Kind: "candle", Granularity: "1m"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 50ms") {
		t.Fatalf("error %v", err)
	}
}

func TestSymbols(t *testing.T) {
	c, err := New(Config{Symbols: map[string]string{"btc": "BTCFDUSD"}})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]string{"BTC": "BTCFDUSD", "ETH": "ETHUSDT", "sol": "SOLUSDT"} {
		if got, err := c.Symbol(a); err != nil || got != want {
			t.Errorf("Symbol(%s) = %q, %v", a, got, err)
		}
	}
	if _, err := New(Config{Symbols: map[string]string{"BTC": "btcusdt"}}); err == nil {
		t.Error("lower-case symbol accepted")
	}
}
