package node_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// TestE2EReplayLeaderboardAlongside: a full-speed replay whose hourly
// leaderboard rebuilds run alongside the next block stores the same
// leaderboards (every rebuild's score points, the last snapshot) as one
// that runs them in turn, on SQLite and PostgreSQL.
func TestE2EReplayLeaderboardAlongside(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end replay with real plugins (slow); run without -short")
	}
	root := testutil.RepoRoot(t)
	rp, err := replay.Open(filepath.Join(filepath.Dir(root), "shared", "data", e2eCSV), "BTC")
	if err != nil {
		t.Fatal(err)
	}
	nodeDir, challengeBin, bins := buildBaselineGoWorkspace(t, root)
	from := rp.First()
	until := from.Add(26*time.Hour - rp.Step()) // the 24 h window fills, then moves
	open := map[string]func(t *testing.T, name string) store.Store{
		"sqlite": func(t *testing.T, name string) store.Store {
			return openStore(t, "sqlite://"+filepath.Join(t.TempDir(), name+".db"))
		},
		"postgres": func(t *testing.T, name string) store.Store {
			base := os.Getenv("TEST_DATABASE_URL")
			if base == "" {
				t.Skip("TEST_DATABASE_URL is unset; skipping the PostgreSQL case")
			}
			return openStore(t, testutil.ScratchDatabaseAt(t, base, "coordinator_"+name))
		},
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			run := func(alongside bool, name string) ([]store.ModelScore, store.Leaderboard) {
				defer node.SetLeaderboardAlongside(alongside)()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				st := open[backend](t, name)
				n, sim := startBaselineNode(t, ctx, nodeDir, challengeBin, bins, rp, st, from)
				p, err := n.Replay(ctx, rp, sim, node.ReplayOptions{From: from, Until: until})
				if err != nil || p.CycleErrors > 0 || p.Scored == 0 {
					t.Fatalf("replay (alongside %v): %+v, %v", alongside, p, err)
				}
				hist, err := st.ModelScoreHistory(ctx, nil, from, until.Add(time.Hour), 100000)
				if err != nil {
					t.Fatal(err)
				}
				lb, err := st.LatestLeaderboard(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return hist, lb
			}
			seqHist, seqLB := run(false, "lb_sequential")
			hist, lb := run(true, "lb_alongside")
			if len(seqHist) < 26*len(bins) {
				t.Fatalf("expected a score point per model per hourly rebuild, found %d points", len(seqHist))
			}
			if len(hist) != len(seqHist) {
				t.Fatalf("alongside: %d score points, in turn: %d", len(hist), len(seqHist))
			}
			for i := range hist {
				a, b := hist[i], seqHist[i]
				if a.ModelID != b.ModelID || !a.ComputedAt.Equal(b.ComputedAt) || !bytes.Equal(a.Score, b.Score) {
					t.Fatalf("score point %d: alongside %s %s %s, in turn %s %s %s", i, a.ModelID, a.ComputedAt, a.Score, b.ModelID, b.ComputedAt, b.Score)
				}
			}
			if lb.ID != seqLB.ID || !bytes.Equal(lb.Entries, seqLB.Entries) {
				t.Fatalf("last leaderboard: alongside %s %s, in turn %s %s", lb.ID, lb.Entries, seqLB.ID, seqLB.Entries)
			}
		})
	}
}
