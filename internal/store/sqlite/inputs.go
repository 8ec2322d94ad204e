package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// insertInputs writes the encoded distinct inputs of a predict cycle
// (inputcodec.Writer.Encode of store.PredictionInputs) if absent, in the
// cycle's transaction, and marks the rows it inserted. A compressed row
// leaves input_jsonb ” (NOT NULL since 00005) and holds its frame in data.
func (s *Store) insertInputs(ctx context.Context, tx *sql.Tx, batch *inputcodec.Batch, createdAt []int64) error {
	if batch == nil || len(batch.Rows) == 0 {
		return nil
	}
	stmt, err := s.txStmt(ctx, tx, `INSERT INTO inputs (id, input_jsonb, created_at, codec, base_id, data) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return s.wrap("save predict cycle: prepare inputs", err)
	}
	defer stmt.Close()
	for i, r := range batch.Rows {
		text, data := "", any(r.Data)
		if r.Codec == inputcodec.Plain {
			text, data = string(r.Data), nil
		}
		res, err := stmt.ExecContext(ctx, r.ID, text, createdAt[i], int(r.Codec), sql.NullString{String: r.BaseID, Valid: r.BaseID != ""}, data)
		if err != nil {
			return s.wrap(fmt.Sprintf("save predict cycle: insert input %q", r.ID), err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.wrap("save predict cycle: rows affected", err)
		} else if n > 0 {
			batch.Inserted(i)
		}
	}
	// A delta of an input of the same batch that was already stored has a
	// base of unknown depth: the caller retries (inputcodec.ErrForeignBase).
	return batch.CheckBases()
}

// attachInputs sets the InferenceInput of predictions that reference a row
// of table inputs (InputID set), reading each distinct input once
// (inputcodec.Read); the predictions sharing it share one backing array.
// Rows stored before migration 00005 carry their input inline and are left
// as read.
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
	fetch := func(ctx context.Context, ids []string) ([]inputcodec.Row, error) {
		const q = `SELECT id, codec, COALESCE(base_id, ''), COALESCE(data, input_jsonb) FROM inputs WHERE id IN (SELECT value FROM json_each(?))`
		var rows *sql.Rows
		var err error
		if tx != nil {
			rows, err = s.txQuery(ctx, tx, q, jsonArray(ids))
		} else {
			rows, err = s.query(ctx, q, jsonArray(ids))
		}
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := make([]inputcodec.Row, 0, len(ids))
		for rows.Next() {
			var r inputcodec.Row
			var codec int
			if err := rows.Scan(&r.ID, &codec, &r.BaseID, &r.Data); err != nil {
				return nil, err
			}
			if codec < 0 || codec > 255 {
				return nil, fmt.Errorf("input %s: codec %d out of range", r.ID, codec)
			}
			r.Codec = inputcodec.Codec(codec)
			out = append(out, r)
		}
		return out, rows.Err()
	}
	byID, err := inputcodec.Read(ctx, ids, fetch, s.inputCache)
	if err != nil {
		return fmt.Errorf("read inference inputs: %w", err)
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
