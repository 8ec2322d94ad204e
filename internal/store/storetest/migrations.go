package storetest

import (
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

func testSchema(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := ctxT(t)
	s := open(t)
	cur, exp, err := s.SchemaVersion(ctx)
	must(t, err, "SchemaVersion on a fresh database")
	if cur != 0 {
		t.Fatalf("SchemaVersion on a fresh database: expected current 0, got %d", cur)
	}
	if exp <= 0 {
		t.Fatalf("SchemaVersion: expected a positive expected version, got %d", exp)
	}
	// Data methods on an unmigrated database must say so (Open never migrates).
	_, err = s.ListModels(ctx)
	wantErrIs(t, err, store.ErrNotMigrated, "ListModels before Migrate")
	_, err = s.SavePredictCycle(ctx, []store.Model{model("m1")}, nil)
	wantErrIs(t, err, store.ErrNotMigrated, "SavePredictCycle before Migrate")
	_, err = s.LatestLeaderboard(ctx)
	wantErrIs(t, err, store.ErrNotMigrated, "LatestLeaderboard before Migrate")
	_, err = s.QueryMarketRecords(ctx, store.MarketQuery{})
	wantErrIs(t, err, store.ErrNotMigrated, "QueryMarketRecords before Migrate")

	must(t, s.Migrate(ctx), "Migrate")
	cur, exp2, err := s.SchemaVersion(ctx)
	must(t, err, "SchemaVersion after Migrate")
	if cur != exp || exp2 != exp {
		t.Fatalf("SchemaVersion after Migrate: expected current == expected == %d, got current %d expected %d", exp, cur, exp2)
	}
	// Idempotent: a second Migrate (same or another Store) changes nothing
	// and keeps data.
	must(t, s.UpsertModels(ctx, []store.Model{model("m1")}), "UpsertModels")
	must(t, s.Migrate(ctx), "second Migrate")
	s2 := open(t)
	must(t, s2.Migrate(ctx), "Migrate from a second Store")
	cur, _, err = s2.SchemaVersion(ctx)
	must(t, err, "SchemaVersion from a second Store")
	if cur != exp {
		t.Fatalf("SchemaVersion after re-migrating: expected %d, got %d", exp, cur)
	}
	ms, err := s2.ListModels(ctx)
	must(t, err, "ListModels after re-migrating")
	if len(ms) != 1 || ms[0].ID != "m1" {
		t.Fatalf("re-migrating must keep data: expected model m1, got %+v", ms)
	}
}

func testBackendPing(t *testing.T, open func(t *testing.T) store.Store) {
	s := migrated(t, open)
	if b := s.Backend(); b != "postgres" && b != "sqlite" {
		t.Fatalf("Backend: expected postgres or sqlite, got %q", b)
	}
	must(t, s.Ping(ctxT(t)), "Ping")
}
