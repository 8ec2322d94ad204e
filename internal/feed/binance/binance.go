// Package binance is the Binance spot REST feed provider: closed klines
// (candles) from GET {base}/api/v3/klines?symbol=&interval=&startTime=
// &endTime=&limit=.
//
// Unlike the reference (reference-system.md 11.4, 14.1 #7): assets map to
// symbols explicitly (BTC → BTCUSDT), an unsupported interval is an error
// (never coarsened), only closed candles (close time before now) become
// records, backfill pages until the window is covered, and every failure is
// an error.
package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/httpx"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Name is the provider name stored in market records.
const Name = "binance"

// MaxLimit is the most klines Binance returns per request; Fetch pages
// beyond it.
const MaxLimit = 1000

// DefaultSymbols maps assets to Binance spot symbols.
var DefaultSymbols = map[string]string{
	"BTC": "BTCUSDT",
	"ETH": "ETHUSDT",
	"SOL": "SOLUSDT",
}

// Intervals are the supported kline intervals (Binance names) and their
// lengths. Binance's 3d, 1w and 1M are not supported (not aligned to
// a fixed epoch grid).
var Intervals = map[string]time.Duration{
	"1s": time.Second, "1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute,
	"15m": 15 * time.Minute, "30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour,
	"4h": 4 * time.Hour, "6h": 6 * time.Hour, "8h": 8 * time.Hour, "12h": 12 * time.Hour,
	"1d": 24 * time.Hour,
}

// Config configures a Client.
type Config struct {
	// BaseURL is the REST endpoint (default feed.DefaultBinanceAPIURL).
	BaseURL string
	// Timeout bounds one request (default 8 s).
	Timeout time.Duration
	// Symbols adds or overrides asset → symbol entries.
	Symbols map[string]string
	// HTTPClient defaults to a client without its own timeout.
	HTTPClient *http.Client
	// Clock decides which candles are closed and stamps TsIngested
	// (default clock.Wall).
	Clock clock.Clock
}

// Client is the Binance provider; it implements feed.Provider and is safe
// for concurrent use.
type Client struct {
	ep      httpx.Endpoint
	symbols map[string]string
}

// New validates cfg and returns a client. Errors: a base URL that is not
// http(s), an empty or lower-case symbol.
func New(cfg Config) (*Client, error) {
	ep, err := httpx.NewEndpoint("binance: API URL", cfg.BaseURL, feed.DefaultBinanceAPIURL, cfg.Timeout, time.Duration(feed.DefaultTimeoutSeconds)*time.Second, cfg.HTTPClient, cfg.Clock)
	if err != nil {
		return nil, err
	}
	c := &Client{ep: ep, symbols: map[string]string{}}
	for a, s := range DefaultSymbols {
		c.symbols[a] = s
	}
	for a, s := range cfg.Symbols {
		if s == "" || s != strings.ToUpper(strings.TrimSpace(s)) {
			return nil, fmt.Errorf("binance: symbol %q for asset %q: expected an upper-case symbol such as BTCUSDT", s, a)
		}
		c.symbols[feed.NormalizeAsset(a)] = s
	}
	return c, nil
}

// Name returns "binance".
func (c *Client) Name() string { return Name }

// Supports accepts kind "candle" at an interval listed in Intervals.
func (c *Client) Supports(kind, granularity string) error {
	if kind != feed.KindCandle {
		return fmt.Errorf("binance serves kind %q only, %q requested: %w", feed.KindCandle, kind, feed.ErrUnsupported)
	}
	if _, ok := Intervals[granularity]; !ok {
		return fmt.Errorf("binance: interval %q is not supported (supported: %s): %w", granularity, strings.Join(intervalNames(), ", "), feed.ErrUnsupported)
	}
	return nil
}

func intervalNames() []string {
	n := make([]string, 0, len(Intervals))
	for k := range Intervals {
		n = append(n, k)
	}
	sort.Slice(n, func(i, j int) bool { return Intervals[n[i]] < Intervals[n[j]] })
	return n
}

// Symbol returns the Binance symbol of asset or an error wrapping
// feed.ErrUnsupported listing the known assets.
func (c *Client) Symbol(asset string) (string, error) {
	return feed.LookupAsset(c.symbols, asset, "binance", "symbol", "BINANCE_SYMBOL_")
}

// Kline is one parsed kline row.
type Kline struct {
	feed.Candle
	// CloseTime is the last millisecond of the bar (open + interval − 1 ms).
	CloseTime time.Time
	// Trades is the number of trades in the bar.
	Trades int64
}

