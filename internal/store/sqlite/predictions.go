package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// predictionCols is what SavePredictCycle inserts: a new row references
// its scope by scope_id (00011) and leaves scope_jsonb NULL.
const predictionCols = `id, model_id, prediction_config_id, scope_key, scope_id, status, exec_time_ms,
inference_input_jsonb, inference_output_jsonb, meta_jsonb, performed_at, resolvable_at,
score_value, score_success, score_failed_reason, score_scored_at, input_id`

// insertPredictions inserts predictions (predictionCols) that do not exist
// yet (by id), a chunk of rows per statement (execRows).
var insertPredictions = newRowsStmt(`INSERT INTO predictions (`+predictionCols+`)`,
	`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, `ON CONFLICT (id) DO NOTHING`, 17, maxBatchRows)

// readPredictionCols is what prediction reads select (scanPrediction):
// predictionCols with the scope's JSON in place of scope_id, and the
// ground truth, which only ClaimAndScore writes.
const readPredictionCols = `id, model_id, prediction_config_id, scope_key, ` + scopeCol + `, status, exec_time_ms,
inference_input_jsonb, inference_output_jsonb, meta_jsonb, performed_at, resolvable_at,
score_value, score_success, score_failed_reason, score_scored_at, input_id, ` + groundTruthCol

// scopeCol reads a prediction's scope: the row of table scopes it
// references (00011), else the inline value of a row stored before. Every
// query reading it names the table predictions unaliased.
const scopeCol = `COALESCE((SELECT scope_jsonb FROM scopes WHERE scopes.id = predictions.scope_id), scope_jsonb)`

// groundTruthCol reads a prediction's ground truth: the row of table
// ground_truths it references (00008), else the inline value of a row
// scored before (00004). Every query reading it names the table
// predictions unaliased.
const groundTruthCol = `COALESCE((SELECT truth_jsonb FROM ground_truths WHERE ground_truths.id = predictions.ground_truth_id), ground_truth_jsonb)`

// scored is the SQL predicate "this prediction has a score" (reference 7.1.2).
const scored = `(score_scored_at IS NOT NULL OR score_success IS NOT NULL)`

// textMemo converts the JSON values of one batch to the TEXT bound to
// their columns, once per backing array: the predictions of one predict
// cycle share one inference input (kilobytes), which is then copied once
// instead of once per model.
type textMemo map[textKey]string

type textKey struct {
	p *byte
	n int
}

func (m textMemo) text(raw json.RawMessage) string {
	k := textKey{unsafe.SliceData(raw), len(raw)}
	if s, ok := m[k]; ok {
		return s
	}
	s := string(raw)
	m[k] = s
	return s
}

// SavePredictCycle upserts models and inserts the predictions that do not
// exist yet (by id) in one transaction; it returns how many were new. The
// rows are normalised by store.NormalizeModels and
// store.NormalizePredictions first, so an invalid value is refused with
// store.ErrInvalidValue before anything is written; a prediction of an
// unknown model or schedule violates a foreign key (also
// store.ErrInvalidValue). On any error nothing is written.
func (s *Store) SavePredictCycle(ctx context.Context, models []store.Model, predictions []store.Prediction) (int, error) {
	models, err := store.NormalizeModels(models)
	if err != nil {
		return 0, fmt.Errorf("sqlite save predict cycle (%s): %w", s.path, err)
	}
	predictions, err = store.NormalizePredictions(predictions)
	if err != nil {
		return 0, fmt.Errorf("sqlite save predict cycle (%s): %w", s.path, err)
	}
	inputs := store.PredictionInputs(predictions)
	batch, err := s.inputWriter.Encode(inputs)
	if err != nil {
		return 0, fmt.Errorf("sqlite save predict cycle (%s): %w", s.path, err)
	}
	inputsAt := make([]int64, len(inputs))
	for i, in := range inputs {
		inputsAt[i] = micros(in.CreatedAt)
	}
	inserted := 0
	// An input of the batch whose in-batch base another writer had stored
	// (inputcodec.ErrForeignBase) rolls the transaction back once; it is
	// retried with every input encoded against committed bases only.
	for retried := false; ; retried = true {
		inserted = 0
		err = s.savePredictCycleTx(ctx, models, predictions, batch, inputsAt, &inserted)
		if retried || !errors.Is(err, inputcodec.ErrForeignBase) {
			break
		}
		if batch, err = s.inputWriter.EncodeAgainstCommitted(inputs); err != nil {
			return 0, fmt.Errorf("sqlite save predict cycle (%s): %w", s.path, err)
		}
	}
	if err != nil {
		return 0, err
	}
	s.inputWriter.Commit(batch)
	return inserted, nil
}

// savePredictCycleTx is SavePredictCycle's transaction for one encoding of
// its inputs; it adds the predictions it inserted to *inserted.
func (s *Store) savePredictCycleTx(ctx context.Context, models []store.Model, predictions []store.Prediction, batch *inputcodec.Batch, inputsAt []int64, inserted *int) error {
	return s.writeTx(ctx, "save predict cycle", func(tx *sql.Tx) error {
		if len(models) > 0 {
			if err := upsertModelsTx(ctx, s, tx, models); err != nil {
				return err
			}
		}
		if len(predictions) == 0 {
			return nil
		}
		texts := textMemo{}
		if err := s.insertInputs(ctx, tx, batch, inputsAt); err != nil {
			return err
		}
		scopes, scopeIDs := store.PredictionScopes(predictions)
		for _, sc := range scopes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scopes (id, scope_jsonb) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, sc.ID, string(sc.Scope)); err != nil {
				return s.wrap("save predict cycle: insert scope", err)
			}
		}
		args := func(i int, dst []any) []any {
			p := &predictions[i]
			var value sql.NullFloat64
			var success sql.NullBool
			var reason sql.NullString
			var scoredAt sql.NullInt64
			if sc := p.Score; sc != nil {
				if sc.Value != nil {
					value = sql.NullFloat64{Float64: *sc.Value, Valid: true}
				}
				success = sql.NullBool{Bool: sc.Success, Valid: true}
				reason = sql.NullString{String: sc.FailedReason, Valid: sc.FailedReason != ""}
				scoredAt = sql.NullInt64{Int64: micros(sc.ScoredAt), Valid: true}
			}
			return append(dst, p.ID, p.ModelID, sql.NullString{String: p.PredictionConfigID, Valid: p.PredictionConfigID != ""},
				p.ScopeKey, scopeIDs[i], p.Status, p.ExecTimeMs,
				nil, texts.text(p.InferenceOutput), texts.text(p.Meta),
				micros(p.PerformedAt), micros(p.ResolvableAt), value, success, reason, scoredAt, p.InputID)
		}
		rowErr := func(off int) func(i int, err error) error {
			return func(i int, err error) error {
				return s.wrap(fmt.Sprintf("save predict cycle: insert prediction %q", predictions[off+i].ID), err)
			}
		}
		// Runs of predictions without a score are inserted a chunk per
		// statement; one stored with a score alone, to know whether it was
		// new (its rollups).
		var scoredNew []store.Prediction
		for start := 0; start < len(predictions); {
			end := start
			for end < len(predictions) && predictions[end].Score == nil {
				end++
			}
			if end == start {
				end = start + 1
			}
			off := start
			n, err := s.execRows(ctx, tx, insertPredictions, end-start, func(i int, dst []any) []any { return args(off+i, dst) }, rowErr(off))
			if err != nil {
				return err
			}
			*inserted += int(n)
			if p := predictions[start]; p.Score != nil && n > 0 {
				scoredNew = append(scoredNew, p)
			}
			start = end
		}
		if err := s.upsertRollups(ctx, tx, store.RollupsOf(scoredNew)); err != nil {
			return err
		}
		return s.bumpChartRevisions(ctx, tx, store.ChartDaysOfPredictions(predictions))
	})
}

type rowScanner interface{ Scan(dest ...any) error }

func scanPrediction(sc rowScanner) (store.Prediction, error) {
	var p store.Prediction
	var cfg, scope, input, output, meta, reason, truth sql.NullString
	var performed, resolvable int64
	var value sql.NullFloat64
	var success sql.NullBool
	var scoredAt sql.NullInt64
	var inputID sql.NullString
	if err := sc.Scan(&p.ID, &p.ModelID, &cfg, &p.ScopeKey, &scope, &p.Status, &p.ExecTimeMs,
		&input, &output, &meta, &performed, &resolvable, &value, &success, &reason, &scoredAt, &inputID, &truth); err != nil {
		return p, err
	}
	if truth.Valid {
		p.GroundTruth = json.RawMessage(truth.String)
	}
	p.PredictionConfigID, p.InputID = cfg.String, inputID.String
	p.Scope, p.InferenceInput, p.InferenceOutput, p.Meta = rawJSON(scope, "{}"), rawJSON(input, "{}"), rawJSON(output, "{}"), rawJSON(meta, "{}")
	if inputID.Valid && !input.Valid {
		p.InferenceInput = nil // in table inputs: attached by queryPredictions
	}
	p.PerformedAt, p.ResolvableAt = fromMicros(performed), fromMicros(resolvable)
	if scoredAt.Valid || success.Valid {
		sc := &store.Score{Success: success.Bool, FailedReason: reason.String}
		if value.Valid {
			v := value.Float64
			sc.Value = &v
		}
		if scoredAt.Valid {
			sc.ScoredAt = fromMicros(scoredAt.Int64)
		}
		p.Score = sc
	}
	return p, nil
}

// queryPredictions runs q in tx, or on the reader pool when tx is nil, and
// attaches the inputs of the predictions read.
func (s *Store) queryPredictions(ctx context.Context, tx *sql.Tx, op, q string, args ...any) ([]store.Prediction, error) {
	out, err := s.queryPredictionsOnly(ctx, tx, op, q, args...)
	if err != nil {
		return nil, err
	}
	if err := s.attachInputs(ctx, tx, out); err != nil {
		return nil, s.wrap(op+": inputs", err)
	}
	return out, nil
}

// queryPredictionsOnly is queryPredictions without reading table inputs:
// the InferenceInput of a prediction referencing one is nil.
func (s *Store) queryPredictionsOnly(ctx context.Context, tx *sql.Tx, op, q string, args ...any) ([]store.Prediction, error) {
	var rows *sql.Rows
	var err error
	if tx != nil {
		rows, err = s.txQuery(ctx, tx, q, args...)
	} else {
		rows, err = s.query(ctx, q, args...)
	}
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []store.Prediction
	for rows.Next() {
		p, err := scanPrediction(rows)
		if err != nil {
			return nil, s.wrap(op+": scan", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}

// claimSQL selects up to ?2 unscored SUCCESS predictions due at ?1, oldest
// resolvable_at first. 'SUCCESS' (store.StatusSuccess) is a literal so the
// planner can use the partial index idx_predictions_claim (00007).
const claimSQL = `SELECT ` + readPredictionCols + ` FROM predictions
WHERE status = 'SUCCESS' AND score_scored_at IS NULL AND score_success IS NULL AND resolvable_at <= ?
ORDER BY resolvable_at, id LIMIT ?`

// ClaimAndScore claims up to limit (> 0) predictions with status SUCCESS,
// resolvable_at <= now and no score, oldest resolvable_at (then id) first,
// inside one BEGIN IMMEDIATE transaction, which holds SQLite's write lock:
// a concurrent claimer (any Store, any process) waits until this one
// commits and then sees these predictions as scored, so no prediction is
// handed out twice. fn must not write through the store (the writer is busy
// with this transaction); reading is fine. fn is not called when nothing is
// due. The claimed predictions carry their InputID but not the input itself
// (InferenceInput nil; store.Predictions.ClaimAndScore).
//
// Each update either scores the prediction (Score non-nil; a zero ScoredAt
// becomes now; Status, if set, also replaces the status) or sets a terminal
// Status (Score nil, e.g. store.StatusUnresolved) with Reason stored in
// score_failed_reason; such a prediction stays unscored (Score nil on read)
// and is never claimed again. Updates of already-scored predictions are
// no-ops. An update for an id that was not claimed, a duplicate, or one with
// neither Score nor Status is refused with store.ErrInvalidValue. When fn or
// any write fails, nothing is written and (0, err) is returned.
func (s *Store) ClaimAndScore(ctx context.Context, now time.Time, limit int, fn func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error)) (int, error) {
	if err := store.CheckClaim(limit, fn); err != nil {
		return 0, fmt.Errorf("sqlite claim and score (%s): %w", s.path, err)
	}
	now = now.UTC()
	claimedN := 0
	err := s.writeTx(ctx, "claim and score", func(tx *sql.Tx) error {
		claimed, err := s.queryPredictionsOnly(ctx, tx, "claim and score: claim", claimSQL, micros(now), limit)
		if err != nil {
			return err
		}
		if len(claimed) == 0 {
			return nil
		}
		ids := make(map[string]bool, len(claimed))
		for _, p := range claimed {
			ids[p.ID] = false
		}
		updates, err := fn(ctx, claimed)
		if err != nil {
			return fmt.Errorf("sqlite claim and score (%s): score function failed for %d claimed predictions: %w", s.path, len(claimed), err)
		}
		updates, err = store.NormalizeScoreUpdates(claimed, updates, now)
		if err != nil {
			return fmt.Errorf("sqlite claim and score (%s): %w", s.path, err)
		}
		truths, truthIDs := store.ScoreGroundTruths(updates)
		if len(truths) > 0 {
			gtStmt, err := s.txStmt(ctx, tx, `INSERT INTO ground_truths (id, truth_jsonb) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`)
			if err != nil {
				return s.wrap("claim and score: prepare ground truths", err)
			}
			defer gtStmt.Close()
			for _, g := range truths {
				if _, err := gtStmt.ExecContext(ctx, g.ID, string(g.Truth)); err != nil {
					return s.wrap(fmt.Sprintf("claim and score: insert ground truth %q", g.ID), err)
				}
			}
		}
		scoreStmt, err := s.txStmt(ctx, tx, `UPDATE predictions SET
    score_value = ?, score_success = ?, score_failed_reason = ?, score_scored_at = ?,
    status = CASE WHEN ? <> '' THEN ? ELSE status END, ground_truth_id = COALESCE(?, ground_truth_id)
WHERE id = ? AND score_scored_at IS NULL AND score_success IS NULL`)
		if err != nil {
			return s.wrap("claim and score: prepare", err)
		}
		defer scoreStmt.Close()
		statusStmt, err := s.txStmt(ctx, tx, `UPDATE predictions SET status = ?, score_failed_reason = ?,
    ground_truth_id = COALESCE(?, ground_truth_id)
WHERE id = ? AND score_scored_at IS NULL AND score_success IS NULL`)
		if err != nil {
			return s.wrap("claim and score: prepare", err)
		}
		defer statusStmt.Close()
		byID := make(map[string]store.Prediction, len(claimed))
		for _, p := range claimed {
			byID[p.ID] = p
		}
		var scoredNow []store.Prediction // scores applied: their rollups
		for i, u := range updates {
			truth := sql.NullString{String: truthIDs[i], Valid: truthIDs[i] != ""}
			if sc := u.Score; sc != nil {
				var value sql.NullFloat64
				if sc.Value != nil {
					value = sql.NullFloat64{Float64: *sc.Value, Valid: true}
				}
				res, err := scoreStmt.ExecContext(ctx, value, sc.Success, sql.NullString{String: sc.FailedReason, Valid: sc.FailedReason != ""}, micros(sc.ScoredAt),
					u.Status, u.Status, truth, u.PredictionID)
				if err != nil {
					return s.wrap(fmt.Sprintf("claim and score: score %q", u.PredictionID), err)
				}
				if n, err := res.RowsAffected(); err != nil {
					return s.wrap("claim and score: rows affected", err)
				} else if n > 0 {
					scoredNow = append(scoredNow, store.ScoredPrediction(byID[u.PredictionID], u))
				}
				continue
			}
			if _, err := statusStmt.ExecContext(ctx, u.Status, sql.NullString{String: u.Reason, Valid: u.Reason != ""}, truth, u.PredictionID); err != nil {
				return s.wrap(fmt.Sprintf("claim and score: set status of %q", u.PredictionID), err)
			}
		}
		claimedN = len(claimed)
		if err := s.upsertRollups(ctx, tx, store.RollupsOf(scoredNow)); err != nil {
			return err
		}
		changed := make([]store.Prediction, 0, len(updates))
		for _, u := range updates {
			changed = append(changed, byID[u.PredictionID])
		}
		return s.bumpChartRevisions(ctx, tx, store.ChartDaysOfPredictions(changed))
	})
	if err != nil {
		return 0, err
	}
	return claimedN, nil
}

// ListPredictions returns predictions matching q ordered by performed_at,
// then id. Zero From/To mean no bound; Limit 0 means 1000; negative Limit
// or Offset is refused with store.ErrInvalidValue.
func (s *Store) ListPredictions(ctx context.Context, q store.PredictionQuery) ([]store.Prediction, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("sqlite list predictions (%s): %w", s.path, err)
	}
	var where []string
	var args []any
	if len(q.ModelIDs) > 0 {
		where = append(where, `model_id IN (SELECT value FROM json_each(?))`)
		args = append(args, jsonArray(q.ModelIDs))
	}
	if !q.From.IsZero() {
		where = append(where, `performed_at >= ?`)
		args = append(args, micros(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, `performed_at <= ?`)
		args = append(args, micros(q.To))
	}
	if q.ScoredOnly {
		where = append(where, scored)
	}
	if q.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, q.Status)
	}
	sqlText := `SELECT ` + readPredictionCols + ` FROM predictions`
	if len(where) > 0 {
		sqlText += ` WHERE ` + strings.Join(where, ` AND `)
	}
	sqlText += ` ORDER BY performed_at, id LIMIT ? OFFSET ?`
	args = append(args, q.Limit, q.Offset)
	if q.WithoutInput {
		return s.queryPredictionsOnly(ctx, nil, "list predictions", sqlText, args...)
	}
	return s.queryPredictions(ctx, nil, "list predictions", sqlText, args...)
}

// WindowPredictions returns modelID's predictions that count in an
// aggregation window: scored ones (successful or not) and non-answers
// (FAILED, TIMEOUT, CRASHED, ABSENT, BAD_IMPLEMENTATION), with resolvable_at
// in [from, to] (zero = no bound), ordered by resolvable_at then id, at most
// limit (0 = 1000).
func (s *Store) WindowPredictions(ctx context.Context, modelID string, from, to time.Time, limit int) ([]store.Prediction, error) {
	if err := s.checkSchema(ctx); err != nil {
		return nil, err
	}
	limit, err := store.CheckLimit("limit", limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite window predictions (%s): %w", s.path, err)
	}
	lo, hi := bounds(from, to)
	return s.queryPredictions(ctx, nil, "window predictions", `SELECT `+readPredictionCols+` FROM predictions
WHERE model_id = ? AND resolvable_at >= ? AND resolvable_at <= ? AND (`+scored+` OR status IN `+nonAnswerStatuses+`)
ORDER BY resolvable_at, id LIMIT ?`, modelID, lo, hi, limit)
}

// bounds converts an inclusive time range (zero = unbounded) to microsecond
// bounds.
func bounds(from, to time.Time) (int64, int64) {
	lo, hi := int64(-1<<63), int64(1<<63-1)
	if !from.IsZero() {
		lo = micros(from)
	}
	if !to.IsZero() {
		hi = micros(to)
	}
	return lo, hi
}

// nonAnswerStatuses are the statuses of predictions a model was expected
// to make and did not (store.ModelScoreStat), as an SQL list.
const nonAnswerStatuses = `('FAILED', 'TIMEOUT', 'CRASHED', 'ABSENT', 'BAD_IMPLEMENTATION')`

// LatestPerformedAt returns the newest performed_at of configID's
// predictions, or the zero time and an error wrapping store.ErrNotFound.
// It reads ix_predictions_performed_at backwards (00012): immediate for a
// schedule that is predicting, a scan for one without any prediction.
func (s *Store) LatestPerformedAt(ctx context.Context, configID string) (time.Time, error) {
	if err := s.checkSchema(ctx); err != nil {
		return time.Time{}, err
	}
	var v sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MAX(performed_at) FROM predictions WHERE prediction_config_id = ?`, configID).Scan(&v); err != nil {
		return time.Time{}, s.wrap("latest performed_at", err)
	}
	if !v.Valid {
		return time.Time{}, fmt.Errorf("sqlite latest performed_at (%s): no predictions of schedule %q: %w", s.path, configID, store.ErrNotFound)
	}
	return fromMicros(v.Int64), nil
}

// CountPredictions counts predictions with the given status (all when
// status is empty).
func (s *Store) CountPredictions(ctx context.Context, status string) (int64, error) {
	if err := s.checkSchema(ctx); err != nil {
		return 0, err
	}
	var n int64
	var err error
	if status == "" {
		err = s.queryRow(ctx, `SELECT COUNT(*) FROM predictions`).Scan(&n)
	} else {
		err = s.queryRow(ctx, `SELECT COUNT(*) FROM predictions WHERE status = ?`, status).Scan(&n)
	}
	if err != nil {
		return 0, s.wrap("count predictions", err)
	}
	return n, nil
}
