package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testModels(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	created := base.Add(-time.Hour)
	m2 := model("m2")
	m2.Meta = json.RawMessage(`{"team":"β","n":12345678901234567890}`)
	m2.CreatedAt, m2.UpdatedAt = created, created
	m1 := model("m1")
	m1.CreatedAt, m1.UpdatedAt = created, created
	must(t, s.UpsertModels(ctx, []store.Model{m2, m1}), "UpsertModels")

	ms, err := s.ListModels(ctx)
	must(t, err, "ListModels")
	if got := []string{}; true {
		for _, m := range ms {
			got = append(got, m.ID)
		}
		if !sameStrings(got, []string{"m1", "m2"}) {
			t.Fatalf("ListModels: expected ids [m1 m2] ordered by id, got %v", got)
		}
	}
	if ms[0].Name != "name-m1" || ms[0].DeploymentID != "dep-m1" || ms[0].PlayerID != "player-m1" || ms[0].PlayerName != "Player m1" {
		t.Errorf("ListModels: fields not round-tripped: %+v", ms[0])
	}
	wantJSON(t, "model m1 nil meta", ms[0].Meta, `{}`)
	wantJSON(t, "model m2 meta", ms[1].Meta, `{"team":"β","n":12345678901234567890}`)
	wantTime(t, "model created_at", ms[1].CreatedAt, created)

	// Update: fields overwritten, created_at kept, meta kept when not given.
	upd := model("m2")
	upd.Name = "renamed"
	upd.PlayerName = "New Player"
	upd.CreatedAt = base // must be ignored on update
	upd.UpdatedAt = base
	must(t, s.UpsertModels(ctx, []store.Model{upd}), "UpsertModels update")
	ms, err = s.ListModels(ctx)
	must(t, err, "ListModels after update")
	if len(ms) != 2 {
		t.Fatalf("ListModels after update: expected 2 models, got %d", len(ms))
	}
	got := ms[1]
	if got.Name != "renamed" || got.PlayerName != "New Player" {
		t.Errorf("update: expected name renamed / player New Player, got %q / %q", got.Name, got.PlayerName)
	}
	wantTime(t, "created_at kept on update", got.CreatedAt, created)
	wantTime(t, "updated_at on update", got.UpdatedAt, base)
	wantJSON(t, "meta kept when update has nil Meta", got.Meta, `{"team":"β","n":12345678901234567890}`)

	// Empty id refused.
	wantErrIs(t, s.UpsertModels(ctx, []store.Model{{Name: "x"}}), store.ErrInvalidValue, "UpsertModels with empty id")
	// An empty batch is fine.
	must(t, s.UpsertModels(ctx, nil), "UpsertModels(nil)")
}

func testModelsInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	upsert := func(m store.Model) func() error {
		return func() error { return s.UpsertModels(ctx, []store.Model{model("ok"), m}) }
	}
	withMeta := func(meta string) store.Model { m := model("m9"); m.Meta = json.RawMessage(meta); return m }
	runInvalid(t, []invalidCase{
		{"empty id", upsert(model(""))},
		{"meta NaN", upsert(withMeta(`{"x":NaN}`))},
		{"meta Infinity", upsert(withMeta(`{"x":-Infinity}`))},
		{"meta overflowing number", upsert(withMeta(`{"v":1e999}`))},
		{"meta NUL escape", upsert(withMeta(`{"v":"a\u0000b"}`))},
		{"meta truncated", upsert(withMeta(`{"x":`))},
		{"through SavePredictCycle", func() error {
			_, err := s.SavePredictCycle(ctx, []store.Model{model("ok"), withMeta(`{"v":1e999}`)}, nil)
			return err
		}},
	})
	if ms, err := s.ListModels(ctx); err != nil || len(ms) != 0 {
		t.Errorf("refused models must not be written (not even the valid one of the batch): %+v (%v)", ms, err)
	}
}
