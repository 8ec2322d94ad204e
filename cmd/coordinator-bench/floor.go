package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// predictArgs are the positional args the default predict-call builder
// makes for the baseline schedule (asset, horizon_seconds, step_seconds).
var (
	predictArgs   = []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), json.RawMessage(`60`)}
	predictKwargs = json.RawMessage(`{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`)
)

// hostOptions are the plugin-host options of every benchmark: generous
// deadlines (a benchmark measures, it does not time out), quiet logs.
func hostOptions(log hclog.Logger) host.Options {
	return host.Options{
		Logger:            log,
		CallTimeout:       30 * time.Second,
		StartTimeout:      2 * time.Minute,
		DescribeTimeout:   30 * time.Second,
		MaxParallelStarts: 4,
	}
}

// startModels launches n no-op model plugins m000..m<n-1> and checks that
// each is running.
func startModels(ctx context.Context, bin string, n int, log hclog.Logger) (*host.ModelSet, error) {
	specs := make([]host.PluginSpec, n)
	for i := range specs {
		id := modelID(i)
		specs[i] = host.PluginSpec{ID: id, Path: bin, Args: []string{"-name", id}}
	}
	ms, err := host.StartModels(ctx, specs, hostOptions(log))
	if err != nil {
		return nil, fmt.Errorf("start %d no-op model plugins (%s): %w", n, bin, err)
	}
	for _, st := range ms.States() {
		if !st.Running {
			_ = ms.Close()
			return nil, fmt.Errorf("no-op model plugin %s (%s) did not start: %s", st.ID, bin, st.LastError)
		}
	}
	return ms, nil
}

func modelID(i int) string { return fmt.Sprintf("m%03d", i) }

// fanOut sends calls Predict fan-outs to ms one after the other and returns
// the wall time of each (all models answered). Any non-SUCCESS result is an
// error: a floor measured on failures would be meaningless.
func fanOut(ctx context.Context, ms *host.ModelSet, calls int) (Latencies, error) {
	lat := make(Latencies, 0, calls)
	for range calls {
		t := time.Now()
		res := ms.Predict(ctx, predictArgs, predictKwargs)
		d := time.Since(t)
		for id, r := range res {
			if r.Status != host.StatusSuccess {
				return nil, fmt.Errorf("fan-out floor: model %s answered %s: %v", id, r.Status, r.Err)
			}
		}
		lat = append(lat, d)
	}
	return lat, nil
}

// benchModelRows returns the store rows of models m000..m<n-1>.
func benchModelRows(n int) []store.Model {
	out := make([]store.Model, n)
	for i := range out {
		out[i] = store.Model{ID: modelID(i), Name: modelID(i), PlayerID: "bench", PlayerName: "bench"}
	}
	return out
}

// baselineSchedule is the baseline pack's schedule row.
func baselineSchedule() store.ScheduleRow {
	return store.ScheduleRow{
		ID: "CFG_baseline", ScopeKey: "default", Active: true,
		ScopeTemplate: json.RawMessage(`{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`),
		Schedule:      json.RawMessage(`{"every_seconds":60,"resolve_after_seconds":60}`),
		Meta:          json.RawMessage(`{}`),
	}
}

// cyclePredictions builds the n predictions one predict cycle stores at
// slot, shaped like the predict worker's rows (scope, stored inference
// input with _scope, output {"p_up":...}, meta with the slot).
func cyclePredictions(configID string, n int, slot time.Time, pUp func(i int) float64) []store.Prediction {
	scope := json.RawMessage(`{"asset":"BTC","horizon_seconds":60,"step_seconds":60}`)
	input := json.RawMessage(`{"_scope":{"scope_key":"default","scope":{"asset":"BTC","horizon_seconds":60,"step_seconds":60}}}`)
	meta := json.RawMessage(fmt.Sprintf(`{"slot":%q}`, slot.Format(time.RFC3339)))
	out := make([]store.Prediction, n)
	for i := range out {
		id := modelID(i)
		out[i] = store.Prediction{
			ID: store.PredictionID(configID, id, slot), ModelID: id, PredictionConfigID: configID,
			ScopeKey: "default", Scope: scope, Status: store.StatusSuccess, ExecTimeMs: 0.4,
			InferenceInput: input, InferenceOutput: json.RawMessage(fmt.Sprintf(`{"p_up":%g}`, pUp(i))),
			Meta: meta, PerformedAt: slot, ResolvableAt: slot.Add(time.Minute),
		}
	}
	return out
}

// insertFloor stores calls predict cycles of n new predictions each with
// SavePredictCycle (no model rows: they exist) and returns the wall time of
// each. next is the slot counter shared across runs so ids never repeat.
func insertFloor(ctx context.Context, st store.Store, n, calls int, next *int) (Latencies, error) {
	lat := make(Latencies, 0, calls)
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for range calls {
		slot := base.Add(time.Duration(*next) * time.Minute)
		*next++
		preds := cyclePredictions("CFG_baseline", n, slot, func(int) float64 { return 0.5 })
		t := time.Now()
		ins, err := st.SavePredictCycle(ctx, nil, preds)
		d := time.Since(t)
		if err != nil {
			return nil, fmt.Errorf("insert floor (%s, %d rows): %w", st.Backend(), n, err)
		}
		if ins != n {
			return nil, fmt.Errorf("insert floor (%s): expected %d new predictions, store reports %d", st.Backend(), n, ins)
		}
		lat = append(lat, d)
	}
	return lat, nil
}

// insertFloors measures SavePredictCycle of N rows, N = 1, 10, 100.
func (h *harness) insertFloors(ctx context.Context) {
	for _, b := range h.backends() {
		progress("insert floor (%s)", b)
		st, err := h.openStore(ctx, b, "insert")
		if err == nil {
			err = seedStore(ctx, st, 100)
		}
		if err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secFloor, Name: "Batch insert", Backend: b, Err: err})
			continue
		}
		next := 0
		for _, n := range []int{1, 10, 100} {
			calls := h.sz.insert
			if n == 100 {
				calls = h.sz.insert100
			}
			if _, err := insertFloor(ctx, st, n, 10, &next); err != nil { // warm-up
				h.rep.Results = append(h.rep.Results, &Result{Section: secFloor, Name: insertName(n), Backend: b, Err: err})
				continue
			}
			h.repeat(secFloor, insertName(n), b, func(int) ([]Metric, error) {
				lat, err := insertFloor(ctx, st, n, calls, &next)
				if err != nil {
					return nil, err
				}
				return []Metric{one("p50", "ms", lat.P(50)), one("p99", "ms", lat.P(99))}, nil
			})
		}
		_ = st.Close()
	}
}

func insertName(n int) string {
	return fmt.Sprintf("Batch insert of %s (SavePredictCycle)", plural(n, "prediction row"))
}
func fanName(n int) string {
	if n == 1 {
		return "gRPC round trip to 1 no-op model plugin (ModelSet.Predict)"
	}
	return fmt.Sprintf("Fan-out to %d no-op model plugins (ModelSet.Predict)", n)
}
func pipeName(n int) string {
	return fmt.Sprintf("Feed record → %s persisted (%s)", plural(n, "prediction"), models(n))
}

// plural renders "1 prediction", "10 predictions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
