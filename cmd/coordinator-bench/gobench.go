package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
)

// secGo is the report section of the packages' own Go benchmarks.
const secGo = "7. Go benchmarks"

// goBench is one `Benchmark*` function the harness expects in a package.
type goBench struct {
	Name string // function name, "BenchmarkInsertPredictions10k"
	Op   string // what one op (one b.Loop iteration) does
	// Rows is the number of rows one op handles (10,000 for the 10k
	// benchmarks); when > 0 the report derives rows/s = Rows / (ns/op · 1e-9).
	Rows int
}

// goBenchPackage is one package whose Go benchmarks the harness runs with
// `go test -run '^$' -bench <regex> -benchmem -count <runs>`.
type goBenchPackage struct {
	Pkg     string // import path relative to the module root, "./host"
	Backend string // "sqlite", "postgres" or "" (no store)
	Issue   string // the issue whose numbers these are
	Benches []goBench
}

// regex returns the -bench pattern selecting exactly p.Benches.
func (p goBenchPackage) regex() string {
	names := make([]string, len(p.Benches))
	for i, b := range p.Benches {
		names[i] = strings.TrimPrefix(b.Name, "Benchmark")
	}
	return "^Benchmark(" + strings.Join(names, "|") + ")$"
}

// goBenchPackages are the Go benchmarks recorded in the report (issues 2
// and 3). What one op means was read from each bench_test.go.
var goBenchPackages = []goBenchPackage{
	{Pkg: "./host", Issue: "issue 2", Benches: []goBench{
		{Name: "BenchmarkPredictRoundTrip", Op: "one `ModelSet.Predict` to 1 model plugin (`host/testdata/plugins/model`; gRPC over a Unix socket with mTLS, classification, result map)"},
		{Name: "BenchmarkFanOut10", Op: "one `ModelSet.Predict` fan-out to 10 model plugins"},
		{Name: "BenchmarkFanOut100", Op: "one `ModelSet.Predict` fan-out to 100 model plugins"},
	}},
	{Pkg: "./internal/store/sqlite", Backend: dburl.BackendSQLite, Issue: "issue 3", Benches: []goBench{
		{Name: "BenchmarkInsertPredictions10k", Rows: 10000, Op: "one `SavePredictCycle` of 10,000 new predictions over 10 models in one transaction (building the rows is untimed)"},
		{Name: "BenchmarkClaimAndScore10k", Rows: 10000, Op: "`ClaimAndScore` in batches of 500 until 10,000 due predictions are scored (storing them first is untimed)"},
		{Name: "BenchmarkLatestLeaderboard", Op: "one `LatestLeaderboard` read, newest of 1,000 snapshots of 100 entries"},
	}},
	{Pkg: "./internal/store/postgres", Backend: dburl.BackendPostgres, Issue: "issue 3", Benches: []goBench{
		{Name: "BenchmarkInsertPredictions10k", Rows: 10000, Op: "one `SavePredictCycle` of 10,000 new predictions over 10 models (building the rows is untimed)"},
		{Name: "BenchmarkClaimAndScore10k", Rows: 10000, Op: "`ClaimAndScore` in batches of 1,000 until 10,000 due predictions are scored (storing them first is untimed)"},
		{Name: "BenchmarkLatestLeaderboard", Op: "one `LatestLeaderboard` read, newest of 1,000 snapshots of 100 entries"},
	}},
	{Pkg: "./host", Issue: "issue 14", Benches: []goBench{
		{Name: "BenchmarkPythonTickPredict", Op: "one `ModelSet.Tick` + `ModelSet.Predict` to 1 local Python model (model runner, model-runner protocol over a Unix socket); `MB-RSS/model` is the model process's resident set"},
		{Name: "BenchmarkPythonFanOut10", Op: "one `ModelSet.Tick` + `ModelSet.Predict` fan-out to 10 local Python models"},
	}},
	{Pkg: "./host", Issue: "issue 12", Benches: []goBench{
		{Name: "BenchmarkSandboxStartGo", Op: "one start of 1 Go model plugin through the sandbox launcher (re-exec, cgroups, rlimits, Landlock, uid drop when root) up to ready; the stop is untimed"},
		{Name: "BenchmarkDirectStartGo", Op: "the same start with the sandbox disabled"},
		{Name: "BenchmarkSandboxStartPython", Op: "one start of 1 Python model (model runner) through the sandbox, with the read-only copies made for a dropped uid"},
		{Name: "BenchmarkDirectStartPython", Op: "the same start with the sandbox disabled"},
		{Name: "BenchmarkDirectPredictRoundTrip", Op: "`BenchmarkPredictRoundTrip` (sandboxed, the default) with the sandbox disabled"},
	}},
}

