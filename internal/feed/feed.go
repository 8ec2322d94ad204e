// Package feed brings market data in: the Provider contract implemented by
// the Pyth Hermes, Binance REST and CSV replay providers (subpackages pyth,
// binance, replay), the feed settings (Config, read from FEED_* variables),
// and the Poller that backfills and polls a provider into a store.Market
// while tracking feed health.
//
// The package never fabricates data (reference-system.md 14.1 #1): a failed
// fetch is an error that is logged, counted and exposed through Health and
// Fresh; it is never replaced by a synthetic price.
package feed

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Record kinds (store.MarketRecord.Kind).
const (
	// KindTick is a single price observation. Values:
	// {"price": float, "conf": float, "expo": int, "publish_time": int epoch seconds}
	// (conf in the same units as price; Pyth ticks carry all four).
	KindTick = "tick"
	// KindCandle is an OHLCV bar; TsEvent is the open time. Values:
	// {"open", "high", "low", "close", "volume"} floats.
	KindCandle = "candle"
)

// ErrUnsupported is wrapped when a provider is asked for a kind,
// granularity or asset it does not serve. It is returned at start-up (by
// Provider.Supports) rather than silently remapping the request.
var ErrUnsupported = errors.New("unsupported by provider")

// Query asks a provider for records in the inclusive event-time window
// [Since, Until] (UTC; zero = unbounded on that side).
type Query struct {
	// Assets are the requested assets (e.g. "BTC"); every asset must be
	// known to the provider, an unknown one is an error.
	Assets []string
	// Kind is KindTick or KindCandle.
	Kind string
	// Granularity is a bar length or tick label such as "1s", "1m", "1h".
	Granularity string
	// Since and Until bound TsEvent inclusively (candles: open time).
	Since, Until time.Time
	// Limit caps the records returned per asset; 0 means the provider's
	// page size (see each provider). Providers return the oldest Limit
	// records of the window so callers can page forward.
	Limit int
}

// Provider is one source of market records.
type Provider interface {
	// Name is the provider name stored in MarketRecord.Provider
	// ("pyth", "binance", "replay").
	Name() string
	// Supports returns nil when the provider serves kind at granularity,
	// else an error wrapping ErrUnsupported that says what it serves.
	Supports(kind, granularity string) error
	// Fetch returns the records matching q, ascending by TsEvent within
	// each asset, at most q.Limit per asset, in Page.Records. A row the
	// provider cannot read (truncated, unparsable, failing validation) is
	// left out alone and listed in Page.Dropped with its reason; the rows
	// around it are returned. An empty page with a nil error means "no data
	// in the window"; a failure of the whole answer (network, HTTP status, a
	// body that is not the expected shape, unknown asset) is an error and
	// no partial or substitute data is returned.
	Fetch(ctx context.Context, q Query) (Page, error)
}

var granularityRE = regexp.MustCompile(`^([1-9][0-9]{0,4})([smhd])$`)

// ParseGranularity returns the duration of a granularity written as a
// positive integer followed by s, m, h or d ("1s", "5m", "1h", "1d").
// Anything else is an error; nothing is coerced.
func ParseGranularity(g string) (time.Duration, error) {
	m := granularityRE.FindStringSubmatch(g)
	if m == nil {
		return 0, fmt.Errorf("granularity %q: expected <n><s|m|h|d> such as 1s, 1m, 5m, 1h", g)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
	return time.Duration(n) * unit, nil
}

// CheckKind returns an error unless kind is KindTick or KindCandle.
func CheckKind(kind string) error {
	if kind != KindTick && kind != KindCandle {
		return fmt.Errorf("feed kind %q: expected %q or %q", kind, KindTick, KindCandle)
	}
	return nil
}

// Candle is one OHLCV bar; Open time is its start (UTC). Prices are in the
// quote currency, Volume in the base asset.
type Candle struct {
	Time                           time.Time
	Open, High, Low, Close, Volume float64
}

// Validate checks the bar: every price finite and > 0, volume finite and
// >= 0, low <= open, close <= high.
func (c Candle) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"open", c.Open}, {"high", c.High}, {"low", c.Low}, {"close", c.Close}} {
		if !finite(f.v) || f.v <= 0 {
			return fmt.Errorf("%s price %v: expected a finite number > 0", f.name, f.v)
		}
	}
	if !finite(c.Volume) || c.Volume < 0 {
		return fmt.Errorf("volume %v: expected a finite number >= 0", c.Volume)
	}
	if c.High < c.Low {
		return fmt.Errorf("high %v < low %v", c.High, c.Low)
	}
	if c.Open < c.Low || c.Open > c.High || c.Close < c.Low || c.Close > c.High {
		return fmt.Errorf("open %v / close %v outside [low %v, high %v]", c.Open, c.Close, c.Low, c.High)
	}
	return nil
}

