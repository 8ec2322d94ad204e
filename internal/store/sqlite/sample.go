package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// seriesIDs is the SQL of the models a sample reads: the JSON array bound
// to it, or every model when it is empty.
const seriesIDs = `SELECT value AS m FROM json_each(?1) WHERE json_array_length(?1) > 0
UNION ALL SELECT id FROM models WHERE json_array_length(?1) = 0`

// grid is the SQL of the bucket numbers 0..?-1 of a sample.
const grid = `g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?)`

// SamplePredictions returns the newest prediction of every (model_id,
// scope_key, bucket) of q (store.SampleQuery), ordered by performed_at then
// id, without the inference input. The series are found by skipping
// through idx_predictions_series (one seek per series), then each bucket
// of each series is one backward seek in the same index (the newest
// performed_at, then the larger rowid): the cost grows with series ×
// buckets, not with the predictions in the window.
func (s *Store) SamplePredictions(ctx context.Context, q store.SampleQuery) ([]store.Prediction, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite sample predictions (%s): %w", s.path, err)
	}
	series, first, err := s.predictionSeries(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(series) == 0 {
		return nil, nil
	}
	status, statusArg := "", []any{}
	if q.Status != "" {
		status, statusArg = ` AND status = ?`, []any{q.Status}
	}
	q = q.Grid(fromMicros(first.Int64), len(series))
	seriesJSON, _ := json.Marshal(series) // strings always encode
	lo, _ := q.BucketRange(0)
	cols := chartPredictionCols
	args := append([]any{q.Buckets, string(seriesJSON), lo, q.BucketWidth(), q.Buckets - 1, micros(q.To) + 1}, statusArg...)
	sqlText := `WITH RECURSIVE ` + grid + `,
s(m, k) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)),
b(lo, hi, m, k) AS (SELECT ?3 + g.i * ?4, CASE WHEN g.i = ?5 THEN ?6 ELSE ?3 + (g.i + 1) * ?4 END, s.m, s.k FROM s, g)
SELECT ` + cols + ` FROM predictions WHERE rowid IN (SELECT (SELECT rowid FROM predictions INDEXED BY idx_predictions_series
    WHERE model_id = b.m AND scope_key = b.k AND performed_at >= b.lo AND performed_at < b.hi` + strings.Replace(status, "?", "?7", 1) + `
    ORDER BY performed_at DESC, rowid DESC LIMIT 1) FROM b)
ORDER BY performed_at, id`
	out, err := s.queryPredictionsOnly(ctx, nil, "sample predictions", sqlText, args...)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].InferenceInput, out[i].InferenceOutput, out[i].Meta, out[i].GroundTruth = nil, nil, nil, nil
	}
	return out, nil
}

// SampleModelScores returns the score points store.SampleQuery keeps, the
// models being the series, ordered by computed_at then model id: each
// model's oldest point in the window, then one backward seek per model and
// bucket in ix_model_scores_model_id (newest computed_at, then larger id).
func (s *Store) SampleModelScores(ctx context.Context, q store.SampleQuery) ([]store.ModelScore, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err == nil && q.Status != "" {
		err = fmt.Errorf("SampleQuery.Status: expected empty for score points, found %q: %w", q.Status, store.ErrInvalidValue)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite sample model scores (%s): %w", s.path, err)
	}
	models, first, err := s.scoreModels(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, nil
	}
	q = q.Grid(fromMicros(first.Int64), len(models))
	lo, _ := q.BucketRange(0)
	rows, err := s.query(ctx, `WITH RECURSIVE `+grid+`,
b(lo, hi, m) AS (SELECT ?3 + g.i * ?4, CASE WHEN g.i = ?5 THEN ?6 ELSE ?3 + (g.i + 1) * ?4 END, value FROM json_each(?2), g)
SELECT id, model_id, score_payload_jsonb, computed_at FROM model_scores WHERE rowid IN (SELECT (SELECT rowid FROM model_scores
    WHERE model_id = b.m AND computed_at >= b.lo AND computed_at < b.hi ORDER BY computed_at DESC, id DESC LIMIT 1) FROM b)
ORDER BY computed_at, model_id, id`, q.Buckets, jsonArray(models), lo, q.BucketWidth(), q.Buckets-1, micros(q.To)+1)
	if err != nil {
		return nil, s.wrap("sample model scores", err)
	}
	defer rows.Close()
	var out []store.ModelScore
	for rows.Next() {
		var ms store.ModelScore
		var payload sql.NullString
		var at int64
		if err := rows.Scan(&ms.ID, &ms.ModelID, &payload, &at); err != nil {
			return nil, s.wrap("sample model scores: scan", err)
		}
		ms.Score, ms.ComputedAt = rawJSON(payload, "{}"), fromMicros(at)
		out = append(out, ms)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("sample model scores", err)
	}
	return out, nil
}

