// Package feedtest holds test helpers shared by the feed packages: the
// path of the shared real-candle CSV and an in-memory store.Market.
package feedtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SharedCSVName is the file name of the shared 1-minute BTCUSDT candles.
const SharedCSVName = "binance-us-BTCUSDT-1m-2023-03-01..21.csv"

// SharedCSV returns the path of the shared CSV: ../shared/data relative to
// the directory holding go.mod. It fails the test when it is missing.
func SharedCSV(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "data", SharedCSVName)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared CSV missing: %v", err)
	}
	return p
}

type key struct {
	provider, asset, kind, granularity string
}

// Market is an in-memory store.Market: records unique on (provider, asset,
// kind, granularity, ts_event), watermark = newest event time written.
// FailUpsert, when set, is returned by UpsertMarketRecords (nothing written).
type Market struct {
	mu         sync.Mutex
	recs       map[key]map[int64]store.MarketRecord
	watermarks map[key]time.Time
	FailUpsert error
	FailRead   error
	Upserts    int // number of UpsertMarketRecords calls that wrote
}

// NewMarket returns an empty Market.
func NewMarket() *Market {
	return &Market{recs: map[key]map[int64]store.MarketRecord{}, watermarks: map[key]time.Time{}}
}

// UpsertMarketRecords implements store.Market.
func (m *Market) UpsertMarketRecords(_ context.Context, records []store.MarketRecord) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.FailUpsert != nil {
		return 0, m.FailUpsert
	}
	for _, r := range records {
		if r.Provider == "" || r.Asset == "" || r.TsEvent.IsZero() || len(r.Values) == 0 {
			return 0, fmt.Errorf("fake market: incomplete record %+v: %w", r, store.ErrInvalidValue)
		}
	}
	for _, r := range records {
		k := key{r.Provider, r.Asset, r.Kind, r.Granularity}
		if m.recs[k] == nil {
			m.recs[k] = map[int64]store.MarketRecord{}
		}
		r.TsEvent = r.TsEvent.UTC()
		m.recs[k][r.TsEvent.UnixNano()] = r
		if r.TsEvent.After(m.watermarks[k]) {
			m.watermarks[k] = r.TsEvent
		}
	}
	m.Upserts++
	return len(records), nil
}

// QueryMarketRecords implements store.Market.
func (m *Market) QueryMarketRecords(_ context.Context, q store.MarketQuery) ([]store.MarketRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.FailRead != nil {
		return nil, m.FailRead
	}
	var out []store.MarketRecord
	for k, rs := range m.recs {
		if (q.Provider != "" && q.Provider != k.provider) || (q.Asset != "" && q.Asset != k.asset) ||
			(q.Kind != "" && q.Kind != k.kind) || (q.Granularity != "" && q.Granularity != k.granularity) {
			continue
		}
		for _, r := range rs {
			if (!q.Start.IsZero() && r.TsEvent.Before(q.Start)) || (!q.End.IsZero() && r.TsEvent.After(q.End)) {
				continue
			}
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if q.Descending {
			return out[i].TsEvent.After(out[j].TsEvent)
		}
		return out[i].TsEvent.Before(out[j].TsEvent)
	})
	limit := q.Limit
	if limit == 0 {
		limit = 1000
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// FeedSummaries implements store.Market.
func (m *Market) FeedSummaries(_ context.Context) ([]store.FeedSummary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.FeedSummary
	for k, rs := range m.recs {
		s := store.FeedSummary{Provider: k.provider, Asset: k.asset, Kind: k.kind, Granularity: k.granularity, RecordCount: int64(len(rs))}
		for _, r := range rs {
			if s.OldestTs.IsZero() || r.TsEvent.Before(s.OldestTs) {
				s.OldestTs = r.TsEvent
			}
			if r.TsEvent.After(s.NewestTs) {
				s.NewestTs = r.TsEvent
			}
		}
		if wm, ok := m.watermarks[k]; ok {
			s.WatermarkTs = &wm
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Provider+"|"+a.Asset+"|"+a.Kind+"|"+a.Granularity < b.Provider+"|"+b.Asset+"|"+b.Kind+"|"+b.Granularity
	})
	return out, nil
}

// IngestionStates implements store.Market.
func (m *Market) IngestionStates(_ context.Context) ([]store.IngestionState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.FailRead != nil {
		return nil, m.FailRead
	}
	var out []store.IngestionState
	for k, wm := range m.watermarks {
		wm := wm
		out = append(out, store.IngestionState{Provider: k.provider, Asset: k.asset, Kind: k.kind, Granularity: k.granularity, LastEventTs: &wm})
	}
	return out, nil
}

// SetWatermark sets a feed's watermark without records (a restart test).
func (m *Market) SetWatermark(provider, asset, kind, granularity string, ts time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watermarks[key{provider, asset, kind, granularity}] = ts.UTC()
}

// LoseAfter drops the records of one feed with an event time after ts and
// moves its watermark back to ts (zero: removes it): what a database
// server that crashed before an asynchronous commit reached its disk
// holds after it restarts.
func (m *Market) LoseAfter(provider, asset, kind, granularity string, ts time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := key{provider, asset, kind, granularity}
	for at, r := range m.recs[k] {
		if r.TsEvent.After(ts) {
			delete(m.recs[k], at)
		}
	}
	if ts.IsZero() {
		delete(m.watermarks, k)
	} else {
		m.watermarks[k] = ts.UTC()
	}
}

// Records returns the stored records of one feed, oldest first.
func (m *Market) Records(provider, asset, kind, granularity string) []store.MarketRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.MarketRecord
	for _, r := range m.recs[key{provider, asset, kind, granularity}] {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TsEvent.Before(out[j].TsEvent) })
	return out
}

var _ store.Market = (*Market)(nil)
