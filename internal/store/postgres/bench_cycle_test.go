package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// BenchmarkPipelineWrites10 is the store's part of the pipeline of issue 16
// item 5 with 10 models, per iteration: one feed record upserted
// (UpsertMarketRecords, with its watermark), then one predict cycle of 10
// new predictions (SavePredictCycle with the 10 unchanged models, a new
// input per cycle): the two transactions between a feed record's arrival
// and its predictions being persisted, without the plugins.
func BenchmarkPipelineWrites10(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	models := benchModels()
	var upsert, save time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		slot := t0.Add(time.Duration(i) * time.Minute)
		rec := store.MarketRecord{Provider: "bench", Asset: "BTC", Kind: "candle", Granularity: "1m", TsEvent: slot, TsIngested: slot.Add(time.Minute),
			Values: json.RawMessage(fmt.Sprintf(`{"open":23140.48,"high":23150.77,"low":23128.52,"close":%d.31,"volume":2.131777}`, 23000+i%500))}
		preds := benchPredictions(fmt.Sprintf("it%07d", i), 10, slot)
		for j := range preds {
			preds[j].InferenceInput = json.RawMessage(fmt.Sprintf(`{"candles":[[%d,23141.57,23141.57,23100.01,23122.41,12.3]]}`, slot.UnixMilli()))
		}
		b.StartTimer()
		t := time.Now()
		if n, err := s.UpsertMarketRecords(ctx, []store.MarketRecord{rec}); err != nil || n != 1 {
			b.Fatalf("UpsertMarketRecords = %d, %v", n, err)
		}
		t1 := time.Now()
		if n, err := s.SavePredictCycle(ctx, models, preds); err != nil || n != 10 {
			b.Fatalf("SavePredictCycle = %d, %v", n, err)
		}
		upsert, save = upsert+t1.Sub(t), save+time.Since(t1)
	}
	b.ReportMetric(float64(upsert.Microseconds())/float64(b.N)/1000, "upsert-ms/op")
	b.ReportMetric(float64(save.Microseconds())/float64(b.N)/1000, "save-ms/op")
}
