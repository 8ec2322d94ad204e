package storetest

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testSchedules(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	rows := []store.ScheduleRow{
		{ID: "CFG_002", ScopeKey: "ETH-60-60", ScopeTemplate: json.RawMessage(`{"asset":"ETH"}`), Schedule: json.RawMessage(`{"prediction_interval_seconds":60,"resolve_after_seconds":60}`), Active: true, Order: 2},
		{ID: "CFG_001", ScopeKey: "BTC-60-60", ScopeTemplate: json.RawMessage(`{"asset":"BTC","horizon":60,"step":60}`), Schedule: json.RawMessage(`{"prediction_interval_seconds":60,"resolve_after_seconds":60}`), Active: true, Order: 1},
		{ID: "CFG_000", ScopeKey: "SOL", Active: true, Order: 2},
	}
	must(t, s.ReplaceSchedules(ctx, rows), "ReplaceSchedules")
	got, err := s.ListSchedules(ctx, false)
	must(t, err, "ListSchedules")
	var gotIDs []string
	for _, r := range got {
		gotIDs = append(gotIDs, r.ID)
	}
	if !sameStrings(gotIDs, []string{"CFG_001", "CFG_000", "CFG_002"}) {
		t.Fatalf("ListSchedules: expected order by order then id [CFG_001 CFG_000 CFG_002], got %v", gotIDs)
	}
	wantJSON(t, "scope template", got[0].ScopeTemplate, `{"asset":"BTC","horizon":60,"step":60}`)
	wantJSON(t, "schedule", got[0].Schedule, `{"prediction_interval_seconds":60,"resolve_after_seconds":60}`)
	wantJSON(t, "nil template stored as {}", got[1].ScopeTemplate, `{}`)
	if got[0].ScopeKey != "BTC-60-60" || !got[0].Active || got[0].Order != 1 {
		t.Errorf("schedule row fields not round-tripped: %+v", got[0])
	}

	// Replace with a subset: missing rows are deactivated, never deleted.
	rows2 := []store.ScheduleRow{{ID: "CFG_001", ScopeKey: "BTC-60-60b", ScopeTemplate: json.RawMessage(`{"asset":"BTC"}`), Schedule: json.RawMessage(`{}`), Active: true, Order: 5}}
	must(t, s.ReplaceSchedules(ctx, rows2), "ReplaceSchedules subset")
	active, err := s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules active")
	if len(active) != 1 || active[0].ID != "CFG_001" || active[0].ScopeKey != "BTC-60-60b" || active[0].Order != 5 {
		t.Fatalf("ListSchedules(active) after replace: expected only updated CFG_001, got %+v", active)
	}
	all, err := s.ListSchedules(ctx, false)
	must(t, err, "ListSchedules all")
	if len(all) != 3 {
		t.Fatalf("ReplaceSchedules must deactivate, not delete: expected 3 rows, got %d", len(all))
	}
	for _, r := range all {
		if r.ID != "CFG_001" && r.Active {
			t.Errorf("row %s should have been deactivated", r.ID)
		}
	}
	// Reactivation by listing it again.
	must(t, s.ReplaceSchedules(ctx, append(rows2, rows[0])), "ReplaceSchedules reactivate")
	active, err = s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules active after reactivation")
	if len(active) != 2 {
		t.Fatalf("expected 2 active rows after reactivation, got %d", len(active))
	}
	wantErrIs(t, s.ReplaceSchedules(ctx, []store.ScheduleRow{{ScopeKey: "x"}}), store.ErrInvalidValue, "ReplaceSchedules with empty id")
	// The failed call changed nothing.
	active, err = s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules after failed replace")
	if len(active) != 2 {
		t.Fatalf("failed ReplaceSchedules must not write: expected 2 active rows, got %d", len(active))
	}
	// Empty replacement deactivates everything.
	must(t, s.ReplaceSchedules(ctx, nil), "ReplaceSchedules(nil)")
	active, err = s.ListSchedules(ctx, true)
	must(t, err, "ListSchedules after empty replace")
	if len(active) != 0 {
		t.Fatalf("ReplaceSchedules(nil): expected no active rows, got %d", len(active))
	}
}

func testSchedulesInvalid(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := migrated(t, open)
	ok := store.ScheduleRow{ID: "CFG_OK", ScopeKey: "k", Active: true}
	replace := func(r store.ScheduleRow) func() error {
		return func() error { return s.ReplaceSchedules(ctx, []store.ScheduleRow{ok, r}) }
	}
	runInvalid(t, []invalidCase{
		{"empty id", replace(store.ScheduleRow{ScopeKey: "k"})},
		{"schedule NaN", replace(store.ScheduleRow{ID: "CFG_X", ScopeKey: "k", Schedule: json.RawMessage(`{"every_seconds":NaN}`)})},
		{"scope template overflowing number", replace(store.ScheduleRow{ID: "CFG_X", ScopeKey: "k", ScopeTemplate: json.RawMessage(`{"v":1e999}`)})},
		{"meta NUL escape", replace(store.ScheduleRow{ID: "CFG_X", ScopeKey: "k", Meta: json.RawMessage(`{"v":"\u0000"}`)})},
		{"order above int32", replace(store.ScheduleRow{ID: "CFG_X", ScopeKey: "k", Order: math.MaxInt32 + 1})},
		{"order below int32", replace(store.ScheduleRow{ID: "CFG_X", ScopeKey: "k", Order: math.MinInt32 - 1})},
	})
	if rows, err := s.ListSchedules(ctx, false); err != nil || len(rows) != 0 {
		t.Errorf("refused schedules must not be written: %+v (%v)", rows, err)
	}
}
