package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/store"
)

// realWindow is how many candles are stored before the first measured
// cycle of the real-path pipeline, so that every cycle's inference input
// is the generated challenge's full 120-candle window (about 13 KB), as on
// a node that has run for two hours.
const realWindow = 120

// realPipeName names the pipeline through the generated btc-up challenge
// and the pack's Go example models; noopSameNName its floor: the same
// pipeline with the no-op plugins and the same number of models.
func realPipeName(n int) string {
	return fmt.Sprintf("Feed record → %d predictions persisted (generated btc-up challenge + its %d Go example models)", n, n)
}

func noopSameNName(n int) string {
	return fmt.Sprintf("Feed record → %d predictions persisted (no-op challenge + %d no-op models: the floor of the row above)", n, n)
}

// pipelinesReal measures the pipeline of section 2 on the real path (issue
// 16 item 6): the generated btc-up challenge (ProvideRawInput reads the
// last two hours of candles from the store through HostData,
// BuildInferenceInput checks and trims them, ValidateInferenceOutput checks
// every answer) and the baseline pack's Go example models, side by side
// with the same pipeline through the no-op plugins and the same number of
// models, which is its floor. Each backend gets a fresh store per path.
func (h *harness) pipelinesReal(ctx context.Context) {
	rw, err := h.replayWS(ctx)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secPipeline, Name: realPipeName(0), Err: err})
		return
	}
	ids := make([]string, 0, len(rw.models))
	for id := range rw.models {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	n := len(ids)
	real := make([]host.PluginSpec, 0, n)
	for _, id := range ids {
		real = append(real, host.PluginSpec{ID: id, Path: rw.models[id]})
	}
	noop := make([]host.PluginSpec, 0, n)
	for i := range n {
		noop = append(noop, host.PluginSpec{ID: modelID(i), Path: h.plugins.Model})
	}
	for _, b := range h.backends() {
		progress("pipeline through the generated challenge and %d example models, %s", n, b)
		if err := h.pipelineOn(ctx, b, "pipereal", rw.challenge, real, realPipeName(n)); err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secPipeline, Name: realPipeName(n), Backend: b, N: n, Err: err})
		}
		progress("pipeline through the no-op plugins, %d models, %s", n, b)
		if err := h.pipelineOn(ctx, b, "pipenoop", h.plugins.Challenge, noop, noopSameNName(n)); err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secPipeline, Name: noopSameNName(n), Backend: b, N: n, Err: err})
		}
	}
	h.rep.RealPipelineModels = n
}

// pipelineOn measures one path on one backend: a fresh store (named
// storeName) holding the first realWindow candles, the challenge plugin at challengePath with the
// node's StoreHostData over that store, and the given models.
func (h *harness) pipelineOn(ctx context.Context, backend, storeName, challengePath string, specs []host.PluginSpec, name string) error {
	st, err := h.openStore(ctx, backend, storeName)
	if err != nil {
		return err
	}
	defer st.Close()
	first := h.rp.Record(0)
	seed := make([]store.MarketRecord, 0, realWindow)
	for i := range realWindow {
		seed = append(seed, h.rp.Record(i))
	}
	if _, err := st.UpsertMarketRecords(ctx, seed); err != nil {
		return fmt.Errorf("store the first %d candles: %w", realWindow, err)
	}
	data := node.StoreHostData{Market: st, Defaults: node.FeedDefaults{Provider: first.Provider, Kind: first.Kind, Granularity: first.Granularity}}
	ch, err := host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: challengePath}, data, hostOptions(h.log))
	if err != nil {
		return fmt.Errorf("start the challenge plugin %s: %w", challengePath, err)
	}
	defer ch.Close()
	set, err := host.StartModels(ctx, specs, hostOptions(h.log))
	if err != nil {
		return fmt.Errorf("start %d model plugins: %w", len(specs), err)
	}
	defer set.Close()
	p, err := newPipeline(ctx, st, ch, set, h.rp, len(specs))
	if err != nil {
		return err
	}
	p.next = realWindow
	if _, err := p.run(ctx, h.sz.warmup); err != nil {
		return err
	}
	r := h.repeat(secPipeline, name, backend, func(int) ([]Metric, error) {
		pr, err := p.run(ctx, h.sz.pipe10)
		if err != nil {
			return nil, err
		}
		lat := make(Latencies, len(pr.Cycles))
		var upsert, input, fan, save time.Duration
		for i, c := range pr.Cycles {
			lat[i] = c.Total
			upsert += c.Upsert
			input += c.Worker.RawInput + c.Worker.InferenceInput
			fan += c.Worker.Tick + c.Worker.Predict
			save += c.Worker.Persist
		}
		k := float64(len(pr.Cycles))
		return []Metric{one("p50", "ms", lat.P(50)), one("p99", "ms", lat.P(99)),
			one("mean: feed record upsert", "ms", ms(upsert)/k),
			one("mean: ProvideRawInput + BuildInferenceInput", "ms", ms(input)/k),
			one("mean: Tick/Predict fan-out", "ms", ms(fan)/k),
			one("mean: persist (SavePredictCycle)", "ms", ms(save)/k),
			one("CPU, host process, per cycle", "ms", pr.HostCPU),
			one("CPU, plugin processes, per cycle", "ms", pr.PluginCPU)}, nil
	})
	r.N = len(specs)
	return nil
}