// predictionSeries returns the series (model_id, scope_key) of a
// normalised q having a prediction in its window, found by skipping
// through idx_predictions_series (one seek per series), and the oldest
// such prediction's performed_at (unix µs; invalid when none).
func (s *Store) predictionSeries(ctx context.Context, q store.SampleQuery) ([][2]string, sql.NullInt64, error) {
	var first sql.NullInt64
	status, statusArg := "", []any{}
	if q.Status != "" {
		status, statusArg = ` AND status = ?`, []any{q.Status}
	}
	// Series of the models, each with its oldest prediction in the window.
	args := append([]any{jsonArray(q.ModelIDs), micros(q.From), micros(q.To)}, statusArg...)
	rows, err := s.query(ctx, `WITH RECURSIVE ids(m) AS (`+seriesIDs+`),
s(m, k) AS (SELECT m, (SELECT scope_key FROM predictions INDEXED BY idx_predictions_series WHERE model_id = ids.m ORDER BY scope_key LIMIT 1) FROM ids
    UNION ALL SELECT m, (SELECT scope_key FROM predictions INDEXED BY idx_predictions_series WHERE model_id = s.m AND scope_key > s.k ORDER BY scope_key LIMIT 1) FROM s WHERE k IS NOT NULL)
SELECT m, k, (SELECT MIN(performed_at) FROM predictions INDEXED BY idx_predictions_series WHERE model_id = s.m AND scope_key = s.k
    AND performed_at >= ?2 AND performed_at <= ?3`+strings.Replace(status, "?", "?4", 1)+`) AS first FROM s WHERE k IS NOT NULL`, args...)
	if err != nil {
		return nil, first, s.wrap("sample predictions: series", err)
	}
	var series [][2]string
	for rows.Next() {
		var m, k string
		var f sql.NullInt64
		if err := rows.Scan(&m, &k, &f); err != nil {
			rows.Close()
			return nil, first, s.wrap("sample predictions: series", err)
		}
		if !f.Valid {
			continue
		}
		series = append(series, [2]string{m, k})
		if !first.Valid || f.Int64 < first.Int64 {
			first = f
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, first, s.wrap("sample predictions: series", err)
	}
	return series, first, nil
}

// scoreModels returns the models of a normalised q having a score point
// in its window and the oldest such point's computed_at (unix µs; invalid
// when none): one seek per model in ix_model_scores_model_id.
func (s *Store) scoreModels(ctx context.Context, q store.SampleQuery) ([]string, sql.NullInt64, error) {
	var first sql.NullInt64
	rows, err := s.query(ctx, `WITH ids(m) AS (`+seriesIDs+`)
SELECT m, (SELECT MIN(computed_at) FROM model_scores WHERE model_id = ids.m AND computed_at >= ?2 AND computed_at <= ?3) FROM ids`,
		jsonArray(q.ModelIDs), micros(q.From), micros(q.To))
	if err != nil {
		return nil, first, s.wrap("sample model scores: series", err)
	}
	var models []string
	for rows.Next() {
		var m string
		var f sql.NullInt64
		if err := rows.Scan(&m, &f); err != nil {
			rows.Close()
			return nil, first, s.wrap("sample model scores: series", err)
		}
		if f.Valid {
			models = append(models, m)
			if !first.Valid || f.Int64 < first.Int64 {
				first = f
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, first, s.wrap("sample model scores: series", err)
	}
	return models, first, nil
}

// SampleStart returns the time of the oldest row q selects (performed_at
// of the predictions for kind store.ChartPredictions, with q.Status;
// computed_at of the score points for store.ChartModelScores), ok false
// when there is none: one index seek per series.
func (s *Store) SampleStart(ctx context.Context, kind string, q store.SampleQuery) (time.Time, bool, error) {
	if err := s.checkSchema(ctx); err != nil {
		return time.Time{}, false, err
	}
	q, err := q.Normalize()
	if err == nil {
		err = store.CheckSampleKind(kind, q)
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite sample start (%s): %w", s.path, err)
	}
	var first sql.NullInt64
	if kind == store.ChartPredictions {
		_, first, err = s.predictionSeries(ctx, q)
	} else {
		_, first, err = s.scoreModels(ctx, q)
	}
	if err != nil || !first.Valid {
		return time.Time{}, false, err
	}
	return fromMicros(first.Int64), true, nil
}

// chartPredictionCols are readPredictionCols with the values no chart
// reads selected as NULL (store.Store.SamplePredictions): the inference
// input, the model's output and meta (up to the output limit each, a
// participant's choice) and the ground truth. The report caches what
// SamplePredictions returns.
var chartPredictionCols = strings.NewReplacer(
	"inference_input_jsonb, inference_output_jsonb, meta_jsonb,", "NULL, NULL, NULL,",
	groundTruthCol, "NULL",
).Replace(readPredictionCols)
