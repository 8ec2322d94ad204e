package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
	"github.com/crunch-coordinator/coordinator/internal/store/storetest"
)

// opener returns the storetest open function: one database file per test
// (per *testing.T), a new Store (own pools) on it per call.
func opener() func(t *testing.T) store.Store {
	var mu sync.Mutex
	paths := map[*testing.T]string{}
	return func(t *testing.T) store.Store {
		t.Helper()
		mu.Lock()
		p, ok := paths[t]
		if !ok {
			p = filepath.Join(t.TempDir(), "coordinator.db")
			paths[t] = p
		}
		mu.Unlock()
		s, err := sqlite.Open(context.Background(), p)
		if err != nil {
			t.Fatalf("sqlite.Open(%q): %v", p, err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, opener())
}

func TestOpenBadPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, mention string
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "db.sqlite"), filepath.Join(dir, "no", "such", "dir")},
		{"parent is a file", filepath.Join(file, "db.sqlite"), file},
		{"empty", "", "empty"},
		{"memory", ":memory:", ":memory:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), c.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): expected an error, got nil", c.path)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("Open(%q): error %q does not name %q", c.path, err, c.mention)
			}
		})
	}
	if os.Geteuid() != 0 {
		t.Run("read-only directory", func(t *testing.T) {
			ro := filepath.Join(dir, "ro")
			if err := os.Mkdir(ro, 0o555); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(ro, "db.sqlite")
			s, err := sqlite.Open(context.Background(), p)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) in a read-only directory: expected an error", p)
			}
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q does not name %q", err, p)
			}
		})
	}
}

func TestOpenDoesNotMigrate(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "fresh.db")
	s, err := sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cur, exp, err := s.SchemaVersion(ctx)
	if err != nil || cur != 0 || exp < 1 {
		t.Fatalf("fresh SchemaVersion: expected 0 and >=1, got %d %d %v", cur, exp, err)
	}
	if _, err := s.CountPredictions(ctx, ""); !errors.Is(err, store.ErrNotMigrated) {
		t.Fatalf("CountPredictions before Migrate: expected ErrNotMigrated, got %v", err)
	}
	// Another Store migrates; this one notices without reopening.
	s2, err := sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountPredictions(ctx, ""); err != nil {
		t.Fatalf("CountPredictions after another Store migrated: %v", err)
	}
	if s.Backend() != "sqlite" || s.Path() != p {
		t.Fatalf("Backend/Path: got %q %q", s.Backend(), s.Path())
	}
}

// TestMigratePartialSchema: a database whose tables already exist (e.g.
// created by hand or by an interrupted run) but without goose's version
// table migrates without error and keeps its rows.
func TestMigratePartialSchema(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "partial.db")
	s, err := sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertModels(ctx, []store.Model{{ID: "m1", Name: "n"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := sqlite.DropVersionTable(p); err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if cur, _, _ := s.SchemaVersion(ctx); cur != 0 {
		t.Fatalf("after dropping the version table: expected version 0, got %d", cur)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate over existing tables: %v", err)
	}
	ms, err := s.ListModels(ctx)
	if err != nil || len(ms) != 1 {
		t.Fatalf("rows must survive: %v %v", ms, err)
	}
}

// TestMigrateRollupsBackfill: migration 9 fills score_rollups from the
// predictions scored before it (storetest.RollupBackfill).
func TestMigrateRollupsBackfill(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "backfill.db")
	s, err := sqlite.Open(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.RollupBackfill(t, s, func(t *testing.T) {
		if err := sqlite.DropRollups(p); err != nil {
			t.Fatal(err)
		}
	})
}
