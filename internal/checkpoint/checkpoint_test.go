package checkpoint_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/checkpoint"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"github.com/crunch-coordinator/coordinator/sdk"
)

func sum(v []uint64) uint64 {
	var s uint64
	for _, x := range v {
		s += x
	}
	return s
}

func TestRewardShares(t *testing.T) {
	tests := []struct {
		n    int
		want []uint64
	}{
		{0, []uint64{}},
		{1, []uint64{1_000_000_000}},
		// 35+10+10 = 55 %; remainder 45 % split in three (15 % each).
		{3, []uint64{500_000_000, 250_000_000, 250_000_000}},
		// 35+40+5+5 = 85 %; remainder 15 % / 7 = 21428571 each, 3 left over to rank 1.
		{7, []uint64{371_428_574, 121_428_571, 121_428_571, 121_428_571, 121_428_571, 71_428_571, 71_428_571}},
		{10, []uint64{350_000_000, 100_000_000, 100_000_000, 100_000_000, 100_000_000, 50_000_000, 50_000_000, 50_000_000, 50_000_000, 50_000_000}},
		// Ranks beyond 10 get 0: the tiers already distribute 100 %.
		{12, []uint64{350_000_000, 100_000_000, 100_000_000, 100_000_000, 100_000_000, 50_000_000, 50_000_000, 50_000_000, 50_000_000, 50_000_000, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			got := checkpoint.RewardShares(tc.n)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("RewardShares(%d) = %v, want %v", tc.n, got, tc.want)
			}
			if tc.n > 0 && sum(got) != checkpoint.Frac64One {
				t.Fatalf("shares sum to %d, want %d", sum(got), checkpoint.Frac64One)
			}
		})
	}
	for n := 1; n <= 40; n++ {
		if s := sum(checkpoint.RewardShares(n)); s != checkpoint.Frac64One {
			t.Fatalf("RewardShares(%d) sums to %d", n, s)
		}
	}
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := dburl.Open(ctx, "sqlite://"+t.TempDir()+"/x.db")
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

func entry(id string, rank int, v *float64) sdk.LeaderboardEntry {
	return sdk.LeaderboardEntry{ModelID: id, Rank: rank, ModelName: id,
		Score: sdk.ScoreEnvelope{Metrics: map[string]*float64{"anchor": v}, Ranking: sdk.Ranking{Key: "anchor", Direction: sdk.DirectionDesc}}}
}

