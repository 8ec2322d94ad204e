package wire_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
)

// BenchmarkModelPredict measures one Predict round trip through the
// in-process go-plugin gRPC seam.
func BenchmarkModelPredict(b *testing.B) {
	c := sdktest.StartModel(b, &echoModel{reply: json.RawMessage(`{"value":1.5}`)})
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), json.RawMessage(`60`)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for b.Loop() {
		if _, err := c.Predict(ctx, args, json.RawMessage(`{}`)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScorePredictions1000 measures scoring a batch of 1000 items
// with the default scorer.
func BenchmarkScorePredictions1000(b *testing.B) {
	c := sdktest.StartChallenge(b, minimal{}, nil)
	items := make([]sdk.ScoreItem, 1000)
	for i := range items {
		items[i] = sdk.ScoreItem{PredictionID: "p", Prediction: json.RawMessage(`{"value":1}`), GroundTruth: json.RawMessage(`{"close":2}`)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for b.Loop() {
		if _, err := c.ScorePredictions(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
}
