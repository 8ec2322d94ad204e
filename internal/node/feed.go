package node

import (
	"context"
	"strings"

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
				Stale: h.Stale, LastError: h.LastError, LastEventAt: h.LastEventTs, LastErrorAt: h.LastErrorAt,
				ConsecutiveErrors: h.ConsecutiveErrors, NextAttemptAt: h.NextAttemptAt, Gaps: h.Gaps,
				Malformed: h.Malformed, Conflicts: h.Conflicts, StalePrices: h.StalePrices, Duplicates: h.Duplicates, Placeholders: h.Placeholders,
				LastDropReason: h.LastDrop.Reason, LastDropRow: h.LastDrop.Row}
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

// feedService runs the live feed poller of a predict node.
type feedService struct {
	poller *feed.Poller
	cfg    feed.Config
	log    hclog.Logger

	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs the poller's first sync, so an unreachable feed is reported at
// once with the URL and the consequence, then polls on its own goroutine
// (retrying with backoff; predict cycles skip while the feed is stale).
func (s *feedService) Start(ctx context.Context) error {
	if err := s.poller.Sync(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("feed unreachable at start-up: no predictions are made until it delivers fresh data (the poller keeps retrying with backoff)",
			"provider", s.cfg.Provider, "url", feedURL(s.cfg), "assets", strings.Join(s.cfg.Assets, ","), "error", err)
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.poller.Run(run)
	}()
	return nil
}

// Drain stops the poller at once: an interrupted fetch loses nothing
// (pages are stored as they arrive, idempotently).
func (s *feedService) Drain(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop stops the poller and waits for it.
func (s *feedService) Stop() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	<-s.done
	return nil
}

// Failed never fires: the poller retries with backoff.
func (s *feedService) Failed() <-chan error { return nil }

func feedURL(c feed.Config) string {
	switch c.Provider {
	case feed.ProviderPyth:
		return c.PythHermesURL
	case feed.ProviderBinance:
		return c.BinanceAPIURL
	case feed.ProviderReplay:
		return c.ReplayFile
	}
	return ""
}
