package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// pipeline drives the predict worker the way a node does on every feed
// record: the record is stored (upsert + watermark), then one predict cycle
// runs at the record's close time (a new 60 s slot each time) with real
// plugins and a real store. One measured cycle is the wall time from the
// feed record's arrival (before the upsert) to SavePredictCycle returning.
type pipeline struct {
	st     store.Store
	worker *predict.Worker
	clk    *clock.Simulated
	rp     *replay.Replay
	n      int
	next   int // index of the next candle to "arrive"
}

// newPipeline seeds the baseline schedule row into st and builds a predict
// worker over the challenge and ms on a simulated clock.
func newPipeline(ctx context.Context, st store.Store, ch sdk.Challenge, ms *host.ModelSet, rp *replay.Replay, n int) (*pipeline, error) {
	if err := st.ReplaceSchedules(ctx, []store.ScheduleRow{baselineSchedule()}); err != nil {
		return nil, fmt.Errorf("pipeline (%s): seed the baseline schedule: %w", st.Backend(), err)
	}
	clk := clock.NewSimulated(rp.First())
	w, err := predict.New(predict.Config{Challenge: ch, Models: ms, Store: st, Clock: clk, AbsentGrace: -1})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return &pipeline{st: st, worker: w, clk: clk, rp: rp, n: n}, nil
}

// cycleTiming is one measured cycle: the total and its stages.
type cycleTiming struct {
	Total, Upsert time.Duration
	Worker        predict.Timing
}

// cycle lets the next candle arrive and runs one predict cycle.
func (p *pipeline) cycle(ctx context.Context) (cycleTiming, error) {
	if p.next >= p.rp.Len() {
		return cycleTiming{}, fmt.Errorf("pipeline: the replay file %s has only %d candles", p.rp.File(), p.rp.Len())
	}
	rec := p.rp.Record(p.next)
	p.next++
	p.clk.Set(rec.TsIngested)
	rec.TsIngested = time.Now().UTC()
	t := time.Now()
	if _, err := p.st.UpsertMarketRecords(ctx, []store.MarketRecord{rec}); err != nil {
		return cycleTiming{}, fmt.Errorf("pipeline (%s): store feed record %s: %w", p.st.Backend(), rec.TsEvent.Format(time.RFC3339), err)
	}
	up := time.Since(t)
	res, err := p.worker.RunOnce(ctx)
	total := time.Since(t)
	if err != nil {
		return cycleTiming{}, fmt.Errorf("pipeline (%s, %d models): predict cycle at %s: %w", p.st.Backend(), p.n, res.Now.Format(time.RFC3339), err)
	}
	if len(res.Due) != 1 || res.Inserted != p.n || res.ByStatus[store.StatusSuccess] != p.n {
		return cycleTiming{}, fmt.Errorf("pipeline (%s, %d models): cycle at %s: expected 1 due row and %d new SUCCESS predictions, found due %v, inserted %d, by status %v (skip reason %q)",
			p.st.Backend(), p.n, res.Now.Format(time.RFC3339), p.n, res.Due, res.Inserted, res.ByStatus, res.SkipReason)
	}
	return cycleTiming{Total: total, Upsert: up, Worker: res.Timing}, nil
}

// pipelineRun is one run: per-cycle timings plus CPU used per cycle.
type pipelineRun struct {
	Cycles []cycleTiming
	// CPU per cycle (ms) of the host process, of the plugin processes and
	// of the PostgreSQL server processes (0 for SQLite).
	HostCPU, PluginCPU, PGCPU float64
}

// run measures cycles cycles.
func (p *pipeline) run(ctx context.Context, cycles int) (pipelineRun, error) {
	var out pipelineRun
	h0, pl0, pg0 := cpuSnapshot()
	for range cycles {
		c, err := p.cycle(ctx)
		if err != nil {
			return out, err
		}
		out.Cycles = append(out.Cycles, c)
	}
	h1, pl1, pg1 := cpuSnapshot()
	out.HostCPU = ms(h1-h0) / float64(cycles)
	out.PluginCPU = ms(pl1-pl0) / float64(cycles)
	out.PGCPU = ms(pg1-pg0) / float64(cycles)
	return out, nil
}

// cpuSnapshot returns the CPU time used so far by this process, by its
// child processes (the plugins) and by the PostgreSQL backends serving the
// harness's scratch databases (backends that exit in between are lost).
func cpuSnapshot() (self, kids, pg time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, c := range children(os.Getpid()) {
		if d, err := cpuTime(c.PID); err == nil {
			kids += d
		}
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		// Only the server backends serving the harness's scratch databases
		// (their process title names the database): other clients of the
		// same server do not count.
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || !strings.HasPrefix(string(comm), "postgres") {
			continue
		}
		title, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(title), "coordinator_bench_") {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		if d, err := cpuTime(pid); err == nil {
			pg += d
		}
	}
	return self, kids, pg
}

