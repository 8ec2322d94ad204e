package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SamplePredictions returns the newest prediction of every (model_id,
// scope_key, bucket) of q (store.SampleQuery), ordered by performed_at then
// id, without the inference input. One query: a window function over the
// performed_at range of ix_predictions_performed_at.
func (s *Store) SamplePredictions(ctx context.Context, q store.SampleQuery) ([]store.Prediction, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite sample predictions (%s): %w", s.path, err)
	}
	where := []string{`performed_at >= ?`, `performed_at <= ?`}
	filter := []any{micros(q.From), micros(q.To)}
	if len(q.ModelIDs) > 0 {
		where = append(where, `model_id IN (SELECT value FROM json_each(?))`)
		filter = append(filter, jsonArray(q.ModelIDs))
	}
	if q.Status != "" {
		where = append(where, `status = ?`)
		filter = append(filter, q.Status)
	}
	var first sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MIN(performed_at) FROM predictions WHERE `+strings.Join(where, ` AND `), filter...).Scan(&first); err != nil {
		return nil, s.wrap("sample predictions: first", err)
	}
	if !first.Valid {
		return nil, nil
	}
	q = q.StartAt(fromMicros(first.Int64))
	lo := micros(q.From)
	filter[0] = lo
	args := append([]any{lo, q.BucketWidth(), q.Buckets - 1}, filter...)
	// The window function reads the covering index idx_predictions_series
	// (rowid included); only the kept rows are then read in full. Ties on
	// performed_at within a series keep the larger rowid.
	cols := strings.ReplaceAll(readPredictionCols, "inference_input_jsonb", "NULL")
	sqlText := `SELECT ` + cols + ` FROM predictions WHERE rowid IN (SELECT r FROM (
SELECT rowid AS r, ROW_NUMBER() OVER (PARTITION BY model_id, scope_key, MIN((performed_at - ?) / ?, ?) ORDER BY performed_at DESC, rowid DESC) AS rn
FROM predictions INDEXED BY idx_predictions_series WHERE ` + strings.Join(where, ` AND `) + `
) WHERE rn = 1) ORDER BY performed_at, id`
	rows, err := s.query(ctx, sqlText, args...)
	if err != nil {
		return nil, s.wrap("sample predictions", err)
	}
	defer rows.Close()
	var out []store.Prediction
	for rows.Next() {
		p, err := scanPrediction(rows)
		if err != nil {
			return nil, s.wrap("sample predictions: scan", err)
		}
		p.InferenceInput = nil
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("sample predictions", err)
	}
	return out, nil
}
