package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// insertInputsSQL inserts encoded inputs if absent and returns the ids it
// inserted.
const insertInputsSQL = `INSERT INTO inputs (id, codec, base_id, data, created_at)
SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::bytea[], $5::timestamptz[])
ON CONFLICT (id) DO NOTHING RETURNING id`

// inputArgs returns the arguments of insertInputsSQL for the encoded
// distinct inputs of a predict cycle (inputcodec.Writer.Encode of
// store.PredictionInputs), or nil when there is none. Every new row holds
// its bytes in data (input_jsonb NULL).
func inputArgs(batch *inputcodec.Batch, inputs []store.Input) []any {
	if batch == nil || len(batch.Rows) == 0 {
		return nil
	}
	n := len(batch.Rows)
	ids, codecs, bases, data, at := make([]string, n), make([]int16, n), make([]*string, n), make([][]byte, n), make([]time.Time, n)
	for i, r := range batch.Rows {
		ids[i], codecs[i], data[i], at[i] = r.ID, int16(r.Codec), r.Data, inputs[i].CreatedAt
		if r.BaseID != "" {
			bases[i] = &batch.Rows[i].BaseID
		}
	}
	return []any{ids, codecs, bases, data, at}
}

// readInsertedInputs runs query (the insertInputsSQL statement's result)
// and marks the rows it inserted in batch.
func readInsertedInputs(query func() (pgx.Rows, error), batch *inputcodec.Batch) error {
	rows, err := query()
	if err != nil {
		return fmt.Errorf("insert %d inference inputs: %w", len(batch.Rows), err)
	}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		batch.InsertedID(id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert %d inference inputs: %w", len(batch.Rows), err)
	}
	return nil
}

// insertInputs writes the encoded distinct inputs of a predict cycle
// (inputArgs) if absent, with one statement, in the cycle's transaction,
// and marks the rows it inserted.
func insertInputs(ctx context.Context, tx pgx.Tx, batch *inputcodec.Batch, inputs []store.Input) error {
	args := inputArgs(batch, inputs)
	if args == nil {
		return nil
	}
	return readInsertedInputs(func() (pgx.Rows, error) { return tx.Query(ctx, insertInputsSQL, args...) }, batch)
}

// attachInputs sets the InferenceInput of predictions that reference a row
// of table inputs (InputID set), reading each distinct input once
// (inputcodec.Read); the predictions sharing it share one backing array.
// Rows stored before migration 00005 carry their input inline and are left
// as read; rows of inputs stored before 00006 are read from input_jsonb.
func (s *Store) attachInputs(ctx context.Context, q querier, preds []store.Prediction) error {
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
		rows, err := q.Query(ctx, `SELECT id, codec, COALESCE(base_id, ''), COALESCE(data, convert_to(input_jsonb::text, 'UTF8'))
FROM inputs WHERE id = ANY($1::text[])`, ids)
		if err != nil {
			return nil, err
		}
		out := make([]inputcodec.Row, 0, len(ids))
		var r inputcodec.Row
		var codec int16
		var data []byte
		_, err = pgx.ForEachRow(rows, []any{&r.ID, &codec, &r.BaseID, &data}, func() error {
			if codec < 0 || codec > 255 {
				return fmt.Errorf("input %s: codec %d out of range", r.ID, codec)
			}
			r.Codec, r.Data = inputcodec.Codec(codec), append([]byte(nil), data...)
			out = append(out, r)
			return nil
		})
		return out, err
	}
	byID, err := inputcodec.Read(ctx, ids, fetch, s.inputCache)
	if err != nil {
		return fmt.Errorf("read inference inputs: %w", err)
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