func finite(f float64) bool { return f == f && f <= maxFloat && f >= -maxFloat }

const maxFloat = 1.7976931348623157e308

// CandleValues encodes the candle as the values JSON of a candle record:
// {"open":o,"high":h,"low":l,"close":c,"volume":v}.
func CandleValues(c Candle) []byte {
	b := make([]byte, 0, 112)
	b = append(b, `{"open":`...)
	b = strconv.AppendFloat(b, c.Open, 'g', -1, 64)
	b = append(b, `,"high":`...)
	b = strconv.AppendFloat(b, c.High, 'g', -1, 64)
	b = append(b, `,"low":`...)
	b = strconv.AppendFloat(b, c.Low, 'g', -1, 64)
	b = append(b, `,"close":`...)
	b = strconv.AppendFloat(b, c.Close, 'g', -1, 64)
	b = append(b, `,"volume":`...)
	b = strconv.AppendFloat(b, c.Volume, 'g', -1, 64)
	return append(b, '}')
}

// Tick is one price observation.
type Tick struct {
	// Price and Conf (confidence interval half-width) in the quote
	// currency, already scaled by 10^Expo.
	Price, Conf float64
	// Expo is the provider's decimal exponent (Pyth), 0 when not relevant.
	Expo int
	// PublishTime is the provider's publish time (UTC, whole seconds for Pyth).
	PublishTime time.Time
}

// TickValues encodes the tick as the values JSON of a tick record:
// {"price":p,"conf":c,"expo":e,"publish_time":<epoch seconds>}.
func TickValues(t Tick) []byte {
	b := make([]byte, 0, 96)
	b = append(b, `{"price":`...)
	b = strconv.AppendFloat(b, t.Price, 'g', -1, 64)
	b = append(b, `,"conf":`...)
	b = strconv.AppendFloat(b, t.Conf, 'g', -1, 64)
	b = append(b, `,"expo":`...)
	b = strconv.AppendInt(b, int64(t.Expo), 10)
	b = append(b, `,"publish_time":`...)
	b = strconv.AppendInt(b, t.PublishTime.Unix(), 10)
	return append(b, '}')
}

// NormalizeAsset trims and upper-cases an asset name ("btc " → "BTC").
func NormalizeAsset(a string) string { return strings.ToUpper(strings.TrimSpace(a)) }

// LookupAsset returns the provider key (feed id, symbol) of asset in m. An
// unknown asset is an error wrapping ErrUnsupported that lists the known
// assets and names the variable that adds one (envPrefix + asset), e.g.
// `pyth: no feed id for asset "DOGE" (known: BTC, ETH; add PYTH_FEED_ID_DOGE)`.
func LookupAsset(m map[string]string, asset, provider, what, envPrefix string) (string, error) {
	a := NormalizeAsset(asset)
	if v, ok := m[a]; ok {
		return v, nil
	}
	known := make([]string, 0, len(m))
	for k := range m {
		known = append(known, k)
	}
	sort.Strings(known)
	return "", fmt.Errorf("%s: no %s for asset %q (known: %s; add %s%s): %w",
		provider, what, asset, strings.Join(known, ", "), envPrefix, a, ErrUnsupported)
}

// InWindow reports whether t lies in the inclusive window [since, until]
// (zero bounds are open).
func InWindow(t, since, until time.Time) bool {
	if !since.IsZero() && t.Before(since) {
		return false
	}
	if !until.IsZero() && t.After(until) {
		return false
	}
	return true
}
