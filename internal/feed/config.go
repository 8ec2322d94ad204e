package feed

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Provider names accepted in FEED_PROVIDER.
const (
	ProviderPyth    = "pyth"
	ProviderBinance = "binance"
	ProviderReplay  = "replay"
)

// Defaults of the feed settings (reference-system.md 12.2 plus Go additions).
const (
	DefaultProvider        = ProviderPyth
	DefaultAssets          = "BTC"
	DefaultPollSeconds     = 5
	DefaultBackfillMinutes = 180
	DefaultStaleSeconds    = 120
	DefaultTimeoutSeconds  = 8
	DefaultMaxAgeSeconds   = 60
	DefaultPythHermesURL   = "https://hermes.pyth.network"
	DefaultBinanceAPIURL   = "https://api.binance.com"
)

// Config is the feed settings. Build it with ConfigFromEnv (or fill it and
// call Validate).
type Config struct {
	// Provider is FEED_PROVIDER: "pyth" (default), "binance" or "replay";
	// trimmed and lower-cased, anything else is an error.
	Provider string
	// Assets is FEED_ASSETS (comma list, default "BTC"), trimmed and
	// upper-cased; empty entries and duplicates are errors.
	Assets []string
	// Kind is FEED_KIND, "tick" or "candle". When unset it defaults to the
	// kind the provider serves: pyth → tick, binance and replay → candle.
	Kind string
	// Granularity is FEED_GRANULARITY (see ParseGranularity). When unset:
	// pyth → "1s", binance and replay → "1m".
	Granularity string
	// PollInterval is FEED_POLL_SECONDS (default 5, >= 1).
	PollInterval time.Duration
	// Backfill is FEED_BACKFILL_MINUTES (default 180, >= 1): how far back
	// the start-up backfill goes when no watermark is stored.
	Backfill time.Duration
	// StaleAfter is FEED_STALE_AFTER_SECONDS (default 120): a feed whose
	// newest record ended longer ago than this is stale. Must exceed
	// PollInterval.
	StaleAfter time.Duration
	// Timeout is FEED_TIMEOUT_SECONDS (default 8, >= 1): the deadline of one
	// provider request.
	Timeout time.Duration
	// MaxAge is FEED_MAX_AGE_SECONDS (default 60, >= 1): a price (tick)
	// published longer ago than this when polled is dropped, counted and
	// logged, never stored as current.
	MaxAge time.Duration
	// PythHermesURL is PYTH_HERMES_URL (default https://hermes.pyth.network).
	PythHermesURL string
	// BinanceAPIURL is BINANCE_API_URL (default https://api.binance.com).
	BinanceAPIURL string
	// ReplayFile is FEED_REPLAY_FILE, the CSV path; required when Provider
	// is "replay".
	ReplayFile string
	// PythFeedIDs holds PYTH_FEED_ID_<ASSET> overrides (64 hex digits,
	// optional 0x) for the configured assets; keys are upper-case assets.
	PythFeedIDs map[string]string
	// BinanceSymbols holds BINANCE_SYMBOL_<ASSET> overrides (e.g.
	// BINANCE_SYMBOL_BTC=BTCFDUSD) for the configured assets.
	BinanceSymbols map[string]string
}

var (
	hexIDRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	symbolRE = regexp.MustCompile(`^[A-Z0-9]{2,30}$`)
	assetRE  = regexp.MustCompile(`^[A-Z0-9][A-Z0-9._-]{0,31}$`)
)

// ConfigFromEnv reads the feed settings through getenv (os.Getenv in
// production, a map lookup in tests). An empty value means "unset" and
// takes the default. Every malformed value is an error naming the variable
// and the value found; nothing is coerced.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Provider:      strings.ToLower(strings.TrimSpace(getenv("FEED_PROVIDER"))),
		Kind:          strings.TrimSpace(getenv("FEED_KIND")),
		Granularity:   strings.TrimSpace(getenv("FEED_GRANULARITY")),
		PythHermesURL: strings.TrimSpace(getenv("PYTH_HERMES_URL")),
		BinanceAPIURL: strings.TrimSpace(getenv("BINANCE_API_URL")),
		ReplayFile:    strings.TrimSpace(getenv("FEED_REPLAY_FILE")),
	}
	if c.Provider == "" {
		c.Provider = DefaultProvider
	}
	if c.PythHermesURL == "" {
		c.PythHermesURL = DefaultPythHermesURL
	}
	if c.BinanceAPIURL == "" {
		c.BinanceAPIURL = DefaultBinanceAPIURL
	}
	var errs []error
	assets := getenv("FEED_ASSETS")
	if strings.TrimSpace(assets) == "" {
		assets = DefaultAssets
	}
	for _, a := range strings.Split(assets, ",") {
		c.Assets = append(c.Assets, NormalizeAsset(a))
	}
	for _, n := range []struct {
		name string
		def  int
		unit time.Duration
		dst  *time.Duration
	}{
		{"FEED_POLL_SECONDS", DefaultPollSeconds, time.Second, &c.PollInterval},
		{"FEED_BACKFILL_MINUTES", DefaultBackfillMinutes, time.Minute, &c.Backfill},
		{"FEED_STALE_AFTER_SECONDS", DefaultStaleSeconds, time.Second, &c.StaleAfter},
		{"FEED_TIMEOUT_SECONDS", DefaultTimeoutSeconds, time.Second, &c.Timeout},
		{"FEED_MAX_AGE_SECONDS", DefaultMaxAgeSeconds, time.Second, &c.MaxAge},
	} {
		v, err := envInt(getenv, n.name, n.def)
		if err != nil {
			errs = append(errs, err)
			v = n.def // checked against the others as if unset, so each problem is reported once
		}
		*n.dst = time.Duration(v) * n.unit
	}
	for _, a := range c.Assets {
		if id := strings.TrimSpace(getenv("PYTH_FEED_ID_" + a)); id != "" {
			if c.PythFeedIDs == nil {
				c.PythFeedIDs = map[string]string{}
			}
			c.PythFeedIDs[a] = id
		}
		if s := strings.TrimSpace(getenv("BINANCE_SYMBOL_" + a)); s != "" {
			if c.BinanceSymbols == nil {
				c.BinanceSymbols = map[string]string{}
			}
			c.BinanceSymbols[a] = s
		}
	}
	if c.Kind == "" {
		c.Kind = KindCandle
		if c.Provider == ProviderPyth {
			c.Kind = KindTick
		}
	}
	if c.Granularity == "" {
		c.Granularity = "1m"
		if c.Provider == ProviderPyth {
			c.Granularity = "1s"
		}
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

func envInt(getenv func(string) string, name string, def int) (int, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: expected a whole number: %w", name, raw, err)
	}
	if v < 1 {
		return 0, fmt.Errorf("%s=%q: expected a whole number >= 1", name, raw)
	}
	return v, nil
}

