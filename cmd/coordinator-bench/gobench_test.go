package main

import (
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// Real `go test -bench -benchmem` output of this repository's store
// packages on the 2-core benchmark machine.
const sqliteOutput = `goos: linux
goarch: amd64
pkg: github.com/crunch-coordinator/coordinator/internal/store/sqlite
cpu: Intel(R) Xeon(R) Processor
BenchmarkInsertPredictions10k-2   	       3	 186503139 ns/op	28205104 B/op	  508547 allocs/op
BenchmarkInsertPredictions10k-2   	       3	 180620738 ns/op	28147016 B/op	  508537 allocs/op
BenchmarkLatestLeaderboard-2      	       3	     98302 ns/op	   14658 B/op	      36 allocs/op
BenchmarkLatestLeaderboard-2      	       3	    188363 ns/op	   14658 B/op	      36 allocs/op
PASS
ok  	github.com/crunch-coordinator/coordinator/internal/store/sqlite	1.461s
`

const postgresOutput = `goos: linux
goarch: amd64
pkg: github.com/crunch-coordinator/coordinator/internal/store/postgres
cpu: Intel(R) Xeon(R) Processor
BenchmarkInsertPredictions10k-2   	       2	 214907316 ns/op	     46532 rows/s	32847880 B/op	  280140 allocs/op
PASS
ok  	github.com/crunch-coordinator/coordinator/internal/store/postgres	0.572s
`

func TestParseGoBench(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []benchSample
		wantCPU string
	}{
		{
			name:    "sqlite, -benchmem, two runs each",
			out:     sqliteOutput,
			wantCPU: "Intel(R) Xeon(R) Processor",
			want: []benchSample{
				{Name: "BenchmarkInsertPredictions10k", Procs: 2, Iterations: 3, Values: []benchValue{{186503139, "ns/op"}, {28205104, "B/op"}, {508547, "allocs/op"}}},
				{Name: "BenchmarkInsertPredictions10k", Procs: 2, Iterations: 3, Values: []benchValue{{180620738, "ns/op"}, {28147016, "B/op"}, {508537, "allocs/op"}}},
				{Name: "BenchmarkLatestLeaderboard", Procs: 2, Iterations: 3, Values: []benchValue{{98302, "ns/op"}, {14658, "B/op"}, {36, "allocs/op"}}},
				{Name: "BenchmarkLatestLeaderboard", Procs: 2, Iterations: 3, Values: []benchValue{{188363, "ns/op"}, {14658, "B/op"}, {36, "allocs/op"}}},
			},
		},
		{
			name:    "postgres, custom rows/s metric between ns/op and B/op",
			out:     postgresOutput,
			wantCPU: "Intel(R) Xeon(R) Processor",
			want: []benchSample{
				{Name: "BenchmarkInsertPredictions10k", Procs: 2, Iterations: 2, Values: []benchValue{{214907316, "ns/op"}, {46532, "rows/s"}, {32847880, "B/op"}, {280140, "allocs/op"}}},
			},
		},
		{
			name: "GOMAXPROCS=1 has no suffix; fractional ns/op; sub-benchmark",
			out: "BenchmarkPredictRoundTrip \t    9826\t    121736 ns/op\t    9016 B/op\t     171 allocs/op\n" +
				"BenchmarkMedian/n=10-8         \t12345678\t        95.31 ns/op\n",
			want: []benchSample{
				{Name: "BenchmarkPredictRoundTrip", Procs: 1, Iterations: 9826, Values: []benchValue{{121736, "ns/op"}, {9016, "B/op"}, {171, "allocs/op"}}},
				{Name: "BenchmarkMedian/n=10", Procs: 8, Iterations: 12345678, Values: []benchValue{{95.31, "ns/op"}}},
			},
		},
		{
			name: "name split from its numbers by log output",
			out: "BenchmarkFanOut100-2   \t\n" +
				"2026-11-30T10:00:00.000Z [WARN]  host: slow start: plugin=m042\n" +
				"     214\t   5512345 ns/op\t  912345 B/op\t   17012 allocs/op\n",
			want: []benchSample{
				{Name: "BenchmarkFanOut100", Procs: 2, Iterations: 214, Values: []benchValue{{5512345, "ns/op"}, {912345, "B/op"}, {17012, "allocs/op"}}},
			},
		},
		{
			name: "failed and skipped benchmarks give no samples",
			out: "BenchmarkClaimAndScore10k-2   \t--- FAIL: BenchmarkClaimAndScore10k-2\n" +
				"    bench_test.go:120: scored 9500; want 10000\n" +
				"--- SKIP: BenchmarkLatestLeaderboard\n" +
				"    helpers_test.go:20: TEST_DATABASE_URL is unset; skipping PostgreSQL tests\n" +
				"FAIL\nexit status 1\nFAIL\tgithub.com/crunch-coordinator/coordinator/internal/store/postgres\t3.012s\n",
		},
		{
			name: "benchmark line without ns/op or with a malformed pair is ignored",
			out: "BenchmarkX-2 \t 10\t 5 widgets\n" +
				"BenchmarkY-2 \t 10\t abc ns/op\n" +
				"BenchmarkZ-2 \t 10\t 5 ns/op\t 7\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cpu := parseGoBench(tt.out)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseGoBench samples:\n got %+v\nwant %+v", got, tt.want)
			}
			if cpu != tt.wantCPU {
				t.Fatalf("parseGoBench cpu = %q; want %q", cpu, tt.wantCPU)
			}
		})
	}
}