// Fetch returns the closed candles of each asset in q with open time in
// [q.Since, q.Until] (Until zero or later than now: now), oldest first, at
// most q.Limit rows per asset (0: MaxLimit), paging through Binance as
// needed. With q.Since zero the newest closed candles up to Until are
// returned. Values: {"open","high","low","close","volume"}; Meta:
// {"symbol": "<symbol>"}. A kline row that cannot be read or fails
// validation is left out alone and listed in Page.Dropped (duplicates,
// order and window are the poller's to judge: feed.CleanPage). Errors:
// unsupported kind or interval, unknown asset, request failure, HTTP
// status, a body that is not an array.
func (c *Client) Fetch(ctx context.Context, q feed.Query) (feed.Page, error) {
	if err := c.Supports(q.Kind, q.Granularity); err != nil {
		return feed.Page{}, err
	}
	if len(q.Assets) == 0 {
		return feed.Page{}, fmt.Errorf("binance: no assets requested")
	}
	if q.Limit < 0 {
		return feed.Page{}, fmt.Errorf("binance: limit %d: expected >= 0", q.Limit)
	}
	var out feed.Page
	for _, a := range q.Assets {
		page, err := c.fetchAsset(ctx, a, q)
		if err != nil {
			return feed.Page{}, err
		}
		out.Records = append(out.Records, page.Records...)
		out.Dropped = append(out.Dropped, page.Dropped...)
	}
	return out, nil
}