// Validate checks every field (the checks ConfigFromEnv applies) and
// returns every problem found (errors.Join), each naming the environment
// variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Provider {
	case ProviderPyth, ProviderBinance, ProviderReplay:
	case "":
		bad("FEED_PROVIDER is empty: expected one of %s, %s, %s", ProviderPyth, ProviderBinance, ProviderReplay)
	default:
		bad("FEED_PROVIDER=%q: unknown provider, expected one of %s, %s, %s", c.Provider, ProviderPyth, ProviderBinance, ProviderReplay)
	}
	if len(c.Assets) == 0 {
		bad("FEED_ASSETS is empty: expected a comma-separated list such as BTC,ETH")
	}
	seen := map[string]bool{}
	for _, a := range c.Assets {
		if !assetRE.MatchString(a) {
			bad("FEED_ASSETS entry %q: expected an upper-case asset name such as BTC", a)
		} else if seen[a] {
			bad("FEED_ASSETS lists %q twice", a)
		}
		seen[a] = true
	}
	if err := CheckKind(c.Kind); err != nil {
		bad("FEED_KIND: %w", err)
	}
	g, err := ParseGranularity(c.Granularity)
	if err != nil {
		bad("FEED_GRANULARITY: %w", err)
	}
	if c.PollInterval < time.Second {
		bad("FEED_POLL_SECONDS: %v is below the minimum of 1s", c.PollInterval)
	}
	if c.Backfill < time.Minute {
		bad("FEED_BACKFILL_MINUTES: %v is below the minimum of 1m", c.Backfill)
	}
	if c.Timeout < time.Second {
		bad("FEED_TIMEOUT_SECONDS: %v is below the minimum of 1s", c.Timeout)
	}
	if c.MaxAge < time.Second {
		bad("FEED_MAX_AGE_SECONDS: %v is below the minimum of 1s", c.MaxAge)
	}
	if c.StaleAfter <= c.PollInterval {
		bad("FEED_STALE_AFTER_SECONDS (%v) must exceed FEED_POLL_SECONDS (%v), or every feed would be stale between polls", c.StaleAfter, c.PollInterval)
	}
	if c.Kind == KindCandle && g > 0 && c.StaleAfter < g {
		bad("FEED_STALE_AFTER_SECONDS (%v) is shorter than one %s candle: expected at least %v", c.StaleAfter, c.Granularity, g)
	}
	for _, u := range []struct{ name, raw string }{{"PYTH_HERMES_URL", c.PythHermesURL}, {"BINANCE_API_URL", c.BinanceAPIURL}} {
		if err := checkURL(u.raw); err != nil {
			bad("%s=%q: %w", u.name, u.raw, err)
		}
	}
	if c.Provider == ProviderReplay && c.ReplayFile == "" {
		bad("FEED_REPLAY_FILE is empty: the replay provider needs a CSV path")
	}
	for _, a := range sortedKeys(c.PythFeedIDs) {
		if id := c.PythFeedIDs[a]; !hexIDRE.MatchString(NormalizeFeedID(id)) {
			bad("PYTH_FEED_ID_%s=%q: expected 64 hex digits (optional 0x prefix)", a, id)
		}
	}
	for _, a := range sortedKeys(c.BinanceSymbols) {
		if s := c.BinanceSymbols[a]; !symbolRE.MatchString(s) {
			bad("BINANCE_SYMBOL_%s=%q: expected an upper-case Binance symbol such as BTCUSDT", a, s)
		}
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("expected an http(s) URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("expected an http(s) URL with a host")
	}
	return nil
}

// NormalizeFeedID lower-cases a Pyth feed id and strips a 0x prefix, the
// form Hermes uses in responses ("0xE62D…" → "e62d…").
func NormalizeFeedID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	return strings.TrimPrefix(id, "0x")
}
