package host

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// benchModels starts n well-behaved model plugins for a benchmark.
func benchModels(b *testing.B, n int) *ModelSet {
	b.Helper()
	specs := make([]PluginSpec, n)
	for i := range specs {
		specs[i] = PluginSpec{ID: fmt.Sprintf("m%03d", i), Path: modelBin, Args: []string{"-name", fmt.Sprintf("m%03d", i)}, StartTimeout: time.Minute}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ms, err := StartModels(ctx, specs, Options{Logger: hclog.NewNullLogger(), CallTimeout: 30 * time.Second, MaxParallelStarts: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ms.Close() })
	for _, st := range ms.States() {
		if !st.Running {
			b.Fatalf("model %s did not start: %s", st.ID, st.LastError)
		}
	}
	return ms
}

func benchPredict(b *testing.B, n int) {
	ms := benchModels(b, n)
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}
	kwargs := json.RawMessage(`{"horizon":60}`)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := ms.Predict(ctx, args, kwargs)
		for id, r := range res {
			if r.Status != StatusSuccess {
				b.Fatalf("%s: %s %v", id, r.Status, r.Err)
			}
		}
	}
}

// BenchmarkPredictRoundTrip measures one Predict to one model plugin
// (gRPC over a Unix socket with mTLS, classification, result map).
func BenchmarkPredictRoundTrip(b *testing.B) { benchPredict(b, 1) }

// BenchmarkFanOut10 measures one Predict fan-out to 10 model plugins.
func BenchmarkFanOut10(b *testing.B) { benchPredict(b, 10) }

// BenchmarkFanOut100 measures one Predict fan-out to 100 model plugins.
func BenchmarkFanOut100(b *testing.B) { benchPredict(b, 100) }

// benchTickPredict measures one live cycle's model calls: TickPredict
// (Tick then Predict on every model) to n model plugins.
func benchTickPredict(b *testing.B, n int) {
	ms := benchModels(b, n)
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}
	kwargs := json.RawMessage(`{"horizon":60}`)
	input := json.RawMessage(`{"candles":[{"t":1700000000,"o":1,"h":2,"l":0.5,"c":1.5,"v":10}]}`)
	ctx := context.Background()
	host0, plugins0, cpuOK := benchCPU(ms)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ticks, preds := ms.TickPredict(ctx, input, args, kwargs)
		for id, r := range preds {
			if t := ticks[id]; t.Status != StatusSuccess || r.Status != StatusSuccess {
				b.Fatalf("%s: Tick %s %v, Predict %s %v", id, t.Status, t.Err, r.Status, r.Err)
			}
		}
	}
	b.StopTimer()
	if host1, plugins1, ok := benchCPU(ms); ok && cpuOK {
		b.ReportMetric(float64(host1-host0)/float64(time.Millisecond)/float64(b.N), "host-cpu-ms/op")
		b.ReportMetric(float64(plugins1-plugins0)/float64(time.Millisecond)/float64(b.N), "plugin-cpu-ms/op")
	}
}

// benchCPU returns the user+system CPU time used so far by this process
// and by the processes of ms's serving generations, from /proc/<pid>/stat
// (in clock ticks of 10 ms); ok is false where that cannot be read.
func benchCPU(ms *ModelSet) (host, plugins time.Duration, ok bool) {
	procCPU := func(pid string) (time.Duration, bool) {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		i := bytes.LastIndexByte(stat, ')')
		if err != nil || i < 0 {
			return 0, false
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 {
			return 0, false
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		return time.Duration(ut+st) * 10 * time.Millisecond, err1 == nil && err2 == nil
	}
	host, ok = procCPU("self")
	for _, mb := range ms.snapshot() {
		in := mb.s.serving()
		if in == nil || in.run == nil {
			return 0, 0, false
		}
		d, dok := procCPU(strconv.Itoa(in.run.processID()))
		plugins += d
		ok = ok && dok
	}
	return host, plugins, ok
}

// BenchmarkTickPredictFanOut10 measures one TickPredict fan-out (a live
// cycle's model calls) to 10 model plugins.
func BenchmarkTickPredictFanOut10(b *testing.B) { benchTickPredict(b, 10) }

// BenchmarkTickPredictFanOut100 measures one TickPredict fan-out to 100
// model plugins.
func BenchmarkTickPredictFanOut100(b *testing.B) { benchTickPredict(b, 100) }
