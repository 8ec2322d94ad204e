package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// scoringModels is the number of models the scoring benchmark's
// predictions are spread over.
const scoringModels = 10

// scoreRun stores count due SUCCESS predictions (not timed), then runs one
// scoring cycle of the score worker (claim a batch, ResolveGroundTruth,
// the challenge plugin's batched ScorePredictions over gRPC, write the
// scores, repeat) and returns predictions scored and persisted per second.
// run numbers the run so ids never repeat.
func scoreRun(ctx context.Context, st store.Store, ch sdk.Challenge, count, batch, run int) (float64, error) {
	base := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(run) * 30 * 24 * time.Hour)
	slots := count / scoringModels
	const chunk = 500 // slots per SavePredictCycle: 5,000 rows
	for s := 0; s < slots; s += chunk {
		var preds []store.Prediction
		for k := s; k < min(s+chunk, slots); k++ {
			slot := base.Add(time.Duration(k) * time.Minute)
			preds = append(preds, cyclePredictions("CFG_baseline", scoringModels, slot, func(i int) float64 {
				return float64((k*scoringModels+i)%101) / 100
			})...)
		}
		if _, err := st.SavePredictCycle(ctx, nil, preds); err != nil {
			return 0, fmt.Errorf("scoring (%s): store %d due predictions: %w", st.Backend(), len(preds), err)
		}
	}
	now := base.Add(time.Duration(slots+10) * time.Minute)
	w, err := score.New(score.Config{Challenge: ch, Store: st, Clock: clock.NewSimulated(now), BatchSize: batch,
		GroundTruthMaxWait: 365 * 24 * time.Hour, UseDefaultAggregation: true, UseDefaultRanking: true})
	if err != nil {
		return 0, fmt.Errorf("scoring: %w", err)
	}
	t := time.Now()
	res, err := w.Score(ctx)
	d := time.Since(t)
	if err != nil {
		return 0, fmt.Errorf("scoring (%s, batch %d): %w", st.Backend(), batch, err)
	}
	if res.Scored != slots*scoringModels || res.ScoreFailed != 0 {
		return 0, fmt.Errorf("scoring (%s, batch %d): expected %d successful scores, found %d scored (%d failed, %d unresolved, %d waiting)",
			st.Backend(), batch, slots*scoringModels, res.Scored, res.ScoreFailed, res.Unresolved, res.Waiting)
	}
	return float64(res.Scored) / d.Seconds(), nil
}

// seedStore writes the baseline schedule row and models m000..m<n-1>, the
// rows the benchmark predictions refer to.
func seedStore(ctx context.Context, st store.Store, n int) error {
	if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{baselineSchedule()}); err != nil {
		return fmt.Errorf("seed %s store: schedule: %w", st.Backend(), err)
	}
	if err := st.UpsertModels(ctx, benchModelRows(n)); err != nil {
		return fmt.Errorf("seed %s store: %d models: %w", st.Backend(), n, err)
	}
	return nil
}

// scoring measures the score worker on each backend for two batch sizes.
func (h *harness) scoring(ctx context.Context) {
	ch, err := host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: h.plugins.Challenge}, nil, hostOptions(h.log))
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secScoring, Name: "Scoring", Err: fmt.Errorf("start the challenge plugin: %w", err)})
		return
	}
	defer ch.Close()
	for _, b := range h.backends() {
		for _, batch := range []int{100, score.DefaultBatchSize} {
			progress("scoring, %s, batch %d", b, batch)
			name := fmt.Sprintf("Score %d predictions, batch %d", h.sz.scoreCount, batch)
			if batch == score.DefaultBatchSize {
				name += " (score.DefaultBatchSize)"
			}
			st, err := h.openStore(ctx, b, fmt.Sprintf("score%d", batch))
			if err == nil {
				err = seedStore(ctx, st, scoringModels)
			}
			if err != nil {
				h.rep.Results = append(h.rep.Results, &Result{Section: secScoring, Name: name, Backend: b, Err: err})
				continue
			}
			r := h.repeat(secScoring, name, b, func(run int) ([]Metric, error) {
				rate, err := scoreRun(ctx, st, ch, h.sz.scoreCount, batch, run)
				if err != nil {
					return nil, err
				}
				return []Metric{one("throughput", "predictions/s", rate)}, nil
			})
			r.Batch = batch
			_ = st.Close()
		}
	}
}
