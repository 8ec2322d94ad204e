// Package pyth is the Pyth Hermes REST feed provider: the latest price of
// each asset by Pyth feed id (GET {base}/v2/updates/price/latest?ids[]=<id>
// &parsed=true). Hermes only serves the latest price, so a fetch yields at
// most one tick per asset; history comes from polling.
//
// Unlike the reference (reference-system.md 11.3) the feed ids are the real
// ones, ids are compared without "0x" and case-insensitively, an unknown
// asset is an error, and a failed request is an error, never a synthetic
// price.
package pyth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/httpx"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Name is the provider name stored in market records.
const Name = "pyth"

// DefaultFeedIDs maps assets to the Pyth USD price feed ids (normalised:
// lower-case hex, no 0x).
var DefaultFeedIDs = map[string]string{
	"BTC": "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43", // BTC/USD
	"ETH": "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace", // ETH/USD
	"SOL": "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d", // SOL/USD
}

// Config configures a Client.
type Config struct {
	// BaseURL is the Hermes endpoint (default feed.DefaultPythHermesURL).
	BaseURL string
	// Timeout bounds one request (default 8 s).
	Timeout time.Duration
	// FeedIDs adds or overrides asset → feed id entries (any case, optional 0x).
	FeedIDs map[string]string
	// HTTPClient defaults to a client without its own timeout (the request
	// deadline comes from Timeout).
	HTTPClient *http.Client
	// Clock stamps TsIngested (default clock.Wall).
	Clock clock.Clock
}

// Client is the Pyth provider; it implements feed.Provider and is safe for
// concurrent use.
type Client struct {
	ep  httpx.Endpoint
	ids map[string]string // asset → normalised feed id
}

// New validates cfg and returns a client. Errors: a base URL that is not
// http(s), a feed id that is not 64 hex digits.
func New(cfg Config) (*Client, error) {
	ep, err := httpx.NewEndpoint("pyth: Hermes URL", cfg.BaseURL, feed.DefaultPythHermesURL, cfg.Timeout, time.Duration(feed.DefaultTimeoutSeconds)*time.Second, cfg.HTTPClient, cfg.Clock)
	if err != nil {
		return nil, err
	}
	c := &Client{ep: ep, ids: map[string]string{}}
	for a, id := range DefaultFeedIDs {
		c.ids[a] = id
	}
	for a, id := range cfg.FeedIDs {
		n := feed.NormalizeFeedID(id)
		if len(n) != 64 || strings.Trim(n, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("pyth: feed id %q for asset %q: expected 64 hex digits (optional 0x prefix)", id, a)
		}
		c.ids[feed.NormalizeAsset(a)] = n
	}
	return c, nil
}

// Name returns "pyth".
func (c *Client) Name() string { return Name }

// Supports accepts kind "tick" with any valid granularity label; Pyth has
// no candles (a flat candle built from one price would be invented data).
func (c *Client) Supports(kind, granularity string) error {
	if kind != feed.KindTick {
		return fmt.Errorf("pyth serves kind %q only, %q requested: %w", feed.KindTick, kind, feed.ErrUnsupported)
	}
	if _, err := feed.ParseGranularity(granularity); err != nil {
		return fmt.Errorf("pyth: %w", err)
	}
	return nil
}

// FeedID returns the normalised feed id of asset, or an error wrapping
// feed.ErrUnsupported listing the known assets.
func (c *Client) FeedID(asset string) (string, error) {
	return feed.LookupAsset(c.ids, asset, "pyth", "feed id", "PYTH_FEED_ID_")
}

// Fetch returns the latest tick of every asset in q whose publish time lies
// in [q.Since, q.Until]; q.Limit is irrelevant (at most one per asset and
// response element). A price element that cannot be read is listed in
// Page.Dropped. Errors: unsupported kind, unknown asset, request failure,
// HTTP status, a body that is not a Hermes answer, a requested id missing
// from the response (and not dropped).
func (c *Client) Fetch(ctx context.Context, q feed.Query) (feed.Page, error) {
	if err := c.Supports(q.Kind, q.Granularity); err != nil {
		return feed.Page{}, err
	}
	page, err := c.Latest(ctx, q.Assets, q.Granularity)
	if err != nil {
		return feed.Page{}, err
	}
	out := page.Records[:0]
	for _, r := range page.Records {
		if feed.InWindow(r.TsEvent, q.Since, q.Until) {
			out = append(out, r)
		}
	}
	page.Records = out
	return page, nil
}

