package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// SamplePredictions returns the newest prediction of every (model_id,
// scope_key, bucket) of q (store.SampleQuery), ordered by performed_at then
// id, without the inference input. One query: a window function over the
// performed_at range of ix_predictions_performed_at; bucket numbers are
// computed in integer microseconds, as on SQLite.
func (s *Store) SamplePredictions(ctx context.Context, q store.SampleQuery) ([]store.Prediction, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store sample predictions: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var f query
	f.add("performed_at >= ?", q.From)
	f.add("performed_at <= ?", q.To)
	if len(q.ModelIDs) > 0 {
		f.add("model_id = ANY(?::text[])", q.ModelIDs)
	}
	if q.Status != "" {
		f.add("status = ?", q.Status)
	}
	var first *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT MIN(performed_at) FROM predictions`+f.clause(), f.args...).Scan(&first); err != nil {
		return nil, s.wrap("sample predictions: first", err)
	}
	if first == nil {
		return nil, nil
	}
	q = q.StartAt(*first)
	var b query
	lo := b.arg(q.From)
	bucket := fmt.Sprintf("LEAST((EXTRACT(EPOCH FROM performed_at - %s::timestamptz) * 1000000)::bigint / %s::bigint, %s::bigint)",
		lo, b.arg(q.BucketWidth()), b.arg(int64(q.Buckets-1)))
	b.add("performed_at >= ?", q.From)
	b.add("performed_at <= ?", q.To)
	if len(q.ModelIDs) > 0 {
		b.add("model_id = ANY(?::text[])", q.ModelIDs)
	}
	if q.Status != "" {
		b.add("status = ?", q.Status)
	}
	cols := strings.ReplaceAll(predictionColumns, "inference_input_jsonb", "NULL::jsonb AS inference_input_jsonb")
	// The window function reads idx_predictions_series; only the kept rows
	// are then read in full.
	sql := `SELECT ` + cols + ` FROM predictions WHERE ctid IN (SELECT c FROM (
SELECT ctid AS c, ROW_NUMBER() OVER (PARTITION BY model_id, scope_key, ` + bucket + ` ORDER BY performed_at DESC, id DESC) AS rn
FROM predictions` + b.clause() + `
) AS sampled WHERE rn = 1) ORDER BY performed_at, id`
	rows, err := s.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return nil, s.wrap("sample predictions", err)
	}
	out, err := pgx.CollectRows(rows, scanPrediction)
	if err != nil {
		return nil, s.wrap("sample predictions", err)
	}
	for i := range out {
		out[i].InferenceInput = nil
	}
	return out, nil
}
