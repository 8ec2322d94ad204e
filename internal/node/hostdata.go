package node

import (
	"context"
	"fmt"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// FeedDefaults fill the empty fields of a plugin's feed query: the node's
// configured feed.
type FeedDefaults struct {
	Provider, Kind, Granularity string
}

// StoreHostData serves feed records to plugins (sdk.HostData) from the
// node's store; empty provider, kind or granularity mean the configured feed.
type StoreHostData struct {
	Market   store.Market
	Defaults FeedDefaults
}

// ReadFeedRecords implements sdk.HostData.
func (h StoreHostData) ReadFeedRecords(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	if q.Provider == "" {
		q.Provider = h.Defaults.Provider
	}
	if q.Kind == "" {
		q.Kind = h.Defaults.Kind
	}
	if q.Granularity == "" {
		q.Granularity = h.Defaults.Granularity
	}
	// Limits as documented on sdk.FeedQuery: 0 = sdk.DefaultFeedLimit,
	// capped at sdk.MaxFeedLimit, negative = no rows.
	if q.Limit = q.EffectiveLimit(); q.Limit == 0 {
		return []sdk.FeedRecord{}, nil
	}
	recs, err := h.Market.QueryMarketRecords(ctx, store.MarketQuery{
		Provider: q.Provider, Asset: q.Asset, Kind: q.Kind, Granularity: q.Granularity,
		Start: q.Start, End: q.End, Limit: q.Limit, Descending: q.Descending,
	})
	if err != nil {
		return nil, fmt.Errorf("read feed records (provider %q, asset %q, kind %q, granularity %q): %w", q.Provider, q.Asset, q.Kind, q.Granularity, err)
	}
	out := make([]sdk.FeedRecord, len(recs))
	for i, r := range recs {
		out[i] = sdk.FeedRecord{Provider: r.Provider, Asset: r.Asset, Kind: r.Kind, Granularity: r.Granularity, TsEvent: r.TsEvent.UTC(), Values: r.Values}
	}
	return out, nil
}
