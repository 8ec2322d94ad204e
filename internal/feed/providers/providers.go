// Package providers builds the feed.Provider named by the feed settings
// (FEED_PROVIDER): pyth, binance or replay. It exists so that package feed
// does not import its providers.
package providers

import (
	"fmt"
	"net/http"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/binance"
	"github.com/crunch-coordinator/coordinator/internal/feed/pyth"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
)

// Options are the non-setting dependencies of a provider.
type Options struct {
	// HTTPClient is used by pyth and binance (default: a new http.Client).
	HTTPClient *http.Client
	// Clock decides which candles are closed and stamps ingest times
	// (default clock.Wall).
	Clock clock.Clock
}

// New validates cfg and returns its provider, already checked to serve
// cfg.Kind at cfg.Granularity and (pyth, binance) to know every asset in
// cfg.Assets. Errors name the setting at fault; an unknown provider lists
// the known ones. For replay the CSV is loaded (and validated) here and
// cfg.Assets must hold exactly the one asset the file is about.
func New(cfg feed.Config, o Options) (feed.Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		p   feed.Provider
		err error
	)
	switch cfg.Provider {
	case feed.ProviderPyth:
		var c *pyth.Client
		c, err = pyth.New(pyth.Config{BaseURL: cfg.PythHermesURL, Timeout: cfg.Timeout, FeedIDs: cfg.PythFeedIDs, HTTPClient: o.HTTPClient, Clock: o.Clock})
		if err == nil {
			for _, a := range cfg.Assets {
				if _, err = c.FeedID(a); err != nil {
					break
				}
			}
		}
		p = c
	case feed.ProviderBinance:
		var c *binance.Client
		c, err = binance.New(binance.Config{BaseURL: cfg.BinanceAPIURL, Timeout: cfg.Timeout, Symbols: cfg.BinanceSymbols, HTTPClient: o.HTTPClient, Clock: o.Clock})
		if err == nil {
			for _, a := range cfg.Assets {
				if _, err = c.Symbol(a); err != nil {
					break
				}
			}
		}
		p = c
	case feed.ProviderReplay:
		if len(cfg.Assets) != 1 {
			return nil, fmt.Errorf("FEED_ASSETS=%v: the replay provider serves exactly one asset (the one in FEED_REPLAY_FILE)", cfg.Assets)
		}
		p, err = replay.Open(cfg.ReplayFile, cfg.Assets[0])
	default:
		return nil, fmt.Errorf("FEED_PROVIDER=%q: unknown provider, expected one of %s, %s, %s", cfg.Provider, feed.ProviderPyth, feed.ProviderBinance, feed.ProviderReplay)
	}
	if err != nil {
		return nil, err
	}
	if err := p.Supports(cfg.Kind, cfg.Granularity); err != nil {
		return nil, fmt.Errorf("FEED_KIND=%s FEED_GRANULARITY=%s: %w", cfg.Kind, cfg.Granularity, err)
	}
	return p, nil
}
