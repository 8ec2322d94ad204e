package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

func TestMemoryHostDataQuery(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	rec := func(min int, provider, asset, kind, gran string) sdk.FeedRecord {
		return sdk.FeedRecord{Provider: provider, Asset: asset, Kind: kind, Granularity: gran,
			TsEvent: t0.Add(time.Duration(min) * time.Minute), Values: json.RawMessage(`{}`)}
	}
	// Added out of order, in two calls, with a non-UTC time.
	data := NewMemoryHostData(
		rec(3, "binance", "BTC", "candle", "1m"),
		rec(0, "binance", "BTC", "candle", "1m"),
		rec(1, "pyth", "BTC", "tick", "1s"),
	)
	late := rec(2, "binance", "ETH", "candle", "1m")
	late.TsEvent = late.TsEvent.In(time.FixedZone("X", 7200))
	data.Add(late, rec(4, "binance", "BTC", "candle", "5m"), rec(5, "binance", "BTC", "candle", "1m"))

	minutes := func(recs []sdk.FeedRecord) []int {
		out := []int{}
		for _, r := range recs {
			out = append(out, int(r.TsEvent.Sub(t0)/time.Minute))
		}
		return out
	}
	tests := []struct {
		name string
		q    sdk.FeedQuery
		want []int
	}{
		{"all ascending", sdk.FeedQuery{}, []int{0, 1, 2, 3, 4, 5}},
		{"provider", sdk.FeedQuery{Provider: "pyth"}, []int{1}},
		{"asset", sdk.FeedQuery{Asset: "ETH"}, []int{2}},
		{"kind", sdk.FeedQuery{Kind: "candle"}, []int{0, 2, 3, 4, 5}},
		{"granularity", sdk.FeedQuery{Granularity: "1m"}, []int{0, 2, 3, 5}},
		{"inclusive start and end", sdk.FeedQuery{Start: t0.Add(time.Minute), End: t0.Add(3 * time.Minute)}, []int{1, 2, 3}},
		{"start only", sdk.FeedQuery{Start: t0.Add(4 * time.Minute)}, []int{4, 5}},
		{"end only", sdk.FeedQuery{End: t0}, []int{0}},
		{"limit oldest first", sdk.FeedQuery{Limit: 2}, []int{0, 1}},
		{"descending newest limit", sdk.FeedQuery{Asset: "BTC", Granularity: "1m", Limit: 2, Descending: true}, []int{5, 3}},
		{"descending with end", sdk.FeedQuery{End: t0.Add(2 * time.Minute), Descending: true}, []int{2, 1, 0}},
		{"no match", sdk.FeedQuery{Asset: "SOL"}, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := data.ReadFeedRecords(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if g := minutes(got); len(g) != len(tt.want) || (len(g) > 0 && !equalInts(g, tt.want)) {
				t.Fatalf("got minutes %v, want %v", g, tt.want)
			}
			for _, r := range got {
				if r.TsEvent.Location() != time.UTC {
					t.Fatalf("record time %v not in UTC", r.TsEvent)
				}
			}
		})
	}
	if _, err := data.ReadFeedRecords(context.Background(), sdk.FeedQuery{Limit: -1}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("negative limit: got %v, want ErrInvalidInput", err)
	}
	if _, err := data.ReadFeedRecords(context.Background(), sdk.FeedQuery{Start: t0.Add(time.Hour), End: t0}); !errors.Is(err, sdk.ErrInvalidInput) {
		t.Fatalf("end before start: got %v, want ErrInvalidInput", err)
	}
	// Returned values are copies.
	got, _ := data.ReadFeedRecords(context.Background(), sdk.FeedQuery{Limit: 1})
	got[0].Values[0] = 'X'
	again, _ := data.ReadFeedRecords(context.Background(), sdk.FeedQuery{Limit: 1})
	if string(again[0].Values) != `{}` {
		t.Fatal("caller modified stored values")
	}
}

