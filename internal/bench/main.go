// Command bench is the coordinator's benchmark harness (issue 8): it
// measures, in one run and side by side, the physical floor of this machine
// (plugin round trip, fan-out, batch insert), the predict pipeline from a
// feed record's arrival to persisted predictions, scoring throughput, the
// report API, replay speed and memory, plus the host and store packages'
// own Go benchmarks (issues 2 and 3, run first with go test -bench), and
// writes docs/benchmarks.md.
//
//	go run ./internal/bench -out docs/benchmarks.md [-runs 5] [-quick] [-skip-pg]
//
// Every measurement is repeated -runs times (at least 5 for the report);
// the report gives the median with min and max over runs, and p50/p99 of
// per-call latencies where asked. PostgreSQL is TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each run creates
// scratch databases coordinator_bench_<hex> and drops them at the end.
// Plugins are the no-op model and challenge under internal/bench/plugins,
// built with go build into a temporary directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/store/postgres"
)

// options is the command line.
type options struct {
	out    string
	runs   int
	quick  bool
	skipPG bool
	dbURL  string
	csv    string
}

// sizes are the per-run iteration counts.
type sizes struct {
	roundTrip, fan10, fan100 int // calls per run
	insert, insert100        int // cycles per run (N = 1, 10 / N = 100)
	pipe1, pipe10, pipe100   int // pipeline cycles per run
	warmup                   int // unmeasured cycles before the runs
	scoreCount               int // predictions scored per run
	apiDuration              time.Duration
	apiConcurrency           int
}

func sizesFor(quick bool) sizes {
	if quick {
		return sizes{roundTrip: 50, fan10: 30, fan100: 10, insert: 30, insert100: 20, pipe1: 30, pipe10: 20, pipe100: 8,
			warmup: 3, scoreCount: 5000, apiDuration: 500 * time.Millisecond, apiConcurrency: 8}
	}
	return sizes{roundTrip: 400, fan10: 200, fan100: 50, insert: 200, insert100: 100, pipe1: 150, pipe10: 100, pipe100: 30,
		warmup: 5, scoreCount: 20000, apiDuration: 2 * time.Second, apiConcurrency: 8}
}

