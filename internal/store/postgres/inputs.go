package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// inputIDPrefix starts every input id (store.InputID).
const inputIDPrefix = "INP_"

// inputHex returns what the uuid columns of table inputs and
// predictions.input_id (00015) hold for an input id: its 32 hex digits,
// without the "INP_" prefix. Ids are store.InputID's (Normalize sets
// them); a value without the prefix is passed on as it is, and one that is
// not 32 hex digits fails the statement with store.ErrInvalidValue (class
// 22, see classify).
func inputHex(id string) string {
	hex, _ := strings.CutPrefix(id, inputIDPrefix)
	return hex
}

// inputIDOf turns a uuid column read as text (8-4-4-4-12 hex digits) back
// into the input id (store.InputID); "" (NULL) stays "".
func inputIDOf(u string) string {
	if u == "" {
		return ""
	}
	return inputIDPrefix + strings.ReplaceAll(u, "-", "")
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// insertInputsSQL inserts encoded inputs if absent and returns the ids it
// inserted.
const insertInputsSQL = `INSERT INTO inputs (id, codec, base_id, data, created_at)
SELECT u.id::uuid, u.codec, u.base_id::uuid, u.data, u.created_at
FROM unnest($1::text[], $2::smallint[], $3::text[], $4::bytea[], $5::timestamptz[]) AS u(id, codec, base_id, data, created_at)
ON CONFLICT (id) DO NOTHING RETURNING id::text`

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
		ids[i], codecs[i], data[i], at[i] = inputHex(r.ID), int16(r.Codec), r.Data, inputs[i].CreatedAt
		if r.BaseID != "" {
			base := inputHex(r.BaseID)
			bases[i] = &base
		}
	}
	return []any{ids, codecs, bases, data, at}
}

// readInsertedInputs runs query (the insertInputsSQL statement's result)
// and marks the rows it inserted in batch; it fails with
// inputcodec.ErrForeignBase as inputcodec.Batch.CheckBases says.
func readInsertedInputs(query func() (pgx.Rows, error), batch *inputcodec.Batch) error {
	rows, err := query()
	if err != nil {
		return fmt.Errorf("insert %d inference inputs: %w", len(batch.Rows), err)
	}
	var id string
	_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
		batch.InsertedID(inputIDOf(id))
		return nil
	})
	if err != nil {
		return fmt.Errorf("insert %d inference inputs: %w", len(batch.Rows), err)
	}
	// A delta of an input of the same batch that was already stored has a
	// base of unknown depth: the caller retries (inputcodec.ErrForeignBase).
	return batch.CheckBases()
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
		hexes := make([]string, len(ids))
		for i, id := range ids {
			hexes[i] = inputHex(id)
		}
		rows, err := q.Query(ctx, `SELECT id::text, codec, COALESCE(base_id::text, ''), COALESCE(data, convert_to(input_jsonb::text, 'UTF8'))
FROM inputs WHERE id = ANY($1::text[]::uuid[])`, hexes)
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
			r.ID, r.BaseID = inputIDOf(r.ID), inputIDOf(r.BaseID)
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
