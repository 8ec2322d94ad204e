package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
)

// lockstepFloorName names the lockstep floor result of n models.
func lockstepFloorName(n int) string {
	return fmt.Sprintf("Lockstep cycle floor: Tick + Predict to %d no-op model plugins on batch streams (ModelBatch.Next, in blocks as the replay ran them)", n)
}

// lockstepFloor measures the floor under a replay's model stage on this
// machine: predict cycles sent to n no-op model plugins as the replay sends
// a block's calls (host.ModelBatch: one lockstep stream per model per block
// of blockCycles cycles, the mean block of the window runs:
// node.ReplayProgress Cycles / Blocks; a cycle's calls go out only after the
// previous cycle's answers were read, so a model never holds a later
// cycle's input), one cycle after the other. A replay of C cycles cannot
// take less than C times the mean cycle here: its cycles are in lockstep,
// and it also makes inputs, validates, stores and scores. The Tick input is
// a small JSON object (the no-op model ignores it), so this is a lower
// bound of the real models' round trips.
//
// The result's metrics are the mean and p50 wall time of one cycle (ms)
// and the CPU per cycle of the host and of the plugin processes (ms).
// Report.ReplayFloor is set to cycles × the median of the runs' means (s),
// Report.ReplayCPUFloor to cycles × the CPU of one cycle (host + plugins,
// medians) / the machine's CPUs: the model calls' wall time if nothing
// waited (every core busy with them, no lockstep barrier).
func (h *harness) lockstepFloor(ctx context.Context, n, blockCycles int, cycles float64) {
	name := lockstepFloorName(n)
	progress("replay floor: lockstep cycles of %d no-op models", n)
	ms, err := startModels(ctx, h.plugins.Model, n, h.log)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secReplay, Name: name, Err: err})
		return
	}
	defer ms.Close()
	input := json.RawMessage(`{"asset":"BTC","candles":[]}`)
	block := make([]host.BatchCycle, blockCycles)
	for i := range block {
		block[i] = host.BatchCycle{Input: input, Calls: []host.PredictArgs{{Args: predictArgs, Kwargs: predictKwargs}}}
	}
	blocks := max(1, 3000/blockCycles) // about 3,000 cycles per run
	if h.cfg.quick {
		blocks = max(1, 300/blockCycles)
	}
	runBlocks := func(k int) (Latencies, error) {
		lat := make(Latencies, 0, k*blockCycles)
		for range k {
			b := ms.StartBatch(ctx, block)
			for range block {
				t := time.Now()
				_, preds := b.Next(ctx)
				lat = append(lat, time.Since(t))
				for id, r := range preds[0] {
					if r.Status != host.StatusSuccess {
						b.Close()
						return nil, fmt.Errorf("lockstep floor: model %s answered %s: %w", id, r.Status, r.Err)
					}
				}
			}
			if b.Streamed() != n {
				b.Close()
				return nil, fmt.Errorf("lockstep floor: %d of %d models answered from their batch stream (expected all)", b.Streamed(), n)
			}
			b.Close()
		}
		return lat, nil
	}
	if _, err := runBlocks(2); err != nil { // warm-up
		h.rep.Results = append(h.rep.Results, &Result{Section: secReplay, Name: name, Err: err})
		return
	}
	r := h.repeat(secReplay, name, "", func(int) ([]Metric, error) {
		self0, kids0, _ := cpuSnapshot()
		lat, err := runBlocks(blocks)
		if err != nil {
			return nil, err
		}
		self1, kids1, _ := cpuSnapshot()
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		k := float64(len(lat))
		return []Metric{
			one("mean", "ms", float64(sum.Microseconds())/1e3/k),
			one("p50", "ms", lat.P(50)),
			one("CPU per cycle, host process", "ms", float64((self1-self0).Microseconds())/1e3/k),
			one("CPU per cycle, plugin processes", "ms", float64((kids1-kids0).Microseconds())/1e3/k),
		}, nil
	})
	if r.Err == nil {
		h.rep.ReplayFloor = cycles * r.median("mean") / 1e3
		h.rep.ReplayFloorCycles = int(cycles)
		cpu := r.median("CPU per cycle, host process") + r.median("CPU per cycle, plugin processes")
		h.rep.ReplayCPUFloor = cycles * cpu / 1e3 / float64(runtime.NumCPU())
	}
}
