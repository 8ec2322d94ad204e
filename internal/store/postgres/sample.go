package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// sampleIDs is the SQL of the models a sample reads: the array $1, or
// every model when it is empty.
const sampleIDs = `SELECT m FROM unnest($1::text[]) AS m WHERE cardinality($1::text[]) > 0
UNION ALL SELECT id FROM models WHERE cardinality($1::text[]) = 0`

// sampleBuckets is the SQL of the buckets of a sample: $lo, $w (µs),
// $last (bucket number) and $end (To + 1 µs) are the arguments named.
func sampleBuckets(buckets, lo, w, last, end string) string {
	return `SELECT g.i, ` + lo + `::timestamptz + make_interval(secs => g.i * ` + w + `::float8 / 1e6) AS lo,
    CASE WHEN g.i = ` + last + ` THEN ` + end + `::timestamptz ELSE ` + lo + `::timestamptz + make_interval(secs => (g.i + 1) * ` + w + `::float8 / 1e6) END AS hi
FROM generate_series(0, ` + buckets + ` - 1) AS g(i)`
}

// SamplePredictions returns the newest prediction of every (model_id,
// scope_key, bucket) of q (store.SampleQuery), ordered by performed_at then
// id, without the inference input. The series are found by skipping
// through the primary key of chart_revisions (one seek per series,
// predictionSeries); each bucket of each series is then a seek for its
// newest performed_at (seriesPredicate) and a lookup of the row(s) at that
// instant (the larger id wins a tie): the cost grows with series ×
// buckets, not with the predictions in the window.
func (s *Store) SamplePredictions(ctx context.Context, q store.SampleQuery) ([]store.Prediction, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store sample predictions: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	models, scopes, first, err := s.predictionSeries(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, nil
	}
	q = q.Grid(first, len(models))
	lo, _ := q.BucketRange(0)
	args := []any{models, scopes, q.Buckets, time.UnixMicro(lo).UTC(), q.BucketWidth(), q.Buckets - 1, q.To.Add(time.Microsecond)}
	series := seriesPredicate(q.Status, "$8")
	if q.Status != "" {
		args = append(args, q.Status)
	}
	cols := chartPredictionColumns
	sql := `WITH b AS (` + sampleBuckets("$3", "$4", "$5", "$6", "$7") + `)
SELECT ` + cols + ` FROM unnest($1::text[], $2::text[]) AS s(m, k) CROSS JOIN b
CROSS JOIN LATERAL (SELECT max(performed_at) AS t FROM predictions
    WHERE ` + series + ` AND performed_at >= b.lo AND performed_at < b.hi) AS newest
CROSS JOIN LATERAL (SELECT * FROM predictions
    WHERE ` + series + ` AND performed_at = newest.t ORDER BY id DESC LIMIT 1) AS predictions` + scoresJoin + `
ORDER BY performed_at, id`
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap("sample predictions", err)
	}
	out, err := pgx.CollectRows(rows, scanPrediction)
	if err != nil {
		return nil, s.wrap("sample predictions", err)
	}
	for i := range out {
		out[i].InferenceInput, out[i].InferenceOutput, out[i].Meta, out[i].GroundTruth = nil, nil, nil, nil
	}
	return out, nil
}

