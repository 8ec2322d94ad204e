package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testCheckpoints(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	_, err := s.LatestCheckpoint(ctx, "emission")
	wantErrIs(t, err, store.ErrNotFound, "LatestCheckpoint on empty table")
	at := func(h int) *time.Time { v := base.Add(time.Duration(h) * time.Hour); return &v }
	// Saved out of order; the newest is the greatest last_run_at.
	for _, c := range []struct {
		id string
		h  int
	}{{"CKP_2", 2}, {"CKP_4", 4}, {"CKP_1", 1}, {"CKP_3", 3}} {
		must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: c.id, Kind: "emission", IntervalSeconds: 3600, LastRunAt: at(c.h), NextRunAt: at(c.h + 1),
			Meta:     json.RawMessage(fmt.Sprintf(`{"n":%d}`, c.h)),
			Emission: &store.EmissionCheckpoint{ID: "EMI_" + c.id, EmittedAt: *at(c.h), Payload: json.RawMessage(fmt.Sprintf(`[{"model_id":"m1","rank":1,"reward_pct":%d}]`, c.h))}}),
			"SaveCheckpoint "+c.id)
	}
	must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: "OTHER", Kind: "other", IntervalSeconds: 60, LastRunAt: at(10)}), "SaveCheckpoint other kind")

	c, err := s.LatestCheckpoint(ctx, "emission")
	must(t, err, "LatestCheckpoint")
	if c.ID != "CKP_4" || c.Kind != "emission" || c.IntervalSeconds != 3600 {
		t.Fatalf("LatestCheckpoint: expected CKP_4, got %+v", c)
	}
	wantJSON(t, "checkpoint meta", c.Meta, `{"n":4}`)
	if c.Emission == nil || c.Emission.ID != "EMI_CKP_4" || c.Emission.CheckpointID != "CKP_4" {
		t.Fatalf("LatestCheckpoint emission: expected EMI_CKP_4 of CKP_4, got %+v", c.Emission)
	}
	wantJSON(t, "emission payload", c.Emission.Payload, `[{"model_id":"m1","rank":1,"reward_pct":4}]`)
	wantTime(t, "next_run_at", *c.NextRunAt, *at(5))

	list, err := s.ListCheckpoints(ctx, "emission", 3)
	must(t, err, "ListCheckpoints")
	var got []string
	for _, c := range list {
		got = append(got, c.ID)
	}
	if !sameStrings(got, []string{"CKP_4", "CKP_3", "CKP_2"}) {
		t.Fatalf("ListCheckpoints(limit 3): expected the newest 3 newest first [CKP_4 CKP_3 CKP_2], got %v", got)
	}
	other, err := s.LatestCheckpoint(ctx, "other")
	must(t, err, "LatestCheckpoint other")
	if other.ID != "OTHER" || other.Emission != nil || other.NextRunAt != nil {
		t.Fatalf("checkpoint without emission/next run: got %+v", other)
	}
	wantJSON(t, "nil checkpoint meta stored as {}", other.Meta, `{}`)
	// Re-saving an id updates it (idempotent retry).
	must(t, s.SaveCheckpoint(ctx, store.Checkpoint{ID: "OTHER", Kind: "other", IntervalSeconds: 120, LastRunAt: at(11)}), "SaveCheckpoint again")
	other, err = s.LatestCheckpoint(ctx, "other")
	must(t, err, "LatestCheckpoint other again")
	if other.IntervalSeconds != 120 {
		t.Fatalf("re-saved checkpoint: expected interval 120, got %d", other.IntervalSeconds)
	}
	wantErrIs(t, s.SaveCheckpoint(ctx, store.Checkpoint{Kind: "k"}), store.ErrInvalidValue, "SaveCheckpoint with empty id")
}

func testCheckpointsInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	saveC := func(c store.Checkpoint) func() error { return func() error { return s.SaveCheckpoint(ctx, c) } }
	em := func(e store.EmissionCheckpoint) *store.EmissionCheckpoint { e.EmittedAt = base; return &e }
	runInvalid(t, []invalidCase{
		{"empty id", saveC(store.Checkpoint{Kind: "k"})},
		{"empty kind", saveC(store.Checkpoint{ID: "CKP_X"})},
		{"negative interval", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", IntervalSeconds: -1})},
		{"interval above int32", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", IntervalSeconds: math.MaxInt32 + 1})},
		{"meta overflowing number", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", Meta: json.RawMessage(`{"v":1e999}`)})},
		{"payload Infinity", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", Emission: em(store.EmissionCheckpoint{ID: "E", Payload: json.RawMessage(`{"x":Infinity}`)})})},
		{"payload NUL escape", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", Emission: em(store.EmissionCheckpoint{ID: "E", Payload: json.RawMessage(`{"v":"\u0000"}`)})})},
		{"emission without id", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", Emission: em(store.EmissionCheckpoint{})})},
		{"emission of another checkpoint", saveC(store.Checkpoint{ID: "CKP_X", Kind: "k", Emission: em(store.EmissionCheckpoint{ID: "E", CheckpointID: "CKP_OTHER"})})},
		{"list with negative limit", func() error { _, err := s.ListCheckpoints(ctx, "k", -1); return err }},
	})
	if cs, err := s.ListCheckpoints(ctx, "k", 0); err != nil || len(cs) != 0 {
		t.Errorf("refused checkpoints must not be written: %d (%v)", len(cs), err)
	}
	if cs, err := s.ListCheckpoints(ctx, "", 0); err != nil || len(cs) != 0 {
		t.Errorf("refused checkpoints must not be written: %d (%v)", len(cs), err)
	}
}
