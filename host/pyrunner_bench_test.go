package host

import (
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

// benchPyModel is a TrackerBase model that keeps the last close and answers
// {"p_up": x}: the protocol's cost, not the model's.
const benchPyModel = `from tracker import TrackerBase

class Bench(TrackerBase):
    def tick(self, data):
        self.last = data["candles"][-1]["close"]

    def predict(self, asset, horizon, step):
        return {"p_up": 0.5 if self.last > 0 else 0.4}
`

var benchTick = json.RawMessage(`{"asset":"BTC","candles":[{"ts":"2023-03-01T00:00:00Z","open":1,"high":1,"low":1,"close":23000.5,"volume":1}]}`)

// startPyBench starts n Python models of benchPyModel (skipping without an
// interpreter that has grpcio and protobuf).
func startPyBench(b *testing.B, n int) *ModelSet {
	b.Helper()
	specs := make([]PluginSpec, n)
	for i := range specs {
		specs[i] = pyModel(b, "BENCH=1", fmt.Sprintf("py%02d", i), map[string]string{"model.py": benchPyModel})
	}
	ms, err := StartModels(context.Background(), specs, Options{Logger: hclog.NewNullLogger(), CallTimeout: 30 * time.Second, StartTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ms.Close() })
	for _, id := range ms.IDs() {
		if err := ms.WaitReady(context.Background(), id); err != nil {
			b.Fatalf("model %s: %v", id, err)
		}
	}
	return ms
}

// tickPredict is one predict cycle's model traffic: Tick then Predict to
// every model; anything but SUCCESS fails the benchmark.
func tickPredict(b *testing.B, ms *ModelSet) {
	ctx := context.Background()
	for id, r := range ms.Tick(ctx, benchTick) {
		if r.Status != StatusSuccess {
			b.Fatalf("tick %s: %s %v", id, r.Status, r.Err)
		}
	}
	for id, r := range ms.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), json.RawMessage(`60`)}, nil) {
		if r.Status != StatusSuccess {
			b.Fatalf("predict %s: %s %v", id, r.Status, r.Err)
		}
	}
}

// reportRSS reports the mean resident set size of the models' Python
// processes (VmRSS, MB = 10^6 bytes).
func reportRSS(b *testing.B, ms *ModelSet) {
	var sum float64
	n := 0
	for _, id := range ms.IDs() {
		s := ms.sups[id]
		s.mu.Lock()
		in := s.cur
		s.mu.Unlock()
		if in == nil || in.run == nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", in.run.processID()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				sum += kb * 1024 / 1e6
				n++
			}
		}
	}
	if n > 0 {
		b.ReportMetric(sum/float64(n), "MB-RSS/model")
	}
}

// BenchmarkPythonTickPredict: one op = Tick + Predict to one local Python
// model (model-runner protocol over a Unix socket, classification, result
// maps); issue 14's target is p50 <= 1 ms.
func BenchmarkPythonTickPredict(b *testing.B) {
	ms := startPyBench(b, 1)
	for range 20 {
		tickPredict(b, ms)
	}
	b.ResetTimer()
	for b.Loop() {
		tickPredict(b, ms)
	}
	b.StopTimer()
	reportRSS(b, ms)
}

// BenchmarkPythonFanOut10: one op = Tick + Predict fanned out to 10 Python
// models (all answered).
func BenchmarkPythonFanOut10(b *testing.B) {
	ms := startPyBench(b, 10)
	for range 5 {
		tickPredict(b, ms)
	}
	b.ResetTimer()
	for b.Loop() {
		tickPredict(b, ms)
	}
	b.StopTimer()
	reportRSS(b, ms)
}