func (c *Client) fetchAsset(ctx context.Context, asset string, q feed.Query) (feed.Page, error) {
	symbol, err := c.Symbol(asset)
	if err != nil {
		return feed.Page{}, err
	}
	g := Intervals[q.Granularity]
	limit := q.Limit
	if limit == 0 {
		limit = MaxLimit
	}
	now := c.ep.Clock.Now()
	until := q.Until
	if until.IsZero() || until.After(now) {
		until = now
	}
	meta := []byte(`{"symbol":"` + symbol + `"}`)
	var out feed.Page
	cursor := q.Since
	for got := 0; got < limit; {
		if !cursor.IsZero() && cursor.After(until) {
			break
		}
		want := min(limit-got, MaxLimit)
		rows, drops, err := c.Klines(ctx, symbol, q.Granularity, cursor, until, want)
		if err != nil {
			return feed.Page{}, err
		}
		if len(rows)+len(drops) > want {
			return feed.Page{}, fmt.Errorf("binance: %s %s: asked for %d klines, got %d", symbol, q.Granularity, want, len(rows)+len(drops))
		}
		got += len(rows) + len(drops)
		out.Dropped = append(out.Dropped, drops...)
		newest := cursor
		for _, d := range drops {
			newest = later(newest, d.Ts)
		}
		unclosed := false
		for _, k := range rows {
			if !k.CloseTime.Before(now) {
				// Still forming: never stored, nor anything after it.
				unclosed = true
				continue
			}
			newest = later(newest, k.Time)
			out.Records = append(out.Records, store.MarketRecord{
				Provider: Name, Asset: feed.NormalizeAsset(asset), Kind: feed.KindCandle, Granularity: q.Granularity,
				TsEvent: k.Time, TsIngested: now, Values: feed.CandleValues(k.Candle), Meta: meta,
			})
		}
		if unclosed || len(rows)+len(drops) < want || q.Since.IsZero() || !newest.After(cursor) {
			break
		}
		cursor = newest.Truncate(time.Millisecond).Add(g)
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Klines performs one klines request (start/end inclusive on open time,
// zero = omitted; limit 1..1000) and returns the rows ParseKlines accepts
// and the rows it left out.
func (c *Client) Klines(ctx context.Context, symbol, interval string, start, end time.Time, limit int) ([]Kline, []feed.Drop, error) {
	if _, ok := Intervals[interval]; !ok {
		return nil, nil, fmt.Errorf("binance: interval %q is not supported: %w", interval, feed.ErrUnsupported)
	}
	if limit < 1 || limit > MaxLimit {
		return nil, nil, fmt.Errorf("binance: limit %d: expected 1..%d", limit, MaxLimit)
	}
	params := url.Values{}
	params.Set("symbol", symbol)
	params.Set("interval", interval)
	if !start.IsZero() {
		ms := start.UnixMilli()
		if start.After(time.UnixMilli(ms)) { // round a sub-millisecond start up: the bound is inclusive
			ms++
		}
		params.Set("startTime", strconv.FormatInt(ms, 10))
	}
	if !end.IsZero() {
		params.Set("endTime", strconv.FormatInt(end.UnixMilli(), 10))
	}
	params.Set("limit", strconv.Itoa(limit))
	u := c.ep.Base + "/api/v3/klines?" + params.Encode()
	body, err := httpx.Get(ctx, c.ep.HTTP, u, c.ep.Timeout)
	if err != nil {
		return nil, nil, fmt.Errorf("binance: %w", err)
	}
	rows, drops, err := ParseKlines(body, interval)
	if err != nil {
		return nil, nil, fmt.Errorf("binance: GET %s: %w", httpx.Redact(u), err)
	}
	for i := range drops {
		drops[i].Reason = symbol + " " + drops[i].Reason
	}
	return rows, drops, nil
}

// ParseKlines decodes a klines body: an array of arrays [open time ms,
// "open", "high", "low", "close", "volume", close time ms, "quote volume",
// trades, ...]. Each row needs at least 7 fields; prices must be > 0,
// high >= low, open and close within [low, high], volume >= 0, the open
// time aligned to the interval and the close time open + interval − 1 ms.
// A row failing any of these is returned as a feed.Drop (DropMalformed,
// its open time when readable, the reason naming the row index); the
// other rows are returned in order. The error is for a body that is not a
// JSON array.
func ParseKlines(body []byte, interval string) ([]Kline, []feed.Drop, error) {
	g, ok := Intervals[interval]
	if !ok {
		return nil, nil, fmt.Errorf("interval %q is not supported: %w", interval, feed.ErrUnsupported)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, nil, fmt.Errorf("decoding klines %q: expected an array of arrays: %w", httpx.Snippet(body), err)
	}
	out := make([]Kline, 0, len(raw))
	var drops []feed.Drop
	for i, row := range raw {
		k, err := parseKline(row, g, interval)
		if err != nil {
			drops = append(drops, feed.Drop{Cause: feed.DropMalformed, Ts: k.Time, Row: feed.RowText(row), Reason: fmt.Sprintf("kline %d: %v", i, err)})
			continue
		}
		out = append(out, k)
	}
	return out, drops, nil
}

// parseKline reads one row; on error k.Time holds the open time when it
// could be read.
func parseKline(raw json.RawMessage, g time.Duration, interval string) (Kline, error) {
	var k Kline
	var row []json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return k, fmt.Errorf("expected an array")
	}
	var openMs, closeMs int64
	if len(row) > 0 && json.Unmarshal(row[0], &openMs) == nil && openMs > 0 && openMs%g.Milliseconds() == 0 {
		k.Time = time.UnixMilli(openMs).UTC()
	}
	if len(row) < 7 {
		return k, fmt.Errorf("%d fields, expected at least 7", len(row))
	}
	if err := json.Unmarshal(row[0], &openMs); err != nil {
		return k, fmt.Errorf("open time %s: expected integer milliseconds", row[0])
	}
	if err := json.Unmarshal(row[6], &closeMs); err != nil {
		return k, fmt.Errorf("close time %s: expected integer milliseconds", row[6])
	}
	k.CloseTime = time.UnixMilli(closeMs).UTC()
	if openMs%g.Milliseconds() != 0 {
		return k, fmt.Errorf("open time %s not aligned to %s", time.UnixMilli(openMs).UTC().Format(time.RFC3339Nano), interval)
	}
	if closeMs != openMs+g.Milliseconds()-1 {
		return k, fmt.Errorf("close time %d, expected open time %d + %s − 1 ms", closeMs, openMs, interval)
	}
	for j, dst := range []*float64{&k.Open, &k.High, &k.Low, &k.Close, &k.Volume} {
		var s string
		if err := json.Unmarshal(row[j+1], &s); err != nil {
			return k, fmt.Errorf("field %d: %s: expected a decimal string", j+1, row[j+1])
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return k, fmt.Errorf("field %d: %q: expected a decimal", j+1, s)
		}
		*dst = f
	}
	if len(row) > 8 {
		if err := json.Unmarshal(row[8], &k.Trades); err != nil {
			return k, fmt.Errorf("trades %s: expected an integer", row[8])
		}
	}
	if err := k.Candle.Validate(); err != nil {
		return k, fmt.Errorf("open %s: %w", k.Time.Format(time.RFC3339), err)
	}
	return k, nil
}

// Probe fetches the newest closed candle of asset at interval once (the
// start-up and doctor check) and returns it as a record. Errors: as Fetch,
// plus "no closed candle" when Binance returns none.
func Probe(ctx context.Context, cfg Config, asset, interval string) (store.MarketRecord, error) {
	c, err := New(cfg)
	if err != nil {
		return store.MarketRecord{}, err
	}
	page, err := c.Fetch(ctx, feed.Query{Assets: []string{asset}, Kind: feed.KindCandle, Granularity: interval, Limit: 2})
	if err != nil {
		return store.MarketRecord{}, fmt.Errorf("binance probe: %w", err)
	}
	recs := page.Records
	if len(recs) == 0 {
		if len(page.Dropped) > 0 {
			d := page.Dropped[len(page.Dropped)-1]
			return store.MarketRecord{}, fmt.Errorf("binance probe: no readable closed %s candle for %s: %s (row %s)", interval, asset, d.Reason, d.Row)
		}
		return store.MarketRecord{}, fmt.Errorf("binance probe: no closed %s candle returned for %s", interval, asset)
	}
	return recs[len(recs)-1], nil
}
