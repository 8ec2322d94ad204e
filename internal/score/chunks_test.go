package score_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// limitedBrier refuses a request whose JSON is over the plugin message
// limit, as the plugin host does (host.ErrRequestTooLarge), and records the
// size of every request it takes.
type limitedBrier struct {
	brier
	mu            sync.Mutex
	resolveSizes  []int
	scoreSizes    []int
	refusedBefore int
}

func (b *limitedBrier) check(what string, v any, sizes *[]int) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(raw) > wire.MaxMessageBytes {
		b.refusedBefore++
		return fmt.Errorf("%s: request larger than the gRPC message limit: %d bytes of JSON, limit %d", what, len(raw), wire.MaxMessageBytes)
	}
	*sizes = append(*sizes, len(raw))
	return nil
}

func (b *limitedBrier) ResolveGroundTruth(ctx context.Context, now time.Time, preds []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	if err := b.check("ResolveGroundTruth", preds, &b.resolveSizes); err != nil {
		return nil, err
	}
	return b.brier.ResolveGroundTruth(ctx, now, preds, data)
}

func (b *limitedBrier) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	if err := b.check("ScorePredictions", items, &b.scoreSizes); err != nil {
		return nil, err
	}
	return b.brier.ScorePredictions(ctx, items)
}

// TestLargeValidAnswersAreScoredInSeveralCalls: a model whose every answer
// is valid and 60 KiB large (under MAX_MODEL_OUTPUT_BYTES) must not stop
// scoring: one batch of 300 such predictions (about 18 MB of JSON, over
// the 16 MiB plugin message limit) is sent to the challenge in several
// calls, each under score.MaxRequestBytes, and every prediction, the
// attacker's and the honest model's, is scored.
func TestLargeValidAnswersAreScoredInSeveralCalls(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	pad := strings.Repeat("x", 60<<10)
	var preds []store.Prediction
	for i := range 300 {
		at := now0.Add(-time.Duration(400-i) * time.Minute)
		big := pred("big", at, store.StatusSuccess, 0.5, at.Add(time.Minute))
		big.InferenceOutput = json.RawMessage(`{"p_up":0.5,"pad":"` + pad + `"}`)
		preds = append(preds, big, pred("honest", at, store.StatusSuccess, 0.9, at.Add(time.Minute)))
	}
	save(t, st, []string{"big", "honest"}, preds...)
	ch := &limitedBrier{}
	w := newWorker(t, st, ch, clock.NewSimulated(now0), func(c *score.Config) { c.BatchSize = 600 })
	r, err := w.Score(ctx)
	if err != nil || r.Scored != 600 {
		t.Fatalf("Score = %+v, %v; want all 600 predictions scored", r, err)
	}
	if ch.refusedBefore != 0 {
		t.Fatalf("%d requests over the message limit were sent", ch.refusedBefore)
	}
	if len(ch.resolveSizes) < 3 || len(ch.scoreSizes) < 3 {
		t.Fatalf("ResolveGroundTruth calls %v, ScorePredictions calls %v: want the 18 MB batch split into at least 3 calls each", ch.resolveSizes, ch.scoreSizes)
	}
	for _, sizes := range [][]int{ch.resolveSizes, ch.scoreSizes} {
		for _, n := range sizes {
			if n > score.MaxRequestBytes {
				t.Fatalf("a request of %d bytes, over score.MaxRequestBytes %d", n, score.MaxRequestBytes)
			}
		}
	}
	for id, p := range byID(t, st) {
		if p.Score == nil || !p.Score.Success {
			t.Fatalf("prediction %s not scored: %+v", id, p.Score)
		}
	}
}
