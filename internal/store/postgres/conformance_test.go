package postgres

import (
	"sync"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/storetest"
	"github.com/crunch-coordinator/coordinator/internal/testutil"
)

// TestConformance runs the shared storage conformance suite with a fresh
// schema per subtest (search_path in the URL); a second open with the same t returns a second
// Store (its own pool) on the same database.
func TestConformance(t *testing.T) {
	testutil.TestDatabaseURL(t)
	var mu sync.Mutex
	dbs := map[*testing.T]string{}
	storetest.Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		dbURL, ok := dbs[t]
		if !ok {
			dbURL = newSchema(t)
			dbs[t] = dbURL
		}
		mu.Unlock()
		return openDB(t, dbURL)
	})
}

// TestMigrateRollupsBackfill: 00009_score_rollups.sql fills score_rollups
// from the predictions scored before it (storetest.RollupBackfill); the
// scores are moved back into predictions (00019's Down), the version rows
// from 9 on are removed and scopes moved back inline (as version 8 stored
// them), so the later migrations re-run too.
func TestMigrateRollupsBackfill(t *testing.T) {
	s, _ := openMigrated(t)
	storetest.RollupBackfill(t, s, func(t *testing.T) {
		downTo(t.Context(), t, s, "00019_insert_only_scores.sql", 19)
		if _, err := s.pool.Exec(t.Context(), `DROP TABLE score_rollups; DELETE FROM `+versionTable+` WHERE version_id >= 9;
UPDATE predictions SET scope_jsonb = (SELECT scope_jsonb FROM scopes WHERE scopes.id = predictions.scope_id), scope_id = NULL WHERE scope_id IS NOT NULL`); err != nil {
			t.Fatal(err)
		}
	})
}