// Latest fetches the latest price of each asset in one Hermes request and
// returns tick records labelled with granularity, in the order of assets
// (an asset appearing twice in the answer yields two records, for
// feed.CleanPage to collapse or reject). Values:
// {"price","conf","expo","publish_time"}; price and conf are scaled by
// 10^expo. Meta: {"feed_id": "<id>"}. Elements that cannot be read, or
// that answer an id not asked for, are in Page.Dropped.
func (c *Client) Latest(ctx context.Context, assets []string, granularity string) (feed.Page, error) {
	if len(assets) == 0 {
		return feed.Page{}, fmt.Errorf("pyth: no assets requested")
	}
	params := url.Values{}
	byID := map[string]string{} // feed id → asset
	for _, a := range assets {
		id, err := c.FeedID(a)
		if err != nil {
			return feed.Page{}, err
		}
		if _, dup := byID[id]; dup {
			return feed.Page{}, fmt.Errorf("pyth: asset %q requested twice (feed id %s)", a, id)
		}
		byID[id] = feed.NormalizeAsset(a)
		params.Add("ids[]", id)
	}
	params.Set("parsed", "true")
	u := c.ep.Base + "/v2/updates/price/latest?" + params.Encode()
	body, err := httpx.Get(ctx, c.ep.HTTP, u, c.ep.Timeout)
	if err != nil {
		return feed.Page{}, fmt.Errorf("pyth: %w", err)
	}
	prices, drops, err := ParseLatest(body)
	if err != nil {
		return feed.Page{}, fmt.Errorf("pyth: GET %s: %w", httpx.Redact(u), err)
	}
	u = httpx.Redact(u)
	page := feed.Page{Dropped: drops}
	got := map[string][]Price{}
	for _, p := range prices {
		if _, ok := byID[p.ID]; !ok {
			page.Dropped = append(page.Dropped, feed.Drop{Cause: feed.DropMalformed, Row: p.Row,
				Reason: fmt.Sprintf("feed id %s was not requested", p.ID)})
			continue
		}
		got[p.ID] = append(got[p.ID], p)
	}
	// An asset without a price is an error unless a dropped element may
	// have been its price (same id, or an element whose id was unreadable).
	dropped := map[string]bool{}
	for _, d := range drops {
		dropped[d.Key] = true
	}
	unknownDrop := dropped[""]
	now := c.ep.Clock.Now()
	for _, a := range assets {
		id, _ := c.FeedID(a)
		ps, ok := got[id]
		if !ok && !dropped[id] && !unknownDrop {
			return feed.Page{}, fmt.Errorf("pyth: GET %s: no price for asset %s (feed id %s) in the response", u, feed.NormalizeAsset(a), id)
		}
		for _, p := range ps {
			page.Records = append(page.Records, store.MarketRecord{
				Provider:    Name,
				Asset:       feed.NormalizeAsset(a),
				Kind:        feed.KindTick,
				Granularity: granularity,
				TsEvent:     p.PublishTime,
				TsIngested:  now,
				Values:      feed.TickValues(p.Tick),
				Meta:        []byte(`{"feed_id":"` + id + `"}`),
			})
		}
	}
	return page, nil
}

// Price is one readable element of a Hermes answer.
type Price struct {
	// ID is the normalised feed id.
	ID string
	feed.Tick
	// Row is the element as received (feed.RowText).
	Row string
}

// hermesPrice is one price object of a Hermes parsed update. price and conf
// are integers carried as JSON strings; json.Number accepts them quoted.
type hermesPrice struct {
	Price       *json.Number `json:"price"`
	Conf        *json.Number `json:"conf"`
	Expo        *int         `json:"expo"`
	PublishTime *int64       `json:"publish_time"`
}

type hermesElement struct {
	ID    string       `json:"id"`
	Price *hermesPrice `json:"price"`
}

