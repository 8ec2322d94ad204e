package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// insertInputs writes the distinct inputs of a predict cycle
// (store.PredictionInputs) if absent, with one statement, in the cycle's
// transaction.
func insertInputs(ctx context.Context, tx pgx.Tx, inputs []store.Input) error {
	if len(inputs) == 0 {
		return nil
	}
	ids, texts, at := make([]string, len(inputs)), make([]string, len(inputs)), make([]time.Time, len(inputs))
	for i, in := range inputs {
		ids[i], texts[i], at[i] = in.ID, string(in.Input), in.CreatedAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO inputs (id, input_jsonb, created_at)
SELECT u.id, u.input::jsonb, u.created_at FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(id, input, created_at)
ON CONFLICT (id) DO NOTHING`, ids, texts, at)
	if err != nil {
		return fmt.Errorf("insert %d inference inputs: %w", len(inputs), err)
	}
	return nil
}

// attachInputs sets the InferenceInput of predictions that reference a row
// of table inputs (InputID set), reading each distinct input once; the
// predictions sharing it share one backing array. Rows stored before
// migration 00005 carry their input inline and are left as read.
func attachInputs(ctx context.Context, q querier, preds []store.Prediction) error {
	var ids []string
	seen := map[string]bool{}
	for i := range preds {
		if id := preds[i].InputID; id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `SELECT id, input_jsonb FROM inputs WHERE id = ANY($1::text[])`, ids)
	if err != nil {
		return fmt.Errorf("read %d inference inputs: %w", len(ids), err)
	}
	byID := make(map[string]json.RawMessage, len(ids))
	var id string
	var text []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &text}, func() error {
		byID[id] = json.RawMessage(append([]byte(nil), text...))
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %d inference inputs: %w", len(ids), err)
	}
	return store.AttachInputs(preds, byID)
}

// CountInputs counts the rows of table inputs.
func (s *Store) CountInputs(ctx context.Context) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM inputs`).Scan(&n); err != nil {
		return 0, s.wrap("count inputs", err)
	}
	return n, nil
}
