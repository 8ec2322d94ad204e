package devrun

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/scaffold"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// TestWatchReloadsOnlyTheChangedModel runs dev on a slow replay with
// --watch, edits one example model's source and expects that model, and
// only it, to be rebuilt and reloaded while the node keeps running.
func TestWatchReloadsOnlyTheChangedModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a workspace")
	}
	root := testutil.RepoRoot(t)
	csv := testutil.SharedCSV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res := newBaselineWorkspace(ctx, t, root)
	out := &testutil.SyncBuffer{}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- Run(runCtx, Options{
			NodeDir: res.NodeDir, Feed: FeedReplay, ReplayFile: csv, Speed: 60,
			APIAddr: testutil.FreeAddr(t), SkipE2E: true, Watch: true,
			Getenv: func(string) string { return "" }, Out: out, ErrOut: &testutil.SyncBuffer{},
		})
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %q; output:\n%s", what, out.String())
			}
			select {
			case err := <-done:
				t.Fatalf("dev ended early (%v) waiting for %q; output:\n%s", err, what, out.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	waitFor("watch     watching")

	// Change one model's source (a comment changes nothing in the binary,
	// so change code: a different constant).
	src := filepath.Join(res.ChallengeDir, "examples", "trend_following", "main.go")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte("\n// watchTestMarker forces a new binary.\nvar watchTestMarker = \"changed\"\n\nfunc init() { _ = watchTestMarker }\n")...)
	later := time.Now().Add(2 * time.Second)
	if err := os.WriteFile(src, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(src, later, later)
	waitFor("watch     reloaded model trend-following")

	// A Python model is reloaded when one of its files changes.
	py := filepath.Join(res.ChallengeDir, "python", "examples", "mean_reversion", "model.py")
	b, err = os.ReadFile(py)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, []byte("\n# watch test: changed\n")...)
	if err := os.WriteFile(py, b, 0o644); err != nil {
		t.Fatal(err)
	}
	later = later.Add(time.Second)
	_ = os.Chtimes(py, later, later)
	waitFor("watch     reloaded python model py-mean-reversion")

	stop()
	if err := <-done; err != nil && !strings.Contains(err.Error(), "context canceled") {
		t.Fatalf("dev: %v", err)
	}
	text := out.String()
	for _, other := range []string{"reloaded challenge", "reloaded model mean-reversion", "reloaded model volatility-regime",
		"reloaded python model py-trend-following", "reloaded python model py-volatility-regime"} {
		if strings.Contains(text, other) {
			t.Fatalf("an unchanged plugin was reloaded (%q); output:\n%s", other, text)
		}
	}
}

func TestLockWorkspace(t *testing.T) {
	dir := t.TempDir()
	unlock, err := lockWorkspace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockWorkspace(dir); err == nil || !strings.Contains(err.Error(), "another `coordinator dev` is running") || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := lockWorkspace(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

// TestReplayTwiceStartsFresh: a second replay of the same window on the
// default store predicts again (fresh replay database) and a model added
// in between is verified on the leaderboard.
func TestReplayTwiceStartsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a workspace")
	}
	root := testutil.RepoRoot(t)
	csv := testutil.SharedCSV(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res := newBaselineWorkspace(ctx, t, root)
	until := time.Date(2023, 3, 1, 1, 0, 0, 0, time.UTC)
	now := time.Date(2026, 12, 6, 3, 0, 30, 0, time.UTC)
	run := func(shift bool) string {
		t.Helper()
		out := &testutil.SyncBuffer{}
		err := Run(ctx, Options{
			NodeDir: res.NodeDir, Feed: FeedReplay, ReplayFile: csv, Until: until, APIAddr: testutil.FreeAddr(t),
			ExitAfterVerify: true, Getenv: func(string) string { return "" }, Out: out, ErrOut: &testutil.SyncBuffer{},
			ShiftToNow: shift, Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatalf("dev: %v\n%s", err, out.String())
		}
		return out.String()
	}
	first := run(false)
	if !strings.Contains(first, "fresh for this replay") || !strings.Contains(first, "61 predict cycles") {
		t.Fatalf("first replay:\n%s", first)
	}
	// Add a fourth model (a copy of an example) between the two runs.
	models := filepath.Join(res.NodeDir, "config", "models.json")
	b, err := os.ReadFile(models)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "[", `[{"id": "trend-copy", "path": "../crunch-btc-up/examples/trend_following"},`, 1))
	if err := os.WriteFile(models, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The second run is also shifted so that its data ends now: the last
	// candle (01:00 in the file) closes at 03:00, stored in the replay
	// database only.
	second := run(true)
	if !strings.Contains(second, "61 predict cycles") || !strings.Contains(second, "trend-copy") || !strings.Contains(second, "verify    PASSED") {
		t.Fatalf("second replay did not start fresh with the new model:\n%s", second)
	}
	if !strings.Contains(second, "61 candles 2026-12-06T01:59:00Z to 2026-12-06T02:59:00Z") ||
		!strings.Contains(second, "the file's 2023-03-01T01:00:00Z is stored as 2026-12-06T02:59:00Z, in this replay's database only") {
		t.Fatalf("shifted replay summary:\n%s", second)
	}
	st, err := dburl.Open(ctx, "sqlite://"+layout.Of(res.NodeDir).ReplayDatabase())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	preds, err := st.ListPredictions(ctx, store.PredictionQuery{Limit: 1})
	if err != nil || len(preds) != 1 || preds[0].PerformedAt.Year() != 2026 {
		t.Fatalf("oldest stored prediction %v (%v), want one performed in 2026", preds, err)
	}
}

// newBaselineWorkspace scaffolds the baseline btc-up workspace into a
// temporary directory with go.work pointing at this checkout (root).
func newBaselineWorkspace(ctx context.Context, t *testing.T, root string) scaffold.Result {
	t.Helper()
	res, err := scaffold.Init(ctx, scaffold.Options{
		Request:   scaffold.Request{Name: "btc-up", Pack: "baseline"},
		OutputDir: t.TempDir(),
		SDK:       scaffold.SDKSource{SourceDir: root, Version: "devrun-test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}