// ParseLatest decodes a /v2/updates/price/latest?parsed=true body into its
// price elements, in order. An element without id or price fields, with a
// non-integer price or conf, a price <= 0, a negative conf, |expo| > 30 or
// publish_time <= 0 is returned as a feed.Drop (Key: its feed id when
// readable) and the others are kept. Errors: invalid JSON, no "parsed"
// array.
func ParseLatest(body []byte) ([]Price, []feed.Drop, error) {
	var r struct {
		Parsed *[]json.RawMessage `json:"parsed"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("decoding Hermes response %q: %w", httpx.Snippet(body), err)
	}
	if r.Parsed == nil {
		return nil, nil, fmt.Errorf("the Hermes response has no \"parsed\" array: %q", httpx.Snippet(body))
	}
	var out []Price
	var drops []feed.Drop
	for i, raw := range *r.Parsed {
		p, err := parseElement(raw)
		if err != nil {
			d := feed.Drop{Cause: feed.DropMalformed, Key: p.ID, Ts: p.PublishTime, Row: feed.RowText(raw), Reason: fmt.Sprintf("parsed[%d]", i)}
			if p.ID != "" {
				d.Reason += " (feed " + p.ID + ")"
			}
			d.Reason += ": " + err.Error()
			drops = append(drops, d)
			continue
		}
		out = append(out, p)
	}
	return out, drops, nil
}

// parseElement reads one element; on error p.ID (and p.PublishTime) hold
// what could be read.
func parseElement(raw json.RawMessage) (Price, error) {
	var idOnly struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &idOnly) // the id, even when the price is unreadable
	p := Price{ID: feed.NormalizeFeedID(idOnly.ID), Row: feed.RowText(raw)}
	var e hermesElement
	if err := json.Unmarshal(raw, &e); err != nil {
		return p, fmt.Errorf("expected an object with id and price")
	}
	if p.ID == "" {
		return p, fmt.Errorf("missing id")
	}
	pr := e.Price
	if pr == nil || pr.Price == nil || pr.Conf == nil || pr.Expo == nil || pr.PublishTime == nil {
		return p, fmt.Errorf("expected price.price, price.conf, price.expo and price.publish_time")
	}
	if *pr.PublishTime <= 0 {
		return p, fmt.Errorf("publish_time %d: expected epoch seconds > 0", *pr.PublishTime)
	}
	p.PublishTime = time.Unix(*pr.PublishTime, 0).UTC()
	if *pr.Expo < -30 || *pr.Expo > 30 {
		return p, fmt.Errorf("expo %d outside [-30, 30]", *pr.Expo)
	}
	price, err := scaled(string(*pr.Price), *pr.Expo)
	if err != nil {
		return p, fmt.Errorf("price: %w", err)
	}
	if price <= 0 {
		return p, fmt.Errorf("price %s×10^%d: expected > 0", *pr.Price, *pr.Expo)
	}
	conf, err := scaled(string(*pr.Conf), *pr.Expo)
	if err != nil {
		return p, fmt.Errorf("conf: %w", err)
	}
	if conf < 0 {
		return p, fmt.Errorf("conf %s: expected >= 0", *pr.Conf)
	}
	p.Price, p.Conf, p.Expo = price, conf, *pr.Expo
	return p, nil
}

// scaled returns the integer mantissa × 10^expo, correctly rounded.
func scaled(mantissa string, expo int) (float64, error) {
	if _, err := strconv.ParseInt(mantissa, 10, 64); err != nil {
		return 0, fmt.Errorf("%q: expected an integer: %w", mantissa, err)
	}
	return strconv.ParseFloat(mantissa+"e"+strconv.Itoa(expo), 64)
}

// Probe fetches the latest price of asset once (the start-up and doctor
// check that the feed really delivers data) and returns it as a tick
// record labelled granularity "1s". Errors: as Latest, plus a publish time
// more than maxAge before now when maxAge > 0.
func Probe(ctx context.Context, cfg Config, asset string, maxAge time.Duration) (store.MarketRecord, error) {
	c, err := New(cfg)
	if err != nil {
		return store.MarketRecord{}, err
	}
	page, err := c.Latest(ctx, []string{asset}, "1s")
	if err != nil {
		return store.MarketRecord{}, fmt.Errorf("pyth probe: %w", err)
	}
	if len(page.Records) == 0 {
		d := page.Dropped[0]
		return store.MarketRecord{}, fmt.Errorf("pyth probe: no readable %s price: %s (row %s)", asset, d.Reason, d.Row)
	}
	r := page.Records[0]
	if age := c.ep.Clock.Now().Sub(r.TsEvent); maxAge > 0 && age > maxAge {
		return store.MarketRecord{}, fmt.Errorf("pyth probe: %s price published at %s is %v old (limit %v)",
			r.Asset, r.TsEvent.Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	return r, nil
}
