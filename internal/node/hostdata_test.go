package node

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/sdk"
)

func TestStoreHostData(t *testing.T) {
	ctx := context.Background()
	st, err := dburl.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	var recs []store.MarketRecord
	for i := 0; i < 5; i++ {
		recs = append(recs, store.MarketRecord{Provider: "replay", Asset: "BTC", Kind: "candle", Granularity: "1m",
			TsEvent: t0.Add(time.Duration(i) * time.Minute), TsIngested: t0, Values: json.RawMessage(`{"close":1}`)})
	}
	recs = append(recs, store.MarketRecord{Provider: "pyth", Asset: "BTC", Kind: "tick", Granularity: "1s", TsEvent: t0, TsIngested: t0, Values: json.RawMessage(`{"price":2}`)})
	if _, err := st.UpsertMarketRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	h := StoreHostData{Market: st, Defaults: FeedDefaults{Provider: "replay", Kind: "candle", Granularity: "1m"}}
	cases := []struct {
		name  string
		q     sdk.FeedQuery
		want  int
		first time.Time
	}{
		{"configured feed by default", sdk.FeedQuery{Asset: "BTC"}, 5, t0},
		{"newest first with a limit", sdk.FeedQuery{Asset: "BTC", Limit: 2, Descending: true}, 2, t0.Add(4 * time.Minute)},
		{"explicit provider", sdk.FeedQuery{Provider: "pyth", Kind: "tick", Granularity: "1s", Asset: "BTC"}, 1, t0},
		{"time range", sdk.FeedQuery{Asset: "BTC", Start: t0.Add(time.Minute), End: t0.Add(2 * time.Minute)}, 2, t0.Add(time.Minute)},
		{"negative limit", sdk.FeedQuery{Asset: "BTC", Limit: -1}, 0, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := h.ReadFeedRecords(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Fatalf("%d records, want %d", len(got), c.want)
			}
			if c.want > 0 && !got[0].TsEvent.Equal(c.first) {
				t.Fatalf("first record at %s, want %s", got[0].TsEvent, c.first)
			}
		})
	}
}

// TestStoreHostDataView: with a FeedView set, only the records stored by
// its clock's time are served (a replay's block stored ahead of its
// clock); cleared, every record.
func TestStoreHostDataView(t *testing.T) {
	ctx := context.Background()
	st, err := dburl.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	var recs []store.MarketRecord
	for i := range 5 { // each candle stored at its close
		open := t0.Add(time.Duration(i) * time.Minute)
		recs = append(recs, store.MarketRecord{Provider: "replay", Asset: "BTC", Kind: "candle", Granularity: "1m",
			TsEvent: open, TsIngested: open.Add(time.Minute), Values: json.RawMessage(`{"close":1}`)})
	}
	if _, err := st.UpsertMarketRecords(ctx, recs); err != nil {
		t.Fatal(err)
	}
	var view FeedView
	h := StoreHostData{Market: st, Defaults: FeedDefaults{Provider: "replay", Kind: "candle", Granularity: "1m"}, View: &view}
	q := sdk.FeedQuery{Asset: "BTC", Limit: 10, Descending: true}
	for _, c := range []struct {
		name   string
		now    func() time.Time
		want   int
		newest time.Time
	}{
		{"no bound", nil, 5, t0.Add(4 * time.Minute)},
		{"at the second candle's close", func() time.Time { return t0.Add(2 * time.Minute) }, 2, t0.Add(time.Minute)},
		{"before any close", func() time.Time { return t0.Add(time.Minute - time.Microsecond) }, 0, time.Time{}},
		{"cleared", nil, 5, t0.Add(4 * time.Minute)},
	} {
		t.Run(c.name, func(t *testing.T) {
			view.Set(c.now)
			got, err := h.ReadFeedRecords(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want || c.want > 0 && !got[0].TsEvent.Equal(c.newest) {
				t.Fatalf("%d records (%v), want %d, newest at %s", len(got), got, c.want, c.newest)
			}
		})
	}
}
