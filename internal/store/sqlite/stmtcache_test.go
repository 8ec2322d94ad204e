package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openMigrated(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// ModelScoreStats must not read predictions rows (their score columns sit
// behind the inference input, in overflow pages), nor sort them: it reads
// the covering index in its order.
func TestModelScoreStatsUsesCoveringIndex(t *testing.T) {
	s := openMigrated(t)
	q, args := modelScoreStatsQuery([]int64{3, 2, 1}, 4)
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if got := strings.Join(plan, "; "); !strings.Contains(got, "COVERING INDEX idx_predictions_window_stats") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("query plan %q: expected a search of the covering index idx_predictions_window_stats, no sort", got)
	}
}

// The claim must search the partial index of unscored predictions
// (00007), not scan or sort the table.
func TestClaimUsesPartialIndex(t *testing.T) {
	s := openMigrated(t)
	rows, err := s.r.Query("EXPLAIN QUERY PLAN "+claimSQL, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	// The ground truth subquery (00008) searches its primary key.
	if got := strings.Join(plan, "; "); plan[0] != "SEARCH predictions USING INDEX idx_predictions_claim (resolvable_at<?)" ||
		strings.Contains(got, "SCAN") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("query plan %q: expected a search of idx_predictions_claim, no scan, no sort", got)
	}
}

func TestStatementsArePreparedOnce(t *testing.T) {
	ctx := context.Background()
	s := openMigrated(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := s.CountPredictions(ctx, "SUCCESS"); err != nil {
					t.Error(err)
					return
				}
				if err := s.ReplaceSchedules(ctx, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.rstmts.mu.Lock()
	readers := len(s.rstmts.stmts)
	s.rstmts.mu.Unlock()
	s.wstmts.mu.Lock()
	writers := len(s.wstmts.stmts)
	s.wstmts.mu.Unlock()
	// CountPredictions by status, plus the schema check's queries at most.
	if readers < 1 || readers > 3 {
		t.Errorf("reader statements cached = %d, want 1 to 3", readers)
	}
	// ReplaceSchedules' upsert and deactivation, cached after their first transaction.
	if writers != 2 {
		t.Errorf("writer statements cached = %d, want 2", writers)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CountPredictions(ctx, ""); err == nil {
		t.Error("CountPredictions after Close: expected an error")
	}
}
