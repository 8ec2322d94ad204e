package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

// cycleModels is the fleet of BenchmarkSavePredictCycle1k: 1,000 models,
// as in the bench's remote-models section.
const cycleModels = 1000

// cycleRows returns what one predict cycle at slot stores for n models
// (the shape internal/predict's rows.go builds): one schedule, one scope,
// one shared inference input of ~4 KB that changes every cycle, a small
// distribution output and a {"slot":...} meta per model.
func cycleRows(n int, slot time.Time, models []store.Model) []store.Prediction {
	input := []byte(`{"candles":[`)
	for i := range 60 {
		if i > 0 {
			input = append(input, ',')
		}
		t := slot.Add(time.Duration(i-60) * time.Minute)
		input = fmt.Appendf(input, `{"ts":%d,"open":%d.25,"high":%d.5,"low":%d.125,"close":%d.75,"volume":%d.0}`,
			t.Unix(), 60000+i, 60010+i, 59990+i, 60005+i, 1000+i)
	}
	input = append(input, `],"asset":"BTC"}`...)
	scope := json.RawMessage(`{"asset":"BTC","horizon":3600,"step":300}`)
	meta := json.RawMessage(fmt.Sprintf(`{"slot":%q}`, slot.Format(time.RFC3339)))
	ps := make([]store.Prediction, n)
	for i := range ps {
		m := models[i].ID
		ps[i] = store.Prediction{
			ID: store.PredictionID("cfg", m, slot), ModelID: m, PredictionConfigID: "cfg", ScopeKey: "BTC-3600-300",
			Scope: scope, Status: store.StatusSuccess, ExecTimeMs: 3.25,
			InferenceInput:  input,
			InferenceOutput: fmt.Appendf(nil, `{"distribution":[{"loc":%d.5,"scale":12.25,"weight":1}]}`, 60000+i),
			Meta:            append(json.RawMessage(nil), meta...),
			PerformedAt:     slot, ResolvableAt: slot.Add(time.Hour),
		}
	}
	return ps
}

// cycleStore opens a migrated store with n models, schedule "cfg" and
// warm cycles already stored; it returns the models and the next slot.
func cycleStore(b *testing.B, n, warm int) (*sqlite.Store, []store.Model, time.Time) {
	b.Helper()
	ctx := context.Background()
	s := benchStore(b)
	if err := s.ReplaceSchedules(ctx, []store.ScheduleRow{{ID: "cfg", ScopeKey: "BTC-3600-300", ScopeTemplate: json.RawMessage(`{"asset":"BTC"}`),
		Schedule: json.RawMessage(`{"every":"1m"}`), Active: true}}); err != nil {
		b.Fatal(err)
	}
	models := make([]store.Model, n)
	for i := range models {
		models[i] = store.Model{ID: fmt.Sprintf("r%04d", i), Name: "remote", PlayerID: "p", PlayerName: "P"}
	}
	slot := benchBase
	for i := range warm {
		var ms []store.Model
		if i == 0 {
			ms = models
		}
		if _, err := s.SavePredictCycle(ctx, ms, cycleRows(n, slot, models)); err != nil {
			b.Fatal(err)
		}
		slot = slot.Add(time.Minute)
	}
	return s, models, slot
}

// BenchmarkSavePredictCycle1k: one SavePredictCycle of a predict cycle to
// 1,000 models (1,000 new rows; no model row changed, as in a steady
// predict worker) into a store already holding 100 such cycles.
func BenchmarkSavePredictCycle1k(b *testing.B) { benchSaveCycle(b, cycleModels) }

// BenchmarkSavePredictCycle10: the same for 10 models (the bench's
// pipeline section), where the per-cycle statements weigh most.
func BenchmarkSavePredictCycle10(b *testing.B) { benchSaveCycle(b, 10) }

func benchSaveCycle(b *testing.B, n int) {
	s, models, slot := cycleStore(b, n, 100)
	ctx := context.Background()
	b.ReportAllocs()
	r0, w0 := ioSyscalls(b)
	c0 := cpuTime()
	for b.Loop() {
		b.StopTimer()
		ps := cycleRows(n, slot, models)
		slot = slot.Add(time.Minute)
		b.StartTimer()
		n, err := s.SavePredictCycle(ctx, nil, ps)
		if err != nil || n != len(ps) {
			b.Fatalf("SavePredictCycle: %d %v", n, err)
		}
	}
	r1, w1 := ioSyscalls(b)
	b.ReportMetric(float64(cpuTime()-c0)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(r1-r0)/float64(b.N), "readsys/op")
	b.ReportMetric(float64(w1-w0)/float64(b.N), "writesys/op")
}

// ioSyscalls returns the read and write system calls of this process so
// far (/proc/self/io syscr, syscw: pread and pwrite of SQLite pages among
// them), the counts a loaded machine does not make noisy.
func ioSyscalls(b *testing.B) (r, w int64) {
	b.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skipf("read system call counts: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			r = n
		case "syscw":
			w = n
		}
	}
	return r, w
}

// cpuTime returns the CPU time (user + system) this process used so far,
// less sensitive than wall time to other processes on a loaded machine
// (it includes the row building between timed calls).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
