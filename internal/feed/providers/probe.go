package providers

import (
	"context"
	"fmt"

	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/binance"
	"github.com/crunch-coordinator/coordinator/internal/feed/pyth"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// Probe fetches one record of the configured feed for its first asset: the
// latest Pyth price (no older than cfg.MaxAge), the newest closed
// Binance candle, or the first candle of the replay file. The node runs it
// at start and `coordinator doctor` reports it, so a feed that cannot
// deliver is found before any prediction cycle. Errors name the setting or
// URL at fault.
func Probe(ctx context.Context, cfg feed.Config, o Options) (store.MarketRecord, error) {
	if err := cfg.Validate(); err != nil {
		return store.MarketRecord{}, err
	}
	if len(cfg.Assets) == 0 {
		return store.MarketRecord{}, fmt.Errorf("FEED_ASSETS: no asset to probe")
	}
	asset := cfg.Assets[0]
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	switch cfg.Provider {
	case feed.ProviderPyth:
		return pyth.Probe(ctx, pyth.Config{BaseURL: cfg.PythHermesURL, Timeout: cfg.Timeout, FeedIDs: cfg.PythFeedIDs, HTTPClient: o.HTTPClient, Clock: o.Clock}, asset, cfg.MaxAge)
	case feed.ProviderBinance:
		return binance.Probe(ctx, binance.Config{BaseURL: cfg.BinanceAPIURL, Timeout: cfg.Timeout, Symbols: cfg.BinanceSymbols, HTTPClient: o.HTTPClient, Clock: o.Clock}, asset, cfg.Granularity)
	case feed.ProviderReplay:
		r, err := replay.Open(cfg.ReplayFile, asset)
		if err != nil {
			return store.MarketRecord{}, err
		}
		return r.Record(0), nil
	}
	return store.MarketRecord{}, fmt.Errorf("FEED_PROVIDER=%q: unknown provider, expected one of %s, %s, %s", cfg.Provider, feed.ProviderPyth, feed.ProviderBinance, feed.ProviderReplay)
}