func main() {
	var cfg options
	flag.StringVar(&cfg.out, "out", "docs/benchmarks.md", "markdown report to (re)write")
	flag.IntVar(&cfg.runs, "runs", 5, "runs per measurement (medians need at least 5)")
	flag.BoolVar(&cfg.quick, "quick", false, "fewer iterations per run (a smoke test, not for the report)")
	flag.BoolVar(&cfg.skipPG, "skip-pg", false, "skip every PostgreSQL measurement")
	flag.StringVar(&cfg.csv, "csv", "", "BTC 1-minute CSV (default ../shared/data/binance-us-BTCUSDT-1m-2023-03-01..21.csv next to the module)")
	flag.Parse()
	cfg.dbURL = os.Getenv("TEST_DATABASE_URL")
	if cfg.dbURL == "" {
		cfg.dbURL = DefaultDatabaseURL
	}
	if cfg.runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs: expected >= 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// harness holds what every measurement shares.
type harness struct {
	cfg     options
	sz      sizes
	root    string
	tmp     string
	plugins Plugins
	rp      *replay.Replay
	pg      *scratch
	log     hclog.Logger
	rep     *Report
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg options) (err error) {
	began := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "coordinator-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	h := &harness{cfg: cfg, sz: sizesFor(cfg.quick), root: root, tmp: tmp,
		log: hclog.New(&hclog.LoggerOptions{Name: "bench", Level: hclog.Error, Output: os.Stderr})}
	h.rep = &Report{Machine: describeMachine(ctx, root), Runs: cfg.runs, Quick: cfg.quick}
	h.rep.Machine.SQLite = sqliteVersion(ctx, tmp)

	if cfg.csv == "" {
		cfg.csv = findCSV(root)
		h.cfg.csv = cfg.csv
	}
	if h.rp, err = replay.Open(cfg.csv, "BTC"); err != nil {
		return fmt.Errorf("open the shared BTC CSV: %w", err)
	}
	progress("building plugins")
	if h.plugins, err = buildPlugins(ctx, root, tmp); err != nil {
		return err
	}
	if !cfg.skipPG {
		var version string
		h.pg, version, err = newScratch(ctx, cfg.dbURL)
		if err != nil {
			return err
		}
		h.rep.Machine.PostgreSQL = version
		defer func() {
			if derr := h.pg.dropAll(); derr != nil {
				err = errors.Join(err, derr)
			}
		}()
	} else {
		h.rep.Machine.PostgreSQL = "not measured (-skip-pg)"
	}

	// The Go benchmarks first, on a quiet machine and a PostgreSQL server
	// without the report API's 1M-row database (and its autovacuum).
	h.goBenchmarks(ctx)
	h.insertFloors(ctx)
	if err := h.pipelines(ctx); err != nil {
		return err
	}
	h.scoring(ctx)
	h.reportAPI(ctx)
	h.replay(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	h.rep.Elapsed = time.Since(began)
	h.rep.LoadEnd = loadAvg()
	h.rep.evaluate()
	out := cfg.out
	if !filepath.IsAbs(out) {
		if wd, err := os.Getwd(); err == nil {
			out = filepath.Join(wd, out)
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(out), err)
	}
	if err := os.WriteFile(out, []byte(h.rep.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	progress("wrote %s in %s", out, time.Since(began).Round(time.Second))
	return nil
}

// backends lists the stores measured: sqlite always, postgres unless skipped.
func (h *harness) backends() []string {
	if h.pg == nil {
		return []string{dburl.BackendSQLite}
	}
	return []string{dburl.BackendSQLite, dburl.BackendPostgres}
}

// openStore opens a fresh, migrated store of backend (a new SQLite file or
// a new scratch PostgreSQL database).
func (h *harness) openStore(ctx context.Context, backend, name string) (store.Store, error) {
	var u string
	switch backend {
	case dburl.BackendSQLite:
		u = "sqlite://" + filepath.Join(h.tmp, name+".db")
	case dburl.BackendPostgres:
		var err error
		if u, err = h.pg.create(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown backend %q", backend)
	}
	st, err := dburl.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open %s store %s: %w", backend, dburl.Redact(u), err)
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("migrate %s store %s: %w", backend, dburl.Redact(u), err)
	}
	return st, nil
}

// repeat runs fn cfg.runs times and collects the metrics it returns per run
// into one Result.
func (h *harness) repeat(section, name, backend string, fn func(run int) ([]Metric, error)) *Result {
	r := &Result{Section: section, Name: name, Backend: backend}
	for i := range h.cfg.runs {
		ms, err := fn(i)
		if err != nil {
			r.Err = err
			progress("%s / %s (%s): FAILED: %v", section, name, backend, err)
			break
		}
		for _, m := range ms {
			found := false
			for j := range r.Metrics {
				if r.Metrics[j].Name == m.Name {
					r.Metrics[j].Runs = append(r.Metrics[j].Runs, m.Runs...)
					found = true
				}
			}
			if !found {
				r.Metrics = append(r.Metrics, m)
			}
		}
	}
	h.rep.Results = append(h.rep.Results, r)
	return r
}

func one(name, unit string, v float64) Metric {
	return Metric{Name: name, Unit: unit, Runs: []float64{v}}
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
	top, err := profileTop(ctx, h.tmp, fmt.Sprintf("pipeline-%d-%s", n, b), func() error {
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

// reportAPI loads the generated 1M-prediction database and measures the
// leaderboard and models endpoints.
func (h *harness) reportAPI(ctx context.Context) {
	if h.pg == nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Backend: dburl.BackendPostgres,
			Err: errors.New("not measured: -skip-pg")})
		return
	}
	progress("report API: generating %d models and %d predictions with COPY", apiModels, apiPredictions)
	st, err := h.openStore(ctx, dburl.BackendPostgres, "api")
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Backend: dburl.BackendPostgres, Err: err})
		return
	}
	defer st.Close()
	pgst, ok := st.(*postgres.Store)
	if !ok {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Err: fmt.Errorf("expected a *postgres.Store, found %T", st)})
		return
	}
	gen, err := generateReportDB(ctx, pgst)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Backend: dburl.BackendPostgres, Err: err})
		return
	}
	h.rep.APIGenerate = gen
	progress("report API: database generated in %s; leaderboard rebuilds", gen.Round(time.Second))
	at := apiNow()
	h.repeat(secAPI, fmt.Sprintf("Leaderboard rebuild over %d predictions, %d models (score worker, default aggregation)", apiPredictions, apiModels),
		dburl.BackendPostgres, func(run int) ([]Metric, error) {
			d, err := rebuildLeaderboard(ctx, st, at.Add(time.Duration(run)*time.Second))
			if err != nil {
				return nil, err
			}
			return []Metric{one("wall time", "ms", ms(d))}, nil
		})
	srv, err := apiServer(ctx, st)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secAPI, Name: "Report API", Err: err})
		return
	}
	defer srv.Close()
	client := newLoadClient(h.sz.apiConcurrency)
	defer client.CloseIdleConnections()
	for _, path := range []string{"/reports/leaderboard", "/reports/models"} {
		progress("report API: %s", path)
		url := srv.URL + path
		r := h.repeat(secAPI, fmt.Sprintf("GET %s (%d concurrent clients, %s per run)", endpointName(url), h.sz.apiConcurrency, h.sz.apiDuration),
			dburl.BackendPostgres, func(int) ([]Metric, error) {
				lr, err := load(ctx, client, url, h.sz.apiConcurrency, h.sz.apiDuration)
				if err != nil {
					return nil, err
				}
				return []Metric{one("throughput", "requests/s", lr.RPS), one("p50", "ms", lr.P50), one("p99", "ms", lr.P99),
					one("answer size", "KB", float64(lr.Bytes)/1000)}, nil
			})
		if r.Err != nil || (r.median("throughput") >= 5000 && r.median("p99") <= 20) {
			continue
		}
		progress("report API: %s misses the leaderboard target; profiling one more run", path)
		top, err := profileTop(ctx, h.tmp, "api"+strings.ReplaceAll(path, "/", "-"), func() error {
			_, err := load(ctx, client, url, h.sz.apiConcurrency, h.sz.apiDuration)
			return err
		})
		if err != nil {
			top = "profile failed: " + err.Error()
		}
		h.rep.APIProfiles = append(h.rep.APIProfiles, apiProfile{Path: path, Top: top})
	}
}