// Metric names of the Go benchmark results.
const (
	goMetricIters   = "iterations per run"
	goMetricTime    = "time per op"
	goMetricBytes   = "memory per op"
	goMetricAllocs  = "allocations per op"
	goMetricDerived = "rows/s derived (rows per op / time per op)"
)

// GoBenchRun is one `go test -bench` invocation on one package.
type GoBenchRun struct {
	Pkg     goBenchPackage
	Command string // the command line as run
	CPU     string // the "cpu:" line go test printed
	// Results holds one Result per benchmark, in the package's order, then
	// any benchmark found in the output but not expected.
	Results []*Result
	// Err is set when go test failed or a benchmark printed no result;
	// OutputTail then holds the last lines of its output.
	Err        error
	OutputTail string
}

// find returns the result of the benchmark named name, or nil.
func (g *GoBenchRun) find(name string) *Result {
	for _, r := range g.Results {
		if r.Name == name && r.Err == nil {
			return r
		}
	}
	return nil
}

// benchValue is one "<value> <unit>" pair of a benchmark result line.
type benchValue struct {
	Value float64
	Unit  string // "ns/op", "B/op", "allocs/op", "rows/s", ...
}

// benchSample is one result line of `go test -bench`, e.g.
//
//	BenchmarkInsertPredictions10k-2   	       2	 214907316 ns/op	     46532 rows/s	32847880 B/op	  280140 allocs/op
type benchSample struct {
	Name       string // without the -GOMAXPROCS suffix
	Procs      int    // GOMAXPROCS from the suffix, 1 when there is none
	Iterations int64  // b.N
	Values     []benchValue
}

// value returns the value of unit, or false.
func (s benchSample) value(unit string) (float64, bool) {
	for _, v := range s.Values {
		if v.Unit == unit {
			return v.Value, true
		}
	}
	return 0, false
}

// parseGoBench reads `go test -bench` output and returns its result lines
// in order and the "cpu:" header. Lines that are not results (goos, pkg,
// PASS, ok, log output, --- FAIL) are ignored. When a benchmark's output
// splits its name from its numbers (it logged while running), the name
// line is remembered and joined with the next line that starts with an
// iteration count.
func parseGoBench(out string) (samples []benchSample, cpu string) {
	pending := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "cpu: "); ok {
			cpu = strings.TrimSpace(c)
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name := ""
		switch {
		case strings.HasPrefix(f[0], "Benchmark") && len(f) == 1:
			pending = f[0]
			continue
		case strings.HasPrefix(f[0], "Benchmark"):
			name, f = f[0], f[1:]
		case pending != "":
			name = pending
		default:
			continue
		}
		s, ok := parseBenchFields(name, f)
		if !ok {
			continue
		}
		pending = ""
		samples = append(samples, s)
	}
	return samples, cpu
}

// parseBenchFields parses "<iterations> (<value> <unit>)+" for name.
func parseBenchFields(name string, f []string) (benchSample, bool) {
	if len(f) < 3 || len(f)%2 != 1 {
		return benchSample{}, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n <= 0 {
		return benchSample{}, false
	}
	s := benchSample{Name: name, Procs: 1, Iterations: n}
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if p, err := strconv.Atoi(name[i+1:]); err == nil && p > 0 {
			s.Name, s.Procs = name[:i], p
		}
	}
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil || !strings.Contains(f[i+1], "/") {
			return benchSample{}, false
		}
		s.Values = append(s.Values, benchValue{Value: v, Unit: f[i+1]})
	}
	if _, ok := s.value("ns/op"); !ok {
		return benchSample{}, false
	}
	return s, true
}

