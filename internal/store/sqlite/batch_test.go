package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/sqlite"
)

// TestSavePredictCycleChunks: SavePredictCycle inserts its rows a chunk per
// statement (maxBatchRows, then powers of two); counts, duplicates and a rejected row
// in the middle of a chunk behave as one statement per row did: the count
// is of new rows, and a row of an unknown model fails the whole cycle with
// an error naming that row.
func TestSavePredictCycleChunks(t *testing.T) {
	for _, c := range []struct {
		name      string
		n, stored int // rows in the cycle, of which already stored (the first ones)
		bad       int // index of a row of an unknown model, -1 for none
	}{
		{"one", 1, 0, -1},
		{"chunk and remainder", 64 + 32 + 4 + 1, 0, -1},
		{"some stored", 130, 70, -1},
		{"all stored", 65, 65, -1},
		{"unknown model mid chunk", 100, 0, 70},
		{"unknown model in remainder", 100, 0, 99},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			models, ps := benchPredictions("P", c.n)
			if c.stored > 0 {
				if n, err := s.SavePredictCycle(ctx, models, ps[:c.stored]); err != nil || n != c.stored {
					t.Fatalf("storing the first %d: %d, %v", c.stored, n, err)
				}
			}
			if c.bad >= 0 {
				ps[c.bad].ModelID = "unknown"
			}
			n, err := s.SavePredictCycle(ctx, models, ps)
			total, cerr := s.CountPredictions(ctx, "")
			if cerr != nil {
				t.Fatal(cerr)
			}
			if c.bad >= 0 {
				if !errors.Is(err, store.ErrInvalidValue) || !strings.Contains(err.Error(), fmt.Sprintf("%q", ps[c.bad].ID)) {
					t.Fatalf("expected ErrInvalidValue naming %s, found %v", ps[c.bad].ID, err)
				}
				if total != 0 {
					t.Errorf("expected nothing stored, found %d rows", total)
				}
				return
			}
			if err != nil || n != c.n-c.stored {
				t.Fatalf("expected %d new, found %d, %v", c.n-c.stored, n, err)
			}
			if total != int64(c.n) {
				t.Errorf("expected %d rows, found %d", c.n, total)
			}
		})
	}
}
