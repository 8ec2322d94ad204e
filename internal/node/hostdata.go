package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

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
// A query's IngestedBy and the View, when set, bound the records served
// (the earlier of the two).
type StoreHostData struct {
	Market   store.Market
	Defaults FeedDefaults
	View     *FeedView
}

// FeedView bounds what a StoreHostData serves to the records stored
// (ts_ingested) by a clock's time: a replay stores the candles of a block
// ahead of its simulated clock, and the callables must see the feed as
// stored at each cycle's time, as they do live. The zero value serves
// every record. Safe for concurrent use.
type FeedView struct {
	now atomic.Pointer[func() time.Time]
}

// Set bounds the view by now() (nil: every record).
func (v *FeedView) Set(now func() time.Time) {
	if now == nil {
		v.now.Store(nil)
		return
	}
	v.now.Store(&now)
}

// earliest returns the earlier of two bounds (zero: none).
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// bound returns the view's bound, or the zero time for none.
func (v *FeedView) bound() time.Time {
	if v == nil {
		return time.Time{}
	}
	if f := v.now.Load(); f != nil {
		return (*f)()
	}
	return time.Time{}
}

// ReadFeedRecords implements sdk.HostData.
func (h StoreHostData) ReadFeedRecords(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, error) {
	recs, _, err := h.read(ctx, q, false)
	return recs, err
}

// ReadFeedRecordsIngested implements sdk.FeedIngestionReader: the records
// and when the node stored each (ts_ingested).
func (h StoreHostData) ReadFeedRecordsIngested(ctx context.Context, q sdk.FeedQuery) ([]sdk.FeedRecord, []time.Time, error) {
	return h.read(ctx, q, true)
}

func (h StoreHostData) read(ctx context.Context, q sdk.FeedQuery, withIngested bool) ([]sdk.FeedRecord, []time.Time, error) {
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
		return []sdk.FeedRecord{}, []time.Time{}, nil
	}
	recs, err := h.Market.QueryMarketRecords(ctx, store.MarketQuery{
		Provider: q.Provider, Asset: q.Asset, Kind: q.Kind, Granularity: q.Granularity,
		Start: q.Start, End: q.End, Limit: q.Limit, Descending: q.Descending, IngestedBy: earliest(q.IngestedBy, h.View.bound()),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read feed records (provider %q, asset %q, kind %q, granularity %q): %w", q.Provider, q.Asset, q.Kind, q.Granularity, err)
	}
	out := make([]sdk.FeedRecord, len(recs))
	var ingested []time.Time
	if withIngested {
		ingested = make([]time.Time, len(recs))
	}
	for i, r := range recs {
		out[i] = sdk.FeedRecord{Provider: r.Provider, Asset: r.Asset, Kind: r.Kind, Granularity: r.Granularity, TsEvent: r.TsEvent.UTC(), Values: r.Values}
		if withIngested {
			ingested[i] = r.TsIngested.UTC()
		}
	}
	return out, ingested, nil
}