// SampleModelScores returns the score points store.SampleQuery keeps, the
// models being the series, ordered by computed_at then model id: each
// model's oldest point in the window, then per model and bucket an
// index-only seek in ix_model_scores_model_id for the newest computed_at
// and a lookup of the point(s) at that instant (the larger id wins a tie,
// in byte order).
func (s *Store) SampleModelScores(ctx context.Context, q store.SampleQuery) ([]store.ModelScore, error) {
	q, err := q.Normalize()
	if err == nil && q.Status != "" {
		err = fmt.Errorf("SampleQuery.Status: expected empty for score points, found %q: %w", q.Status, store.ErrInvalidValue)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres store sample model scores: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	models, first, err := s.scoreModels(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, nil
	}
	q = q.Grid(first, len(models))
	lo, _ := q.BucketRange(0)
	rows, err := s.pool.Query(ctx, `WITH b AS (`+sampleBuckets("$2", "$3", "$4", "$5", "$6")+`)
SELECT p.id, p.model_id, p.score_payload_jsonb, p.computed_at FROM unnest($1::text[]) AS s(m) CROSS JOIN b
CROSS JOIN LATERAL (SELECT max(computed_at) AS t FROM model_scores WHERE model_id = s.m AND computed_at >= b.lo AND computed_at < b.hi) AS newest
CROSS JOIN LATERAL (SELECT * FROM model_scores WHERE model_id = s.m AND computed_at = newest.t ORDER BY id COLLATE "C" DESC LIMIT 1) AS p
ORDER BY p.computed_at, p.model_id COLLATE "C", p.id COLLATE "C"`,
		models, q.Buckets, time.UnixMicro(lo).UTC(), q.BucketWidth(), q.Buckets-1, q.To.Add(time.Microsecond))
	if err != nil {
		return nil, s.wrap("sample model scores", err)
	}
	out, err := pgx.CollectRows(rows, scanModelScore)
	if err != nil {
		return nil, s.wrap("sample model scores", err)
	}
	return out, nil
}

// seriesPredicate returns the SQL selecting the predictions of series
// (s.m, s.k) with status (the argument arg; "" = any status) through the
// indexes of migration 00021: any status or SUCCESS (the common one: a
// backward scan stops at the first row) through ix_predictions_series_hash,
// where hashedMatch finds the series' entries and the row's status is
// checked; any other status through the partial
// ix_predictions_series_unusual, which holds only the predictions that are
// not SUCCESS, with their status (index-only, however rare the status).
// The predicate of the partial index is written as a constant so that the
// planner can use it for any value of arg.
func seriesPredicate(status, arg string) string {
	series := hashedMatch("model_id", "s.m", false) + ` AND ` + hashedMatch("scope_key", "s.k", false)
	switch status {
	case "":
		return series
	case store.StatusSuccess:
		return series + ` AND status = ` + arg
	default:
		return `model_id = s.m AND scope_key = s.k AND status <> 'SUCCESS' AND status = ` + arg
	}
}

// predictionSeries returns the series (models[i], scopes[i]) of a
// normalised q having a prediction in its window, and the oldest such
// prediction's performed_at (zero when none). The scope keys of a model
// are found by skipping through the primary key of chart_revisions (one
// seek per series): the store writes a row of kind 'predictions' for
// every model, scope key and day it stores predictions of (00013), in the
// transaction that stores them, and never deletes one (the invariant
// stated at store.ChartDaysOfPredictions; a prediction without its row is
// not found here). Each series is then
// one seek (seriesPredicate) for its oldest prediction in the window.
func (s *Store) predictionSeries(ctx context.Context, q store.SampleQuery) ([]string, []string, time.Time, error) {
	var first time.Time
	args := []any{q.ModelIDs, q.From, q.To}
	if q.Status != "" {
		args = append(args, q.Status)
	}
	if q.ModelIDs == nil {
		args[0] = []string{}
	}
	var models, scopes []string
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE ids(m) AS (`+sampleIDs+`),
s(m, k) AS (SELECT m, (SELECT min(scope_key) FROM chart_revisions WHERE kind = 'predictions' AND model_id = ids.m) FROM ids
    UNION ALL SELECT m, (SELECT min(scope_key) FROM chart_revisions WHERE kind = 'predictions' AND model_id = s.m AND scope_key > s.k) FROM s WHERE k IS NOT NULL)
SELECT m, k, (SELECT min(performed_at) FROM predictions WHERE `+seriesPredicate(q.Status, "$4")+`
    AND performed_at >= $2 AND performed_at <= $3) FROM s WHERE k IS NOT NULL`, args...)
	if err != nil {
		return nil, nil, first, s.wrap("sample predictions: series", err)
	}
	for rows.Next() {
		var m, k string
		var f *time.Time
		if err := rows.Scan(&m, &k, &f); err != nil {
			rows.Close()
			return nil, nil, first, s.wrap("sample predictions: series", err)
		}
		if f == nil {
			continue
		}
		models, scopes = append(models, m), append(scopes, k)
		if first.IsZero() || f.Before(first) {
			first = *f
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, first, s.wrap("sample predictions: series", err)
	}
	return models, scopes, first, nil
}

// scoreModels returns the models of a normalised q having a score point
// in its window and the oldest such point's computed_at (zero when none):
// one seek per model in ix_model_scores_model_id.
func (s *Store) scoreModels(ctx context.Context, q store.SampleQuery) ([]string, time.Time, error) {
	var first time.Time
	ids := q.ModelIDs
	if ids == nil {
		ids = []string{}
	}
	rows, err := s.pool.Query(ctx, `WITH ids(m) AS (`+sampleIDs+`)
SELECT m, (SELECT min(computed_at) FROM model_scores WHERE model_id = ids.m AND computed_at >= $2 AND computed_at <= $3) FROM ids`, ids, q.From, q.To)
	if err != nil {
		return nil, first, s.wrap("sample model scores: series", err)
	}
	var models []string
	for rows.Next() {
		var m string
		var f *time.Time
		if err := rows.Scan(&m, &f); err != nil {
			rows.Close()
			return nil, first, s.wrap("sample model scores: series", err)
		}
		if f != nil {
			models = append(models, m)
			if first.IsZero() || f.Before(first) {
				first = *f
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
	q, err := q.Normalize()
	if err == nil {
		err = store.CheckSampleKind(kind, q)
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("postgres store sample start: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	if kind == store.ChartPredictions {
		_, _, first, err = s.predictionSeries(ctx, q)
	} else {
		_, first, err = s.scoreModels(ctx, q)
	}
	if err != nil || first.IsZero() {
		return time.Time{}, false, err
	}
	return first.UTC(), true, nil
}

// chartPredictionColumns are predictionColumns with the values no chart
// reads selected as NULL (store.Store.SamplePredictions): the inference
// input, the model's output and meta (up to the output limit each, a
// participant's choice) and the ground truth. The report caches what
// SamplePredictions returns.
var chartPredictionColumns = strings.NewReplacer(
	"inference_input_jsonb, inference_output_jsonb, meta_jsonb,", "NULL::jsonb AS inference_input_jsonb, NULL::jsonb AS inference_output_jsonb, NULL::jsonb AS meta_jsonb,",
	groundTruthColumn, "NULL::jsonb AS ground_truth_jsonb",
).Replace(predictionColumns)