// goBenchResults groups the samples of pkg by benchmark into Results (one
// value per -count run in each metric). An expected benchmark without a
// sample gets a Result with Err set.
func goBenchResults(pkg goBenchPackage, samples []benchSample) []*Result {
	byName := map[string][]benchSample{}
	var order []string
	for _, s := range samples {
		if _, ok := byName[s.Name]; !ok {
			order = append(order, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
	}
	var out []*Result
	rows := map[string]int{}
	expected := map[string]bool{}
	for _, b := range pkg.Benches {
		expected[b.Name] = true
		rows[b.Name] = b.Rows
	}
	add := func(name string) {
		r := &Result{Section: secGo, Name: name, Backend: pkg.Backend}
		ss := byName[name]
		if len(ss) == 0 {
			r.Err = fmt.Errorf("no result line for %s in the go test -bench output of %s", name, pkg.Pkg)
			out = append(out, r)
			return
		}
		metric := func(name, unit string) *Metric {
			for i := range r.Metrics {
				if r.Metrics[i].Name == name {
					return &r.Metrics[i]
				}
			}
			r.Metrics = append(r.Metrics, Metric{Name: name, Unit: unit})
			return &r.Metrics[len(r.Metrics)-1]
		}
		for _, s := range ss {
			m := metric(goMetricIters, "b.N")
			m.Runs = append(m.Runs, float64(s.Iterations))
			for _, v := range s.Values {
				switch v.Unit {
				case "ns/op":
					m = metric(goMetricTime, v.Unit)
				case "B/op":
					m = metric(goMetricBytes, v.Unit)
				case "allocs/op":
					m = metric(goMetricAllocs, v.Unit)
				default:
					m = metric(v.Unit+" reported by the benchmark", v.Unit)
				}
				m.Runs = append(m.Runs, v.Value)
			}
			if n := rows[name]; n > 0 {
				ns, _ := s.value("ns/op")
				m = metric(goMetricDerived, "rows/s")
				m.Runs = append(m.Runs, float64(n)/(ns*1e-9))
			}
		}
		out = append(out, r)
	}
	for _, b := range pkg.Benches {
		add(b.Name)
	}
	for _, name := range order {
		if !expected[name] {
			add(name)
		}
	}
	return out
}

// goBenchmarks runs every package's Go benchmarks -runs times (-count);
// the PostgreSQL package is skipped with -skip-pg and otherwise gets the
// harness's TEST_DATABASE_URL (its benchmarks create and drop their own
// coordinator_test_<hex> databases on that server).
func (h *harness) goBenchmarks(ctx context.Context) {
	for _, p := range goBenchPackages {
		if ctx.Err() != nil {
			return
		}
		g := &GoBenchRun{Pkg: p}
		h.rep.GoBench = append(h.rep.GoBench, g)
		if p.Backend == dburl.BackendPostgres && h.pg == nil {
			g.Err = errors.New("not measured: -skip-pg")
			continue
		}
		args := []string{"test", "-run", "^$", "-bench", p.regex(), "-benchmem", "-count", strconv.Itoa(h.cfg.runs)}
		if h.cfg.quick {
			args = append(args, "-benchtime", "200ms")
		}
		args = append(args, p.Pkg)
		g.Command = "go " + shellJoin(args)
		progress("go benchmarks: %s", g.Command)
		began := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		cmd := exec.CommandContext(cctx, "go", args...)
		cmd.Dir = h.root
		cmd.Env = os.Environ()
		if p.Backend == dburl.BackendPostgres {
			cmd.Env = append(cmd.Env, "TEST_DATABASE_URL="+h.cfg.dbURL)
		}
		out, err := cmd.CombinedOutput()
		cancel()
		samples, cpu := parseGoBench(string(out))
		g.CPU = cpu
		g.Results = goBenchResults(p, samples)
		var missing []error
		for _, r := range g.Results {
			if r.Err != nil {
				missing = append(missing, r.Err)
			}
		}
		if err != nil {
			g.Err = fmt.Errorf("%s in %s: %w", g.Command, h.root, err)
		}
		if err != nil || len(missing) > 0 {
			g.Err = errors.Join(append([]error{g.Err}, missing...)...)
			g.OutputTail = tailLines(string(out), 15)
			progress("go benchmarks %s: FAILED: %v", p.Pkg, g.Err)
			continue
		}
		progress("go benchmarks %s: done in %s", p.Pkg, time.Since(began).Round(time.Second))
	}
}

// shellJoin quotes args for display the way a POSIX shell reads them.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " ^$|()*?[]'\"\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// goBenchMedian returns the median of metric of benchmark name in the Go
// benchmarks of pkg (NaN when not measured).
func (r *Report) goBenchMedian(pkg, name, metric string) float64 {
	for _, g := range r.GoBench {
		if g.Pkg.Pkg != pkg {
			continue
		}
		if x := g.find(name); x != nil {
			return x.median(metric)
		}
	}
	return math.NaN()
}

// goBenchTargets are the targets of issues 2 and 3 on the Go benchmarks.
func (r *Report) goBenchTargets() []Target {
	return []Target{
		atMost("Predict round trip, 1 model plugin (`go test -bench` host, issue 2)",
			r.goBenchMedian("./host", "BenchmarkPredictRoundTrip", goMetricTime)/1e3, 150, "µs", "loopback; median of ns/op over -count runs"),
		atMost("Predict fan-out to 10 model plugins (`go test -bench` host, issue 2)",
			r.goBenchMedian("./host", "BenchmarkFanOut10", goMetricTime)/1e6, 1, "ms", "median of ns/op over -count runs"),
		atLeast("Batch insert of 10k predictions, PostgreSQL (`go test -bench`, issue 3)",
			r.goBenchMedian("./internal/store/postgres", "BenchmarkInsertPredictions10k", goMetricDerived), 50000, "rows/s", "10,000 rows / median ns/op"),
		atLeast("Claim + score of 10k predictions, PostgreSQL (`go test -bench`, issue 3)",
			r.goBenchMedian("./internal/store/postgres", "BenchmarkClaimAndScore10k", goMetricDerived), 20000, "rows/s", "10,000 rows / median ns/op; batches of 1,000"),
		atMost("Tick + predict round trip, 1 Python model (`go test -bench` host, issue 14)",
			r.goBenchMedian("./host", "BenchmarkPythonTickPredict", goMetricTime)/1e6, 1, "ms", "median of ns/op over -count runs"),
	}
}

// writeGoBench renders the Go benchmarks section: one table per package.
func (r *Report) writeGoBench(w func(string, ...any)) {
	w("## %s\n\n", secGo)
	w("The packages' own `Benchmark*` functions, run by the harness with `go test -run '^$' -bench <regex> -benchmem -count <runs>` (one process per package, each benchmark at the default 1 s benchtime per run unless -quick). ")
	w("Each row summarises the %d `-count` runs: median, min and max. `rows/s derived` is rows per op / (ns/op · 10⁻⁹); a `reported by the benchmark` metric is the benchmark's own `b.ReportMetric`. ", r.Runs)
	w("The PostgreSQL benchmarks get the harness's TEST_DATABASE_URL and create and drop their own `coordinator_test_<hex>` databases.\n\n")
	for _, g := range r.GoBench {
		be := g.Pkg.Backend
		if be == "" {
			be = "no store"
		}
		w("### `%s` (%s, %s)\n\n", g.Pkg.Pkg, be, g.Pkg.Issue)
		if g.Command != "" {
			w("`%s`", g.Command)
			if g.CPU != "" {
				w(" (cpu: %s)", g.CPU)
			}
			w("\n\n")
		}
		for _, b := range g.Pkg.Benches {
			w("- `%s`: one op = %s.\n", b.Name, b.Op)
		}
		w("\n")
		if g.Err != nil {
			w("> **%s**\n\n", mdEscape(g.Err.Error()))
			if g.OutputTail != "" {
				w("<details><summary>Last lines of the go test output</summary>\n\n```\n%s\n```\n\n</details>\n\n", g.OutputTail)
			}
		}
		if len(g.Results) == 0 {
			continue
		}
		w("| Benchmark | Metric | Median | Min | Max | Runs |\n|---|---|---|---|---|---|\n")
		for _, x := range g.Results {
			if x.Err != nil {
				w("| %s | – | %s | | | |\n", x.Name, mdEscape(x.Err.Error()))
				continue
			}
			for _, mt := range x.Metrics {
				s := mt.Summary()
				w("| %s | %s (%s) | **%s** | %s | %s | %d |\n", x.Name, mt.Name, mt.Unit, num(s.Median), num(s.Min), num(s.Max), s.N)
			}
		}
		w("\n")
	}
}