// replay measures node.Replay of the baseline pack with its 3 example
// models over the shared BTC CSV on SQLite (the workspace default): a
// one-day window -runs times (simulated days per wall-clock second), then
// the full 21 days once per run budget (wall time).
func (h *harness) replay(ctx context.Context) {
	progress("replay: generating and building the baseline workspace")
	rw, err := prepareReplay(ctx, h.root, filepath.Join(h.tmp, "replay"), h.cfg.csv)
	if err != nil {
		h.rep.Results = append(h.rep.Results, &Result{Section: secReplay, Name: "Replay, baseline pack", Err: err})
		return
	}
	window := 6 * time.Hour
	if h.cfg.quick {
		window = time.Hour
	}
	from := h.rp.First()
	name := fmt.Sprintf("Replay of the first %.0f h of candles (baseline pack, %d models, fresh store per run)", window.Hours(), len(rw.ws.Models))
	var daysPerSec float64
	for _, b := range h.backends() {
		progress("replay: %.0f h windows, %s", window.Hours(), b)
		r := h.repeat(secReplay, name, b, func(run int) ([]Metric, error) {
			st, err := h.openStore(ctx, b, fmt.Sprintf("replay%d", run))
			if err != nil {
				return nil, err
			}
			defer st.Close()
			o, err := replayRun(ctx, rw, h.rp, st, from, from.Add(window-time.Minute))
			if err != nil {
				return nil, err
			}
			hours := o.SimDays * 24
			return []Metric{one("simulated days per second", "days/s", o.SimDays/o.Wall.Seconds()), one("wall time", "s", o.Wall.Seconds()),
				one("predictions", "rows", float64(o.Progress.Predictions)), one("scored", "rows", float64(o.Progress.Scored)),
				one("CPU, host process, per simulated hour", "ms", ms(o.HostCPU)/hours),
				one("CPU, plugin processes, per simulated hour", "ms", ms(o.PluginCPU)/hours),
				one("CPU, PostgreSQL server, per simulated hour", "ms", ms(o.PGCPU)/hours)}, nil
		})
		if b == "sqlite" && r.Err == nil {
			daysPerSec = r.median("simulated days per second")
		}
	}
	if daysPerSec > 0 && !h.cfg.quick {
		progress("replay: profiling one more %s window (sqlite)", window)
		st, err := h.openStore(ctx, "sqlite", "replayprof")
		if err == nil {
			h.rep.ReplayProfile, err = profileTop(ctx, h.tmp, "replay", func() error {
				_, err := replayRun(ctx, rw, h.rp, st, from, from.Add(window-time.Minute))
				return err
			})
			_ = st.Close()
		}
		if err != nil {
			h.rep.ReplayProfile = "profile failed: " + err.Error()
		}
	}
	fullDays := h.rp.Last().Add(h.rp.Step()).Sub(from).Hours() / 24
	projected := fullDays / daysPerSec
	if daysPerSec <= 0 || h.cfg.quick || projected > maxFullReplay.Seconds() {
		h.rep.ReplayProjected = projected
		h.rep.Results = append(h.rep.Results, &Result{Section: secReplay, Name: fullReplayName, Backend: "sqlite",
			Err: fmt.Errorf("not run in full: projected from the window runs at %s days/s: %.0f s for %.1f days, over this harness's %s budget for it", num(daysPerSec), projected, fullDays, maxFullReplay)})
		return
	}
	progress("replay: full %.1f days, sqlite (projected %.0f s)", fullDays, projected)
	h.repeat(secReplay, fullReplayName, "sqlite", func(run int) ([]Metric, error) {
		if run > 0 {
			return nil, nil // one full replay per harness run (see the Method notes)
		}
		st, err := h.openStore(ctx, "sqlite", "replayfull")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		o, err := replayRun(ctx, rw, h.rp, st, from, time.Time{})
		if err != nil {
			return nil, err
		}
		return []Metric{one("wall time", "s", o.Wall.Seconds()), one("simulated days per second", "days/s", o.SimDays/o.Wall.Seconds()),
			one("predictions", "rows", float64(o.Progress.Predictions)), one("scored", "rows", float64(o.Progress.Scored))}, nil
	})
}

// maxFullReplay is the longest full replay the harness runs; beyond it the
// full-replay wall time is projected from the window runs (and says so).
const maxFullReplay = 90 * time.Second

// fullReplayName names the full 21-day replay result.
const fullReplayName = "Full replay of the shared BTC CSV (21 days, baseline pack, 3 models)"
