package predict_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// Slots skipped while the worker runs (the clock jumped over missing data,
// as in a replay) are reported as a data gap with from, to and the slots
// skipped, never as downtime; only a worker's first cycle reports downtime.
func TestSkippedSlotsAreAGapNotDowntime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.models.set(running("ok"), map[string]host.CallResult{"ok": success(`{"p_up": 0.5}`, time.Millisecond)})
	buf := &testutil.SyncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Warn})
	w := f.worker(t, func(c *predict.Config) { c.Logger = logger })
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	f.clk.Set(time.Date(2026, 3, 1, 12, 5, 2, 0, time.UTC)) // a data gap: no cycle at 12:01..12:04
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "schedule slots skipped: data gap") || !strings.Contains(out, "slots_skipped=4") ||
		!strings.Contains(out, `from="2026-03-01 12:01:00 +0000 UTC"`) || !strings.Contains(out, `to="2026-03-01 12:04:00 +0000 UTC"`) {
		t.Fatalf("gap not reported as a gap:\n%s", out)
	}
	if strings.Contains(out, "node was down") {
		t.Fatalf("a data gap reported as downtime:\n%s", out)
	}
	// A restarted worker: its first cycle reports the downtime.
	buf = &testutil.SyncBuffer{}
	logger = hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Warn})
	f.clk.Set(time.Date(2026, 3, 1, 12, 9, 3, 0, time.UTC))
	restarted := f.worker(t, func(c *predict.Config) { c.Logger = logger })
	if _, err := restarted.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "missed while the node was down") || !strings.Contains(out, "slots_skipped=3") {
		t.Fatalf("downtime not reported:\n%s", out)
	}
}
