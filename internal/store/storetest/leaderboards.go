package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testLeaderboards(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	_, err := s.LatestLeaderboard(ctx)
	wantErrIs(t, err, store.ErrNotFound, "LatestLeaderboard on empty table")
	must(t, s.UpsertModels(ctx, []store.Model{model("m1"), model("m2")}), "UpsertModels")

	// Saved out of order: the newest created_at wins, not the last insert.
	for _, c := range []struct {
		id  string
		off int
	}{{"LBR_B", 2}, {"LBR_C", 3}, {"LBR_A", 1}} {
		at := base.Add(time.Duration(c.off) * time.Hour)
		entries := json.RawMessage(fmt.Sprintf(`[{"rank":1,"model_id":"m1","score":{"value":%d}}]`, c.off))
		scores := []store.ModelScore{
			{ID: "MS_" + c.id + "_m1", ModelID: "m1", Score: json.RawMessage(fmt.Sprintf(`{"value":%d}`, c.off)), ComputedAt: at},
			{ID: "MS_" + c.id + "_m2", ModelID: "m2", Score: json.RawMessage(`{"value":0}`), ComputedAt: at},
		}
		must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: c.id, CreatedAt: at, Entries: entries, Meta: json.RawMessage(`{"generated_by":"test"}`)}, scores), "SaveLeaderboard "+c.id)
	}
	lb, err := s.LatestLeaderboard(ctx)
	must(t, err, "LatestLeaderboard")
	if lb.ID != "LBR_C" {
		t.Fatalf("LatestLeaderboard: expected the newest LBR_C, got %s", lb.ID)
	}
	wantTime(t, "leaderboard created_at", lb.CreatedAt, base.Add(3*time.Hour))
	wantJSON(t, "entries", lb.Entries, `[{"rank":1,"model_id":"m1","score":{"value":3}}]`)
	wantJSON(t, "meta", lb.Meta, `{"generated_by":"test"}`)
	// Saving the same id again (a retried rebuild) is idempotent.
	must(t, s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_C", CreatedAt: base.Add(3 * time.Hour), Entries: json.RawMessage(`[]`)}, nil), "SaveLeaderboard retry")

	hcases := []struct {
		name     string
		models   []string
		from, to time.Time
		limit    int
		want     []string
	}{
		{"all", nil, base, base.Add(5 * time.Hour), 0, []string{"MS_LBR_A_m1", "MS_LBR_A_m2", "MS_LBR_B_m1", "MS_LBR_B_m2", "MS_LBR_C_m1", "MS_LBR_C_m2"}},
		{"one model", []string{"m2"}, base, base.Add(5 * time.Hour), 0, []string{"MS_LBR_A_m2", "MS_LBR_B_m2", "MS_LBR_C_m2"}},
		{"inclusive window", nil, base.Add(2 * time.Hour), base.Add(3 * time.Hour), 0, []string{"MS_LBR_B_m1", "MS_LBR_B_m2", "MS_LBR_C_m1", "MS_LBR_C_m2"}},
		{"limit", []string{"m1"}, base, base.Add(5 * time.Hour), 2, []string{"MS_LBR_A_m1", "MS_LBR_B_m1"}},
		{"none", []string{"nobody"}, base, base.Add(5 * time.Hour), 0, nil},
	}
	for _, c := range hcases {
		t.Run(c.name, func(t *testing.T) {
			h, err := s.ModelScoreHistory(ctx, c.models, c.from, c.to, c.limit)
			must(t, err, "ModelScoreHistory")
			var got []string
			for _, p := range h {
				got = append(got, p.ID)
			}
			if !sameStrings(got, c.want) {
				t.Fatalf("ModelScoreHistory: expected %v, got %v", c.want, got)
			}
		})
	}
	// A score of an unknown model fails and the leaderboard of that call is not written.
	err = s.SaveLeaderboard(ctx, store.Leaderboard{ID: "LBR_Z", CreatedAt: base.Add(9 * time.Hour)}, []store.ModelScore{{ID: "MS_Z", ModelID: "nobody", ComputedAt: base}})
	if err == nil {
		t.Fatalf("SaveLeaderboard with a score of an unknown model: expected an error, got nil")
	}
	lb, err = s.LatestLeaderboard(ctx)
	must(t, err, "LatestLeaderboard after failed save")
	if lb.ID != "LBR_C" {
		t.Fatalf("failed SaveLeaderboard must not write the snapshot: latest is %s", lb.ID)
	}
}

func testLeaderboardsInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	saveLB := func(lb store.Leaderboard, scores ...store.ModelScore) func() error {
		return func() error { return s.SaveLeaderboard(ctx, lb, scores) }
	}
	okScore := store.ModelScore{ID: "MS_OK", ModelID: "m1", ComputedAt: base}
	runInvalid(t, []invalidCase{
		{"empty id", saveLB(store.Leaderboard{CreatedAt: base})},
		{"entries NaN", saveLB(store.Leaderboard{ID: "LBR_X", CreatedAt: base, Entries: json.RawMessage(`[{"score":NaN}]`)})},
		{"entries overflowing number", saveLB(store.Leaderboard{ID: "LBR_X", CreatedAt: base, Entries: json.RawMessage(`[{"score":1e999}]`)})},
		{"meta NUL escape", saveLB(store.Leaderboard{ID: "LBR_X", CreatedAt: base, Meta: json.RawMessage(`{"v":"\u0000"}`)})},
		{"model score Infinity", saveLB(store.Leaderboard{ID: "LBR_Y", CreatedAt: base}, okScore, store.ModelScore{ID: "MS_Y", ModelID: "m1", Score: json.RawMessage(`{"x":Infinity}`), ComputedAt: base})},
		{"model score empty id", saveLB(store.Leaderboard{ID: "LBR_Y", CreatedAt: base}, okScore, store.ModelScore{ModelID: "m1", ComputedAt: base})},
		{"model score empty model id", saveLB(store.Leaderboard{ID: "LBR_Y", CreatedAt: base}, okScore, store.ModelScore{ID: "MS_Y", ComputedAt: base})},
		{"model score of unknown model", saveLB(store.Leaderboard{ID: "LBR_Y", CreatedAt: base}, okScore, store.ModelScore{ID: "MS_Y", ModelID: "nobody", ComputedAt: base})},
		{"history with negative limit", func() error {
			_, err := s.ModelScoreHistory(ctx, nil, time.Time{}, time.Time{}, -1)
			return err
		}},
	})
	if _, err := s.LatestLeaderboard(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused leaderboards must not be written: expected ErrNotFound, got %v", err)
	}
	if h, err := s.ModelScoreHistory(ctx, nil, time.Time{}, time.Time{}, 0); err != nil || len(h) != 0 {
		t.Errorf("refused model scores must not be written: %d (%v)", len(h), err)
	}
}
