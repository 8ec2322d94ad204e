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
// in [q.Since, q.Until]; q.Limit is irrelevant (at most one per asset).
// Errors: unsupported kind, unknown asset, request failure, HTTP status,
// malformed JSON, a requested id missing from the response, a bad price.
func (c *Client) Fetch(ctx context.Context, q feed.Query) ([]store.MarketRecord, error) {
	if err := c.Supports(q.Kind, q.Granularity); err != nil {
		return nil, err
	}
	recs, err := c.Latest(ctx, q.Assets, q.Granularity)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		if feed.InWindow(r.TsEvent, q.Since, q.Until) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Latest fetches the latest price of each asset in one Hermes request and
// returns one tick record per asset, in the order of assets, labelled with
// granularity. Values: {"price","conf","expo","publish_time"}; price and
// conf are scaled by 10^expo. Meta: {"feed_id": "<id>"}.
func (c *Client) Latest(ctx context.Context, assets []string, granularity string) ([]store.MarketRecord, error) {
	if len(assets) == 0 {
		return nil, fmt.Errorf("pyth: no assets requested")
	}
	params := url.Values{}
	byID := map[string]string{} // feed id → asset
	for _, a := range assets {
		id, err := c.FeedID(a)
		if err != nil {
			return nil, err
		}
		if _, dup := byID[id]; dup {
			return nil, fmt.Errorf("pyth: asset %q requested twice (feed id %s)", a, id)
		}
		byID[id] = feed.NormalizeAsset(a)
		params.Add("ids[]", id)
	}
	params.Set("parsed", "true")
	u := c.ep.Base + "/v2/updates/price/latest?" + params.Encode()
	body, err := httpx.Get(ctx, c.ep.HTTP, u, c.ep.Timeout)
	if err != nil {
		return nil, fmt.Errorf("pyth: %w", err)
	}
	ticks, err := ParseLatest(body)
	if err != nil {
		return nil, fmt.Errorf("pyth: GET %s: %w", httpx.Redact(u), err)
	}
	u = httpx.Redact(u)
	got := map[string]feed.Tick{}
	for id, t := range ticks {
		if _, ok := byID[id]; !ok {
			return nil, fmt.Errorf("pyth: GET %s: response holds feed id %s that was not requested", u, id)
		}
		got[id] = t
	}
	now := c.ep.Clock.Now()
	out := make([]store.MarketRecord, 0, len(assets))
	for _, a := range assets {
		id, _ := c.FeedID(a)
		t, ok := got[id]
		if !ok {
			return nil, fmt.Errorf("pyth: GET %s: no price for asset %s (feed id %s) in the response", u, feed.NormalizeAsset(a), id)
		}
		out = append(out, store.MarketRecord{
			Provider:    Name,
			Asset:       feed.NormalizeAsset(a),
			Kind:        feed.KindTick,
			Granularity: granularity,
			TsEvent:     t.PublishTime,
			TsIngested:  now,
			Values:      feed.TickValues(t),
			Meta:        []byte(`{"feed_id":"` + id + `"}`),
		})
	}
	return out, nil
}

// hermesPrice is one price object of a Hermes parsed update. price and conf
// are integers carried as JSON strings; json.Number accepts them quoted.
type hermesPrice struct {
	Price       *json.Number `json:"price"`
	Conf        *json.Number `json:"conf"`
	Expo        *int         `json:"expo"`
	PublishTime *int64       `json:"publish_time"`
}

type hermesResponse struct {
	Parsed *[]struct {
		ID    string       `json:"id"`
		Price *hermesPrice `json:"price"`
	} `json:"parsed"`
}

// ParseLatest decodes a /v2/updates/price/latest?parsed=true body into
// ticks keyed by normalised feed id. Errors: invalid JSON, no "parsed"
// array, an element without id or price fields, a non-integer price or
// conf, a price <= 0, a negative conf, |expo| > 30, publish_time <= 0, or a
// duplicated id.
func ParseLatest(body []byte) (map[string]feed.Tick, error) {
	var r hermesResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding Hermes response %q: %w", httpx.Snippet(body), err)
	}
	if r.Parsed == nil {
		return nil, fmt.Errorf("Hermes response has no \"parsed\" array: %q", httpx.Snippet(body))
	}
	out := make(map[string]feed.Tick, len(*r.Parsed))
	for i, e := range *r.Parsed {
		id := feed.NormalizeFeedID(e.ID)
		if id == "" {
			return nil, fmt.Errorf("parsed[%d]: missing id", i)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("parsed[%d]: feed id %s appears twice", i, id)
		}
		p := e.Price
		if p == nil || p.Price == nil || p.Conf == nil || p.Expo == nil || p.PublishTime == nil {
			return nil, fmt.Errorf("parsed[%d] (feed %s): expected price.price, price.conf, price.expo and price.publish_time", i, id)
		}
		if *p.Expo < -30 || *p.Expo > 30 {
			return nil, fmt.Errorf("parsed[%d] (feed %s): expo %d outside [-30, 30]", i, id, *p.Expo)
		}
		price, err := scaled(string(*p.Price), *p.Expo)
		if err != nil {
			return nil, fmt.Errorf("parsed[%d] (feed %s): price: %w", i, id, err)
		}
		if price <= 0 {
			return nil, fmt.Errorf("parsed[%d] (feed %s): price %s×10^%d: expected > 0", i, id, *p.Price, *p.Expo)
		}
		conf, err := scaled(string(*p.Conf), *p.Expo)
		if err != nil {
			return nil, fmt.Errorf("parsed[%d] (feed %s): conf: %w", i, id, err)
		}
		if conf < 0 {
			return nil, fmt.Errorf("parsed[%d] (feed %s): conf %s: expected >= 0", i, id, *p.Conf)
		}
		if *p.PublishTime <= 0 {
			return nil, fmt.Errorf("parsed[%d] (feed %s): publish_time %d: expected epoch seconds > 0", i, id, *p.PublishTime)
		}
		out[id] = feed.Tick{Price: price, Conf: conf, Expo: *p.Expo, PublishTime: time.Unix(*p.PublishTime, 0).UTC()}
	}
	return out, nil
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
	recs, err := c.Latest(ctx, []string{asset}, "1s")
	if err != nil {
		return store.MarketRecord{}, fmt.Errorf("pyth probe: %w", err)
	}
	r := recs[0]
	if age := c.ep.Clock.Now().Sub(r.TsEvent); maxAge > 0 && age > maxAge {
		return store.MarketRecord{}, fmt.Errorf("pyth probe: %s price published at %s is %v old (limit %v)",
			r.Asset, r.TsEvent.Format(time.RFC3339), age.Round(time.Second), maxAge)
	}
	return r, nil
}