func TestGoBenchResults(t *testing.T) {
	pkg := goBenchPackage{Pkg: "./internal/store/postgres", Backend: "postgres", Benches: []goBench{
		{Name: "BenchmarkInsertPredictions10k", Rows: 10000},
		{Name: "BenchmarkClaimAndScore10k", Rows: 10000},
	}}
	out := postgresOutput +
		"BenchmarkInsertPredictions10k-2   	       5	 200000000 ns/op	     50000 rows/s	32847880 B/op	  280150 allocs/op\n" +
		"BenchmarkInsertPredictions10k-2   	       5	 100000000 ns/op	    100000 rows/s	32847880 B/op	  280160 allocs/op\n" +
		"BenchmarkExtra-2 	 100	 1000 ns/op\n"
	samples, _ := parseGoBench(out)
	rs := goBenchResults(pkg, samples)
	if len(rs) != 3 {
		t.Fatalf("got %d results; want 3 (2 expected + 1 extra)", len(rs))
	}
	ins := rs[0]
	if ins.Err != nil || ins.Backend != "postgres" || ins.Section != secGo {
		t.Fatalf("insert result = %+v", ins)
	}
	checks := []struct {
		metric string
		want   []float64
	}{
		{goMetricIters, []float64{2, 5, 5}},
		{goMetricTime, []float64{214907316, 200000000, 100000000}},
		{goMetricAllocs, []float64{280140, 280150, 280160}},
		{"rows/s reported by the benchmark", []float64{46532, 50000, 100000}},
		{goMetricDerived, []float64{10000 / 0.214907316, 50000, 100000}},
	}
	for _, c := range checks {
		m, ok := ins.Metric(c.metric)
		if !ok {
			t.Fatalf("metric %q missing; have %+v", c.metric, ins.Metrics)
		}
		if len(m.Runs) != len(c.want) {
			t.Fatalf("metric %q runs = %v; want %v", c.metric, m.Runs, c.want)
		}
		for i := range c.want {
			if math.Abs(m.Runs[i]-c.want[i]) > 1e-6*c.want[i] {
				t.Fatalf("metric %q runs = %v; want %v", c.metric, m.Runs, c.want)
			}
		}
	}
	if got := ins.median(goMetricDerived); math.Abs(got-50000) > 1e-6 {
		t.Fatalf("median derived rows/s = %v; want 50000", got)
	}
	if rs[1].Name != "BenchmarkClaimAndScore10k" || rs[1].Err == nil || !strings.Contains(rs[1].Err.Error(), "no result line") {
		t.Fatalf("missing benchmark result = %+v; want an error", rs[1])
	}
	if rs[2].Name != "BenchmarkExtra" || rs[2].Err != nil {
		t.Fatalf("extra benchmark result = %+v", rs[2])
	}
	if _, ok := rs[2].Metric(goMetricDerived); ok {
		t.Fatal("derived rows/s on a benchmark without Rows")
	}
}

func TestGoBenchRegexAndTargets(t *testing.T) {
	for _, p := range goBenchPackages {
		re := regexp.MustCompile(p.regex())
		for _, b := range p.Benches {
			if !re.MatchString(b.Name) {
				t.Errorf("%s: -bench %q does not match %s", p.Pkg, p.regex(), b.Name)
			}
		}
		if re.MatchString("BenchmarkFanOut1000") || re.MatchString("BenchmarkInsertPredictions10kExtra") {
			t.Errorf("%s: -bench %q matches more than its benchmarks", p.Pkg, p.regex())
		}
	}
	r := &Report{GoBench: []*GoBenchRun{
		{Pkg: goBenchPackages[0], Results: []*Result{
			{Name: "BenchmarkPredictRoundTrip", Metrics: []Metric{{Name: goMetricTime, Runs: []float64{120000, 160000, 140000}}}},
			{Name: "BenchmarkFanOut10", Metrics: []Metric{{Name: goMetricTime, Runs: []float64{1200000}}}},
		}},
		{Pkg: goBenchPackages[2], Results: []*Result{
			{Name: "BenchmarkInsertPredictions10k", Metrics: []Metric{{Name: goMetricDerived, Runs: []float64{60000}}}},
		}},
	}}
	got := r.goBenchTargets()
	want := []string{"PASS", "MISS", "PASS", "not measured", "not measured"}
	for i, tg := range got {
		if tg.Status() != want[i] {
			t.Errorf("target %q: %s (measured %v); want %s", tg.Goal, tg.Status(), tg.Measured, want[i])
		}
	}
	if math.Abs(got[0].Measured-140) > 1e-9 {
		t.Errorf("round trip measured %v µs; want 140", got[0].Measured)
	}
}
