package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// insertInputs writes the distinct inputs of a predict cycle
// (store.PredictionInputs) if absent, in the cycle's transaction.
func (s *Store) insertInputs(ctx context.Context, tx *sql.Tx, inputs []store.Input, texts textMemo) error {
	if len(inputs) == 0 {
		return nil
	}
	stmt, err := s.txStmt(ctx, tx, `INSERT INTO inputs (id, input_jsonb, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return s.wrap("save predict cycle: prepare inputs", err)
	}
	defer stmt.Close()
	for _, in := range inputs {
		if _, err := stmt.ExecContext(ctx, in.ID, texts.text(in.Input), micros(in.CreatedAt)); err != nil {
			return s.wrap(fmt.Sprintf("save predict cycle: insert input %q", in.ID), err)
		}
	}
	return nil
}

// attachInputs sets the InferenceInput of predictions that reference a row
// of table inputs (InputID set), reading each distinct input once; the
// predictions sharing it share one backing array. Rows stored before
// migration 00005 carry their input inline and are left as read.
func (s *Store) attachInputs(ctx context.Context, tx *sql.Tx, preds []store.Prediction) error {
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
	const q = `SELECT id, input_jsonb FROM inputs WHERE id IN (SELECT value FROM json_each(?))`
	var rows *sql.Rows
	var err error
	if tx != nil {
		rows, err = s.txQuery(ctx, tx, q, jsonArray(ids))
	} else {
		rows, err = s.query(ctx, q, jsonArray(ids))
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	byID := make(map[string]json.RawMessage, len(ids))
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			return err
		}
		byID[id] = json.RawMessage(text)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return store.AttachInputs(preds, byID)
}

// CountInputs counts the rows of table inputs.
func (s *Store) CountInputs(ctx context.Context) (int64, error) {
	if err := s.checkSchema(ctx); err != nil {
		return 0, err
	}
	var n int64
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM inputs`).Scan(&n); err != nil {
		return 0, s.wrap("count inputs", err)
	}
	return n, nil
}
