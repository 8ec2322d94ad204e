// Command bench is the coordinator's benchmark harness (issue 8): it
// measures, in one run and side by side, the physical floor of this machine
// (plugin round trip, fan-out, batch insert), the predict pipeline from a
// feed record's arrival to persisted predictions, scoring throughput, the
// report API, replay speed and memory, plus the host and store packages'
// own Go benchmarks (issues 2 and 3, run first with go test -bench), and
// writes docs/benchmarks.md.
//
//	go run ./cmd/coordinator-bench -out docs/benchmarks.md [-runs 5] [-quick] [-skip-pg]
//
// Every measurement is repeated -runs times (at least 5 for the report);
// the report gives the median with min and max over runs, and p50/p99 of
// per-call latencies where asked. PostgreSQL is TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable); each run creates
// scratch databases coordinator_bench_<hex> and drops them at the end.
// Plugins are the no-op model and challenge under cmd/coordinator-bench/plugins,
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
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// options is the command line.
type options struct {
	out    string
	runs   int
	quick  bool
	skipPG bool
	dbURL  string
	csv    string
	// only names one measurement to run alone ("report-month", "storage",
	// "scoring", "replay", "pipeline": the floors and the pipeline of
	// section 2, "remote-models"); the report then holds those sections
	// only.
	only string
	// profiles, when set, is the directory that keeps the CPU profiles of
	// missed targets (name.pprof, for go tool pprof); else they go to the
	// run's temporary directory and are deleted with it.
	profiles string
	// replayDays bounds the full replay (simulated days; 0 = the whole
	// CSV), for experiments.
	replayDays float64
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
	flag.StringVar(&cfg.only, "only", "", "run one measurement alone: report-month (the report API on a month of data), storage (the database a one-day replay leaves), scoring (no-op and generated challenge), replay, pipeline (the floors and the feed → persisted pipeline) or remote-models (1,000 remote models)")
	flag.StringVar(&cfg.profiles, "profiles", "", "directory to keep the CPU profiles taken after missed targets in (default: deleted with the run's temporary directory)")
	flag.Float64Var(&cfg.replayDays, "replay-days", 0, "simulated days of the full replay (0 = the whole CSV; less is for experiments, not for the report)")
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
	// rw is the generated baseline workspace (replayWS), built once.
	rw    *replayWorkspace
	rwErr error
}

// profileDir is where profileTop writes: -profiles, or the temporary
// directory.
func (h *harness) profileDir() string {
	if h.cfg.profiles != "" {
		return h.cfg.profiles
	}
	return h.tmp
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
	if cfg.only == "" || cfg.only == "scoring" || cfg.only == "pipeline" || cfg.only == "remote-models" || cfg.only == "replay" { // report-month runs no plugin; storage builds the baseline's own (replay too, and the no-op models of its floor)
		progress("building plugins")
		if h.plugins, err = buildPlugins(ctx, root, tmp); err != nil {
			return err
		}
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

	switch cfg.only {
	case "":
		// The Go benchmarks first, on a quiet machine and a PostgreSQL server
		// without the report API's 1M-row database (and its autovacuum).
		h.goBenchmarks(ctx)
		h.insertFloors(ctx)
		if err := h.pipelines(ctx); err != nil {
			return err
		}
		h.pipelinesReal(ctx)
		h.scoring(ctx)
		h.scoringReal(ctx)
		h.reportAPI(ctx)
		h.reportMonth(ctx)
		h.replay(ctx)
		h.storage(ctx)
		h.remoteFleet(ctx)
	case "report-month":
		h.reportMonth(ctx)
	case "storage":
		h.storage(ctx)
	case "scoring":
		h.scoring(ctx)
		h.scoringReal(ctx)
	case "replay":
		h.replay(ctx)
	case "pipeline":
		h.insertFloors(ctx)
		if err := h.pipelines(ctx); err != nil {
			return err
		}
		h.pipelinesReal(ctx)
	case "remote-models":
		h.remoteFleet(ctx)
	default:
		return fmt.Errorf("-only: expected report-month, storage, scoring, replay, pipeline or remote-models, found %q", cfg.only)
	}
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