func saveLeaderboard(t *testing.T, st store.Store, at time.Time) {
	t.Helper()
	a, b := 0.9, 0.7
	entries, err := json.Marshal([]sdk.LeaderboardEntry{entry("a", 1, &a), entry("b", 2, &b), entry("c", 3, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveLeaderboard(context.Background(), store.Leaderboard{ID: "LBR_" + at.Format(time.RFC3339), CreatedAt: at, Entries: entries}, nil); err != nil {
		t.Fatalf("save leaderboard: %v", err)
	}
}

func TestCheckpointCadenceAndPayload(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	start := time.Date(2026, 3, 1, 10, 20, 0, 0, time.UTC)
	clk := clock.NewSimulated(start)
	newWorker := func() *checkpoint.Worker {
		w, err := checkpoint.New(checkpoint.Config{Store: st, Clock: clk, Interval: time.Hour})
		if err != nil {
			t.Fatalf("new worker: %v", err)
		}
		return w
	}
	w := newWorker()

	// No leaderboard yet: nothing written.
	res, err := w.RunOnce(ctx)
	if err != nil || res.Written || res.SkipReason != "no leaderboard yet" {
		t.Fatalf("without leaderboard: %+v %v", res, err)
	}
	saveLeaderboard(t, st, start)
	res, err = w.RunOnce(ctx)
	if err != nil || !res.Written {
		t.Fatalf("first checkpoint: %+v %v", res, err)
	}
	c, err := st.LatestCheckpoint(ctx, checkpoint.Kind)
	if err != nil {
		t.Fatalf("latest checkpoint: %v", err)
	}
	if c.ID != "CKP_20260301T100000Z" || c.IntervalSeconds != 3600 || !c.LastRunAt.Equal(start) ||
		!c.NextRunAt.Equal(time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("checkpoint = %+v", c)
	}
	var meta struct {
		ModelCount int              `json:"model_count"`
		Ranking    []map[string]any `json:"ranking"`
	}
	if err := json.Unmarshal(c.Meta, &meta); err != nil || meta.ModelCount != 3 || len(meta.Ranking) != 3 {
		t.Fatalf("meta = %s (%v)", c.Meta, err)
	}
	if c.Emission == nil {
		t.Fatalf("checkpoint has no emission")
	}
	var p checkpoint.Payload
	if err := json.Unmarshal(c.Emission.Payload, &p); err != nil {
		t.Fatalf("payload %s: %v", c.Emission.Payload, err)
	}
	var total uint64
	for _, r := range p.CruncherRewards {
		total += r.RewardPct
	}
	// Two scored models: 35 % + 10 %, remainder 55 % split in two.
	if total != checkpoint.Frac64One || p.CruncherRewards[0].RewardPct != 625_000_000 || p.CruncherRewards[1].RewardPct != 375_000_000 || p.CruncherRewards[2].RewardPct != 0 {
		t.Fatalf("rewards = %+v (sum %d)", p.CruncherRewards, total)
	}
	if len(p.Leaderboard) != 3 || p.Leaderboard[0].ModelID != "a" {
		t.Fatalf("payload leaderboard = %+v", p.Leaderboard)
	}

	// Later in the same period, and after a restart: not due, no duplicate.
	clk.Set(start.Add(30 * time.Minute))
	if res, err := newWorker().RunOnce(ctx); err != nil || res.Written || res.SkipReason != "not due" {
		t.Fatalf("restart in the same period: %+v %v", res, err)
	}
	// Next period: due.
	clk.Set(time.Date(2026, 3, 1, 11, 0, 5, 0, time.UTC))
	if res, err := w.RunOnce(ctx); err != nil || !res.Written || res.Checkpoint.ID != "CKP_20260301T110000Z" {
		t.Fatalf("next period: %+v %v", res, err)
	}
	// Down for three periods: one checkpoint, not back-filled.
	clk.Set(time.Date(2026, 3, 1, 14, 10, 0, 0, time.UTC))
	if res, err := w.RunOnce(ctx); err != nil || !res.Written || res.Checkpoint.ID != "CKP_20260301T140000Z" {
		t.Fatalf("after downtime: %+v %v", res, err)
	}
	all, err := st.ListCheckpoints(ctx, checkpoint.Kind, 100)
	if err != nil || len(all) != 3 {
		t.Fatalf("checkpoints = %d (%v), want 3", len(all), err)
	}
}

func TestRewardsSkipUnscoredAndRanksBeyondTen(t *testing.T) {
	var entries []sdk.LeaderboardEntry
	for i := 1; i <= 12; i++ {
		v := float64(100 - i)
		entries = append(entries, entry(fmt.Sprintf("m%02d", i), i, &v))
	}
	entries = append(entries, entry("none", 13, nil))
	rewards, undistributed := checkpoint.Rewards(entries)
	if undistributed != 0 {
		t.Fatalf("undistributed = %d", undistributed)
	}
	var total uint64
	for _, r := range rewards {
		total += r.RewardPct
	}
	if total != checkpoint.Frac64One {
		t.Fatalf("sum = %d", total)
	}
	if rewards[10].RewardPct != 0 || rewards[10].Note == "" || rewards[12].RewardPct != 0 || rewards[12].Note == "" {
		t.Fatalf("rank 11 / unscored rewards = %+v %+v", rewards[10], rewards[12])
	}
}

func TestRewardsTiesShareEqually(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	tests := []struct {
		name          string
		ranks         []int
		want          []uint64 // per entry, in order
		undistributed uint64
	}{
		{"no tie", []int{1, 2, 3}, []uint64{500_000_000, 250_000_000, 250_000_000}, 0},
		// two models: 35 % + 10 % + 55 % split = 62.5 % and 37.5 %; twins pool them.
		{"twins on top", []int{1, 1}, []uint64{500_000_000, 500_000_000}, 0},
		// four models: 35, 10, 10, 10 % plus 8.75 % each of the remaining 35 %.
		{"twins in the middle (1, 2, 2, 4)", []int{1, 2, 2, 4}, []uint64{437_500_000, 187_500_000, 187_500_000, 187_500_000}, 0},
		// three-way tie at the top of four: pool 43.75 + 18.75 + 18.75 %; the
		// unit that does not divide by 3 goes to the untied model.
		{"three-way tie, remainder to the untied model", []int{1, 1, 1, 4}, []uint64{270_833_333, 270_833_333, 270_833_333, 187_500_001}, 0},
		// everyone tied in a group of 3: 1e9 does not divide by 3.
		{"all three tied", []int{1, 1, 1}, []uint64{333_333_333, 333_333_333, 333_333_333}, 1},
		{"seven tied", []int{1, 1, 1, 1, 1, 1, 1}, []uint64{142_857_142, 142_857_142, 142_857_142, 142_857_142, 142_857_142, 142_857_142, 142_857_142}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries []sdk.LeaderboardEntry
			for i, r := range tt.ranks {
				// the value is the same for tied entries; ids sort against the order
				entries = append(entries, entry(fmt.Sprintf("z%02d", 99-i), r, v(float64(100-r))))
			}
			rewards, undistributed := checkpoint.Rewards(entries)
			var total uint64
			for i, r := range rewards {
				total += r.RewardPct
				if r.RewardPct != tt.want[i] {
					t.Errorf("entry %d (rank %d) share %d, want %d", i, tt.ranks[i], r.RewardPct, tt.want[i])
				}
			}
			if undistributed != tt.undistributed || total+undistributed != checkpoint.Frac64One {
				t.Fatalf("sum %d + undistributed %d (want %d), want %d in all", total, undistributed, tt.undistributed, checkpoint.Frac64One)
			}
		})
	}
}
