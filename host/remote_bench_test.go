package host

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
)

// BenchmarkRemoteFanOut1000 measures one Predict fan-out to 1,000 remote
// models (one connection each) served by one mrtest model-runner
// server on loopback. The server runs in the benchmark's own process, so
// its CPU is counted here too; the predict cycle's storage is not
// included (issue 15 item 4's full cycle belongs in cmd/coordinator-bench).
func BenchmarkRemoteFanOut1000(b *testing.B) {
	srv, err := mrtest.Start("127.0.0.1:0", mrtest.Constant(json.RawMessage(`{"p_up": 0.5}`)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Stop)
	const n = 1000
	specs := make([]PluginSpec, n)
	for i := range specs {
		specs[i] = PluginSpec{ID: fmt.Sprintf("r%04d", i), Remote: &RemoteSpec{Address: srv.Addr(), BaseClass: "tracker.TrackerBase"}, StartTimeout: time.Minute}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ms, err := StartModels(ctx, specs, Options{Logger: hclog.NewNullLogger(), CallTimeout: 30 * time.Second, MaxParallelStarts: 32})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ms.Close() })
	args := []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for id, r := range ms.Predict(ctx, args, nil) {
			if r.Status != StatusSuccess {
				b.Fatalf("%s: %s %v", id, r.Status, r.Err)
			}
		}
	}
}