// pipelines measures, for N = 1, 10, 100: the fan-out floor, then the
// pipeline on each backend with the same plugins, and the plugins' memory.
func (h *harness) pipelines(ctx context.Context) error {
	ch, err := host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: h.plugins.Challenge}, nil, hostOptions(h.log))
	if err != nil {
		return fmt.Errorf("start the no-op challenge plugin: %w", err)
	}
	defer ch.Close()
	for _, n := range []int{1, 10, 100} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		progress("starting %d model plugins", n)
		t := time.Now()
		ms, err := startModels(ctx, h.plugins.Model, n, h.log)
		if err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secFloor, Name: fanName(n), Err: err})
			continue
		}
		h.rep.Starts = append(h.rep.Starts, startTime{N: n, D: time.Since(t)})
		calls := map[int]int{1: h.sz.roundTrip, 10: h.sz.fan10, 100: h.sz.fan100}[n]
		progress("fan-out floor, %d models", n)
		if _, err := fanOut(ctx, ms, 10); err != nil { // warm-up
			h.rep.Results = append(h.rep.Results, &Result{Section: secFloor, Name: fanName(n), Err: err})
		} else {
			h.repeat(secFloor, fanName(n), "", func(int) ([]Metric, error) {
				lat, err := fanOut(ctx, ms, calls)
				if err != nil {
					return nil, err
				}
				return []Metric{one("p50", "ms", lat.P(50)), one("p99", "ms", lat.P(99))}, nil
			})
		}

		// Memory: the peak over the pipeline runs only.
		debug.FreeOSMemory()
		self := os.Getpid()
		resetErr := resetPeakRSS(self)
		for _, c := range children(self) {
			if err := resetPeakRSS(c.PID); err != nil && resetErr == nil {
				resetErr = err
			}
		}
		for _, b := range h.backends() {
			h.pipeline(ctx, ch, ms, n, b)
		}
		h.rep.Memory = append(h.rep.Memory, h.memory(n, resetErr))
		_ = ms.Close()
	}
	return nil
}

// pipeline measures one (N, backend) pipeline and, when its target is
// missed, profiles one more run.
func (h *harness) pipeline(ctx context.Context, ch *host.Challenge, ms *host.ModelSet, n int, b string) {
	progress("pipeline, %d models, %s", n, b)
	st, err := h.openStore(ctx, b, fmt.Sprintf("pipeline%d", n))
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secPipeline, Name: pipeName(n), Backend: b, Err: err})
		return
	}
	defer st.Close()
	p, err := newPipeline(ctx, st, ch, ms, h.rp, n)
	if err == nil {
		_, err = p.run(ctx, h.sz.warmup)
	}
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secPipeline, Name: pipeName(n), Backend: b, Err: err})
		return
	}
	cycles := map[int]int{1: h.sz.pipe1, 10: h.sz.pipe10, 100: h.sz.pipe100}[n]
	an := &PipelineAnalysis{N: n, Backend: b}
	r := h.repeat(secPipeline, pipeName(n), b, func(int) ([]Metric, error) {
		pr, err := p.run(ctx, cycles)
		if err != nil {
			return nil, err
		}
		an.add(pr)
		lat := make(Latencies, len(pr.Cycles))
		for i, c := range pr.Cycles {
			lat[i] = c.Total
		}
		return []Metric{one("p50", "ms", lat.P(50)), one("p99", "ms", lat.P(99))}, nil
	})
	r.N = n
	h.rep.Pipelines = append(h.rep.Pipelines, an)
	if r.Err != nil || !pipelineMissed(h.rep, n, b) {
		return
	}
	progress("pipeline, %d models, %s: target missed, profiling one more run", n, b)
	top, err := profileTop(ctx, h.profileDir(), fmt.Sprintf("pipeline-%d-%s", n, b), func() error {
		_, err := p.run(ctx, cycles)
		return err
	})
	if err != nil {
		an.Profile = "profile failed: " + err.Error()
		return
	}
	an.Profile = top
}

// memory reads the peak RSS of this process (the host) and of every plugin.
func (h *harness) memory(n int, resetErr error) MemoryRow {
	row := MemoryRow{N: n, Backends: h.backends()}
	if resetErr != nil {
		row.Err = resetErr
	}
	var err error
	if row.Host, err = peakRSS(os.Getpid()); err != nil {
		row.Err = errors.Join(row.Err, err)
	}
	for _, c := range children(os.Getpid()) {
		v, err := peakRSS(c.PID)
		if err != nil {
			row.Err = errors.Join(row.Err, err)
			continue
		}
		switch c.Exe {
		case h.plugins.Model:
			row.Models = append(row.Models, v)
		case h.plugins.Challenge:
			row.Challenge = v
		}
	}
	return row
}