func TestMemoryHostDataLimits(t *testing.T) {
	t0 := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	var recs []sdk.FeedRecord
	for i := 0; i < sdk.MaxFeedLimit+5; i++ {
		recs = append(recs, sdk.FeedRecord{Asset: "BTC", TsEvent: t0.Add(time.Duration(i) * time.Second)})
	}
	data := NewMemoryHostData(recs...)
	for _, tt := range []struct{ limit, want int }{{0, sdk.DefaultFeedLimit}, {sdk.MaxFeedLimit + 3, sdk.MaxFeedLimit}, {7, 7}} {
		got, err := data.ReadFeedRecords(context.Background(), sdk.FeedQuery{Limit: tt.limit})
		if err != nil || len(got) != tt.want {
			t.Fatalf("limit %d: got %d records, %v; want %d", tt.limit, len(got), err, tt.want)
		}
	}
}

func TestMemoryHostDataClock(t *testing.T) {
	data := NewMemoryHostData()
	if _, err := data.Now(context.Background()); err == nil {
		t.Fatal("Now without SetNow: want an error, got none")
	}
	at := time.Date(2023, 3, 5, 1, 2, 3, 0, time.FixedZone("X", 3600))
	data.SetNow(at)
	got, err := data.Now(context.Background())
	if err != nil || !got.Equal(at) || got.Location() != time.UTC {
		t.Fatalf("Now = %v, %v; want %v UTC", got, err, at)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sharedCSV finds ../shared/data/<file> relative to the repository root
// (the directory holding the coordinator's go.mod).
func sharedCSV(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		// The repository root holds the coordinator's go.mod (the SDK is a
		// module of its own inside it).
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/crunch-coordinator/coordinator\n") {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("the coordinator's go.mod not found above the test directory")
		}
		dir = parent
	}
	return filepath.Join(dir, "..", "shared", "data", "binance-us-BTCUSDT-1m-2023-03-01..21.csv")
}

func TestLoadCandlesCSVSharedData(t *testing.T) {
	recs, err := LoadCandlesCSV(sharedCSV(t), "binance", "BTCUSDT")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 30240 {
		t.Fatalf("got %d candles, want 30240 (21 days of 1-minute candles)", len(recs))
	}
	first := recs[0]
	if first.Provider != "binance" || first.Asset != "BTCUSDT" || first.Kind != "candle" || first.Granularity != "1m" ||
		!first.TsEvent.Equal(time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)) || first.TsEvent.Location() != time.UTC {
		t.Fatalf("first candle = %+v", first)
	}
	if string(first.Values) != `{"open":23140.48,"high":23150.77,"low":23128.52,"close":23142.31,"volume":2.131777}` {
		t.Fatalf("first candle values = %s", first.Values)
	}
	for i := 1; i < len(recs); i++ {
		if d := recs[i].TsEvent.Sub(recs[i-1].TsEvent); d != time.Minute {
			t.Fatalf("candle %d is %v after the previous one, want 1m", i, d)
		}
	}
	// Loaded candles feed MemoryHostData directly.
	data := NewMemoryHostData(recs...)
	last, err := data.ReadFeedRecords(context.Background(), sdk.FeedQuery{Asset: "BTCUSDT", Limit: 1, Descending: true})
	if err != nil || len(last) != 1 || !last[0].TsEvent.Equal(recs[len(recs)-1].TsEvent) {
		t.Fatalf("newest candle = %+v, %v", last, err)
	}
}

func TestLoadCandlesCSVErrors(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"bad header", "time,open,high,low,close,volume\n", `header column 1: expected "open_time"`},
		{"bad time", "open_time,open,high,low,close,volume\n2023-03-01T00:00:00Z,1,2,3,4,5\n", "line 2: open_time"},
		{"bad number", "open_time,open,high,low,close,volume\n2023-03-01 00:00:00+00:00,1,2,x,4,5\n", "line 2: low"},
		{"nan", "open_time,open,high,low,close,volume\n2023-03-01 00:00:00+00:00,NaN,2,3,4,5\n", "line 2: open"},
		{"short row", "open_time,open,high,low,close,volume\n2023-03-01 00:00:00+00:00,1,2\n", "wrong number of fields"},
		{"empty", "", "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.csv")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadCandlesCSV(path, "p", "a")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("got %v, want an error naming %s and containing %q", err, path, tt.want)
			}
		})
	}
	if _, err := LoadCandlesCSV(filepath.Join(t.TempDir(), "missing.csv"), "p", "a"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v, want os.ErrNotExist", err)
	}
}
