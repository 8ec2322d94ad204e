package node

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/providers"
	"github.com/crunch-coordinator/coordinator/internal/report"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// PollerHealth adapts a live feed poller's health to the report API's
// /reports/feeds rows.
func PollerHealth(p *feed.Poller) func() []report.FeedHealth {
	return func() []report.FeedHealth {
		hs := p.Health()
		out := make([]report.FeedHealth, len(hs))
		for i, h := range hs {
			out[i] = report.FeedHealth{Provider: h.Provider, Asset: h.Asset, Kind: h.Kind, Granularity: h.Granularity,
				Stale: h.Stale, LastError: h.LastError, LastEventAt: h.LastEventTs}
		}
		return out
	}
}

// ProbeFeed fetches one record of the configured feed at start (the same
// probe `coordinator doctor` runs) and logs the outcome: the price, or why
// the feed cannot deliver. A failure is not fatal: the poller keeps
// retrying and predict cycles wait for fresh data.
func ProbeFeed(ctx context.Context, cfg feed.Config, log hclog.Logger) (store.MarketRecord, error) {
	rec, err := providers.Probe(ctx, cfg, providers.Options{})
	if err != nil {
		log.Error("feed probe failed: no prediction cycle runs until the feed delivers fresh data", "provider", cfg.Provider, "error", err)
		return rec, err
	}
	log.Info("feed probe", "provider", cfg.Provider, "asset", rec.Asset, "kind", rec.Kind, "ts_event", rec.TsEvent, "values", string(rec.Values))
	return rec, nil
}
