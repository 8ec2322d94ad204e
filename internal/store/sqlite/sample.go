package sqlite

import (
	"context"
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
	lo, hi := micros(q.From), micros(q.To)
	where := []string{`performed_at >= ?`, `performed_at <= ?`}
	args := []any{lo, q.BucketWidth(), q.Buckets - 1, lo, hi}
	if len(q.ModelIDs) > 0 {
		where = append(where, `model_id IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonArray(q.ModelIDs))
	}
	if q.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, q.Status)
	}
	cols := strings.ReplaceAll(readPredictionCols, "inference_input_jsonb", "NULL")
	sqlText := `SELECT ` + cols + ` FROM (
SELECT *, ROW_NUMBER() OVER (PARTITION BY model_id, scope_key, MIN((performed_at - ?) / ?, ?) ORDER BY performed_at DESC, id DESC) AS rn
FROM predictions WHERE ` + strings.Join(where, ` AND `) + `
) WHERE rn = 1 ORDER BY performed_at, id`
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
