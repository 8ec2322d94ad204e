package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/internal/store/inputcodec"
)

// predictionColumns is the column list every prediction read selects, in
// the order scanPrediction expects. The score is the prediction's row of
// prediction_scores (migration 00019), joined as ps (scoresJoin). The
// ground truth is the row of table ground_truths the score references, else
// the one a terminal status recorded (00019), else the inline value of a
// row scored before 00008 (00004); the scope likewise from table scopes
// (00011) or inline. Every query naming these columns reads the table
// predictions unaliased, joined with scoresJoin.
const predictionColumns = `id, model_id, prediction_config_id, scope_key,
	COALESCE((SELECT s.scope_jsonb FROM scopes s WHERE s.id = predictions.scope_id), scope_jsonb) AS scope_jsonb, status, exec_time_ms,
	inference_input_jsonb, inference_output_jsonb, meta_jsonb, performed_at, resolvable_at,
	ps.value, ps.success, ps.failed_reason, ps.scored_at,
	` + groundTruthColumn + `, input_id::text`

// groundTruthColumn is the ground truth of predictionColumns.
const groundTruthColumn = `COALESCE((SELECT g.truth_jsonb FROM ground_truths g WHERE g.id = COALESCE(ps.ground_truth_id, predictions.ground_truth_id)), ground_truth_jsonb) AS ground_truth_jsonb`

// scoresJoin joins a prediction's score (migration 00019) as ps, by the
// prediction's seq (00022): no row while it is not scored.
const scoresJoin = ` LEFT JOIN prediction_scores ps ON ps.prediction_seq = predictions.seq`

// scanPrediction reads one row selected with predictionColumns. A
// prediction is scored when it has a row of prediction_scores (whose
// success is always set; a score moved from the columns of the prediction
// by 00019 has scored_at or success set).
func scanPrediction(r pgx.CollectableRow) (store.Prediction, error) {
	var p store.Prediction
	var configID, reason *string
	var scope, in, out, meta, truth []byte
	var value *float64
	var success *bool
	var scoredAt *time.Time
	var inputID *string
	if err := r.Scan(&p.ID, &p.ModelID, &configID, &p.ScopeKey, &scope, &p.Status, &p.ExecTimeMs,
		&in, &out, &meta, &p.PerformedAt, &p.ResolvableAt, &value, &success, &reason, &scoredAt, &truth, &inputID); err != nil {
		return p, err
	}
	if truth != nil {
		p.GroundTruth = rawJSON(truth)
	}
	p.PredictionConfigID, p.InputID = deref(configID), inputIDOf(deref(inputID))
	p.Scope, p.InferenceInput, p.InferenceOutput, p.Meta = rawJSON(scope), rawJSON(in), rawJSON(out), rawJSON(meta)
	p.PerformedAt, p.ResolvableAt = utc(p.PerformedAt), utc(p.ResolvableAt)
	if scoredAt != nil || success != nil {
		p.Score = &store.Score{Value: value, Success: deref(success), FailedReason: deref(reason), ScoredAt: deref(utcPtr(scoredAt))}
	}
	return p, nil
}

// predictionArrays is a batch of predictions as column arrays for unnest.
type predictionArrays struct {
	ids, modelIDs, scopeKeys, statuses, inputIDs, outputs, metas []string
	scopeIDs                                                     []int64
	scopeRows                                                    []store.Scope
	configIDs, reasons                                           []*string
	execMs                                                       []float64
	performedAt, resolvableAt                                    []time.Time
	values                                                       []*float64
	successes                                                    []*bool
	scoredAt                                                     []*time.Time
}

// buildPredictions turns normalised predictions (store.NormalizePredictions)
// into column arrays.
func buildPredictions(preds []store.Prediction) predictionArrays {
	n := len(preds)
	a := predictionArrays{
		ids: make([]string, 0, n), modelIDs: make([]string, 0, n), scopeKeys: make([]string, 0, n),
		statuses: make([]string, 0, n), inputIDs: make([]string, 0, n),
		outputs: make([]string, 0, n), metas: make([]string, 0, n), configIDs: make([]*string, 0, n),
		reasons: make([]*string, 0, n), execMs: make([]float64, 0, n), performedAt: make([]time.Time, 0, n),
		resolvableAt: make([]time.Time, 0, n), values: make([]*float64, 0, n), successes: make([]*bool, 0, n),
		scoredAt: make([]*time.Time, 0, n),
	}
	a.scopeRows, a.scopeIDs = store.PredictionScopes(preds)
	for i := range preds {
		p := &preds[i]
		var value *float64
		var success *bool
		var reason *string
		var scored *time.Time
		if sc := p.Score; sc != nil {
			value = sc.Value
			success = &sc.Success
			reason = nullString(sc.FailedReason)
			scored = &sc.ScoredAt
		}
		a.ids = append(a.ids, p.ID)
		a.modelIDs = append(a.modelIDs, p.ModelID)
		a.configIDs = append(a.configIDs, nullString(p.PredictionConfigID))
		a.scopeKeys = append(a.scopeKeys, p.ScopeKey)
		a.statuses = append(a.statuses, p.Status)
		a.execMs = append(a.execMs, p.ExecTimeMs)
		a.inputIDs = append(a.inputIDs, inputHex(p.InputID))
		a.outputs = append(a.outputs, string(p.InferenceOutput))
		a.metas = append(a.metas, string(p.Meta))
		a.performedAt = append(a.performedAt, p.PerformedAt)
		a.resolvableAt = append(a.resolvableAt, p.ResolvableAt)
		a.values = append(a.values, value)
		a.successes = append(a.successes, success)
		a.reasons = append(a.reasons, reason)
		a.scoredAt = append(a.scoredAt, scored)
	}
	return a
}

// insertPredictionsSQL inserts predictions that do not exist yet (by id);
// existing ids, including repeats inside the batch (the first one wins),
// are skipped. The score of an inserted prediction that has one goes to
// prediction_scores, and the instant of an inserted unscored SUCCESS
// prediction to the claim queue (enqueueSQL). It returns the ids inserted,
// one row each.
const insertPredictionsSQL = `
WITH u AS (
SELECT DISTINCT ON (id) * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::float8[],
    $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[],
    $13::float8[], $14::bool[], $15::text[], $16::timestamptz[]) WITH ORDINALITY
    AS u(id, model_id, config_id, scope_key, scope_id, status, exec_ms, input_id, output, meta,
         performed_at, resolvable_at, value, success, reason, scored_at, n)
ORDER BY id, n),
ins AS (
INSERT INTO predictions (id, model_id, prediction_config_id, scope_key, scope_id, status, exec_time_ms,
    input_id, inference_output_jsonb, meta_jsonb, performed_at, resolvable_at)
SELECT u.id, u.model_id, u.config_id, u.scope_key, u.scope_id, u.status, u.exec_ms,
    NULLIF(u.input_id, '')::uuid, u.output::jsonb, u.meta::jsonb, u.performed_at, u.resolvable_at
FROM u ORDER BY u.n
ON CONFLICT (id) DO NOTHING
RETURNING id, seq),
scored AS (
INSERT INTO prediction_scores (prediction_seq, value, success, failed_reason, scored_at)
SELECT ins.seq, u.value, u.success, u.reason, u.scored_at FROM u JOIN ins ON ins.id = u.id
WHERE u.success IS NOT NULL OR u.scored_at IS NOT NULL),
pending AS (
SELECT u.resolvable_at FROM u JOIN ins ON ins.id = u.id
WHERE u.status = 'SUCCESS' AND u.success IS NULL AND u.scored_at IS NULL),
queued AS (` + enqueueSQL + `)
SELECT id FROM ins`

// insertUnscoredPredictionsSQL is insertPredictionsSQL for a batch without
// scores (SavePredictCycle's batch path, what the predict worker stores):
// the rows go in array order, so a repeat inside the batch is skipped as a
// conflict with its first occurrence, and the instants of the inserted
// SUCCESS rows go to the claim queue straight from RETURNING (enqueueSQL,
// unchanged). Without the DISTINCT ON sort, the ordinality re-sort and the
// joins of the scored path, a 10k-row statement takes ~13% less time
// (BenchmarkInsertPredictions10k). It returns how many rows were inserted.
const insertUnscoredPredictionsSQL = `
WITH ins AS (
INSERT INTO predictions (id, model_id, prediction_config_id, scope_key, scope_id, status, exec_time_ms,
    input_id, inference_output_jsonb, meta_jsonb, performed_at, resolvable_at)
SELECT u.id, u.model_id, u.config_id, u.scope_key, u.scope_id, u.status, u.exec_ms,
    NULLIF(u.input_id, '')::uuid, u.output::jsonb, u.meta::jsonb, u.performed_at, u.resolvable_at
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::float8[],
    $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[])
    AS u(id, model_id, config_id, scope_key, scope_id, status, exec_ms, input_id, output, meta,
         performed_at, resolvable_at)
ON CONFLICT (id) DO NOTHING
RETURNING status, resolvable_at),
pending AS (
SELECT resolvable_at FROM ins WHERE status = 'SUCCESS'),
queued AS (` + enqueueSQL + `)
SELECT count(*) FROM ins`

// unscoredPredictionArgs returns the arguments of
// insertUnscoredPredictionsSQL: predictionArgs without the score columns.
func unscoredPredictionArgs(pa predictionArrays) []any {
	return predictionArgs(pa)[:12]
}

// pendingPredicate selects the predictions the claim hands out once due:
// SUCCESS and without a score. score_queue (migration 00019) holds an
// instant while a prediction of that resolvable_at may be pending.
const pendingPredicate = `(predictions.status = 'SUCCESS' AND NOT EXISTS (SELECT 1 FROM prediction_scores sc WHERE sc.prediction_seq = predictions.seq))`

// enqueueSQL adds the distinct resolvable_at of the CTE pending to the
// claim queue, in order. On a conflict it locks the existing row without
// changing it (DO UPDATE ... WHERE false locks, DO NOTHING would not): a
// claim holding that instant may be deleting it, not seeing the
// predictions this transaction inserts; the lock waits for it, and if the
// row is gone the instant is inserted again.
const enqueueSQL = `INSERT INTO score_queue AS q (resolvable_at)
SELECT DISTINCT resolvable_at FROM pending ORDER BY resolvable_at
ON CONFLICT (resolvable_at) DO UPDATE SET resolvable_at = q.resolvable_at WHERE false`

// checkReferencesSQL returns up to five of the model ids ($1) and up to
// five of the schedule ids ($2) that do not exist (referenceArgs,
// referenceError).
const checkReferencesSQL = `SELECT
    ARRAY(SELECT m FROM unnest($1::text[]) AS m WHERE NOT EXISTS (SELECT 1 FROM models WHERE id = m) ORDER BY m LIMIT 5),
    ARRAY(SELECT c FROM unnest($2::text[]) AS c WHERE NOT EXISTS (SELECT 1 FROM scheduled_prediction_configs WHERE id = c) ORDER BY c LIMIT 5)`

// referenceArgs returns the arguments of checkReferencesSQL: the distinct
// model ids and schedule ids the predictions reference.
func referenceArgs(pa predictionArrays) []any {
	models := distinct(pa.modelIDs)
	configs := []string{}
	seen := map[string]bool{}
	for _, c := range pa.configIDs {
		if c != nil && !seen[*c] {
			seen[*c] = true
			configs = append(configs, *c)
		}
	}
	return []any{models, configs}
}

// readReferenceCheck reads the answer of checkReferencesSQL: a missing
// model or schedule fails with store.ErrInvalidValue naming up to five ids.
func readReferenceCheck(row pgx.Row) error {
	var missingModels, missingConfigs []string
	if err := row.Scan(&missingModels, &missingConfigs); err != nil {
		return fmt.Errorf("check model and schedule references: %w", err)
	}
	if len(missingModels) > 0 {
		return fmt.Errorf("predictions reference unknown models %q (expected models upserted first): %w", missingModels, store.ErrInvalidValue)
	}
	if len(missingConfigs) > 0 {
		return fmt.Errorf("predictions reference unknown schedules %q (expected rows of scheduled_prediction_configs): %w", missingConfigs, store.ErrInvalidValue)
	}
	return nil
}

// checkReferences verifies, with one query per batch, that every model id
// and schedule id the predictions reference exists (the set-wise
// equivalent of the foreign keys; see migrations/00001_init.sql). A missing
// one fails with store.ErrInvalidValue naming up to five ids.
func checkReferences(ctx context.Context, tx pgx.Tx, pa predictionArrays) error {
	return readReferenceCheck(tx.QueryRow(ctx, checkReferencesSQL, referenceArgs(pa)...))
}

// distinct returns the distinct values of xs in first-seen order.
func distinct(xs []string) []string {
	seen := make(map[string]bool, 16)
	out := make([]string, 0, 16)
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// predictionArgs returns the arguments of insertPredictionsSQL.
func predictionArgs(pa predictionArrays) []any {
	return []any{pa.ids, pa.modelIDs, pa.configIDs, pa.scopeKeys, pa.scopeIDs,
		pa.statuses, pa.execMs, pa.inputIDs, pa.outputs, pa.metas, pa.performedAt, pa.resolvableAt,
		pa.values, pa.successes, pa.reasons, pa.scoredAt}
}

// insertScopesSQL writes scopes (00011), insert if absent.
const insertScopesSQL = `INSERT INTO scopes (id, scope_jsonb)
SELECT u.id, u.scope::jsonb FROM unnest($1::bigint[], $2::text[]) AS u(id, scope) ON CONFLICT (id) DO NOTHING`

// scopeArgs returns the arguments of insertScopesSQL for the distinct
// scopes of the batch, or nil when it has none.
func scopeArgs(pa predictionArrays) []any {
	if len(pa.scopeRows) == 0 {
		return nil
	}
	ids, texts := make([]int64, len(pa.scopeRows)), make([]string, len(pa.scopeRows))
	for i, sc := range pa.scopeRows {
		ids[i], texts[i] = sc.ID, string(sc.Scope)
	}
	return []any{ids, texts}
}

// insertScopes writes the distinct scopes of the batch to table scopes
// (00011), insert if absent, before the predictions that reference them.
func insertScopes(ctx context.Context, tx pgx.Tx, pa predictionArrays) error {
	args := scopeArgs(pa)
	if args == nil {
		return nil
	}
	if _, err := tx.Exec(ctx, insertScopesSQL, args...); err != nil {
		return fmt.Errorf("write %d scopes: %w", len(pa.scopeRows), err)
	}
	return nil
}

// SavePredictCycle writes one predict cycle in one transaction: the models
// are upserted (as UpsertModels), then the predictions are inserted if their
// id is absent. It returns how many predictions were new. The rows are
// normalised by store.NormalizeModels and store.NormalizePredictions first
// (invalid values wrap store.ErrInvalidValue);
// a prediction whose model or schedule does not exist fails the whole cycle
// with store.ErrInvalidValue (checked set-wise, see checkReferences). On any error nothing is written.
//
// A cycle of unscored predictions (what the predict worker stores) is sent
// as one batch (inBatchTx): the statements in one round trip, COMMIT in a
// second, instead of one round trip per statement.
func (s *Store) SavePredictCycle(ctx context.Context, models []store.Model, predictions []store.Prediction) (int, error) {
	models, err := store.NormalizeModels(models)
	if err != nil {
		return 0, fmt.Errorf("postgres store save predict cycle: %w", err)
	}
	predictions, err = store.NormalizePredictions(predictions)
	if err != nil {
		return 0, fmt.Errorf("postgres store save predict cycle: %w", err)
	}
	ma, pa := buildModels(models), buildPredictions(predictions)
	inputs := store.PredictionInputs(predictions)
	batch, err := s.inputWriter.Encode(inputs)
	if err != nil {
		return 0, fmt.Errorf("postgres store save predict cycle: %w", err)
	}
	// An input of the batch whose in-batch base another writer had stored
	// (inputcodec.ErrForeignBase) rolls the transaction back once; it is
	// retried with every input encoded against committed bases only.
	var inserted int
	for retried := false; ; retried = true {
		inserted, err = s.savePredictCycleOnce(ctx, ma, pa, predictions, batch, inputs)
		if retried || !errors.Is(err, inputcodec.ErrForeignBase) {
			break
		}
		if batch, err = s.inputWriter.EncodeAgainstCommitted(inputs); err != nil {
			return 0, fmt.Errorf("postgres store save predict cycle: %w", err)
		}
	}
	if err != nil {
		return 0, err
	}
	s.inputWriter.Commit(batch)
	return inserted, nil
}

// savePredictCycleOnce is SavePredictCycle's transaction for one encoding
// of its inputs; it returns how many predictions were new.
func (s *Store) savePredictCycleOnce(ctx context.Context, ma modelArrays, pa predictionArrays, predictions []store.Prediction, batch *inputcodec.Batch, inputs []store.Input) (int, error) {
	if !anyScored(predictions) {
		return s.saveCycleBatch(ctx, ma, pa, batch, inputs, store.ChartDaysOfPredictions(predictions))
	}
	var inserted int
	err := s.inTx(ctx, "save predict cycle", func(tx pgx.Tx) error {
		if err := execUpsertModels(ctx, tx, ma); err != nil {
			return err
		}
		if err := checkReferences(ctx, tx, pa); err != nil {
			return err
		}
		if err := insertInputs(ctx, tx, batch, inputs); err != nil {
			return err
		}
		n, err := insertScoredPredictions(ctx, tx, pa, predictions)
		inserted = n
		if err != nil {
			return err
		}
		return bumpChartRevisions(ctx, tx, store.ChartDaysOfPredictions(predictions))
	})
	return inserted, err
}

// saveCycleBatch writes a cycle of unscored predictions with inBatchTx:
// upsert the models, check the references, insert the inputs, the scopes
// and the predictions, then bump the chart revisions revs; it returns how
// many predictions were new.
func (s *Store) saveCycleBatch(ctx context.Context, ma modelArrays, pa predictionArrays, batch *inputcodec.Batch, inputs []store.Input, revs []store.ChartRevision) (int, error) {
	var inserted int
	inArgs, scArgs := inputArgs(batch, inputs), scopeArgs(pa)
	err := s.inBatchTx(ctx, "save predict cycle", txOptions{}, func(b *pgx.Batch) {
		if len(ma.ids) > 0 {
			b.Queue(upsertModelsSQL, modelArgs(ma)...)
		}
		if len(pa.ids) == 0 {
			return
		}
		b.Queue(checkReferencesSQL, referenceArgs(pa)...)
		if inArgs != nil {
			b.Queue(insertInputsSQL, inArgs...)
		}
		if scArgs != nil {
			b.Queue(insertScopesSQL, scArgs...)
		}
		b.Queue(insertUnscoredPredictionsSQL, unscoredPredictionArgs(pa)...)
		b.Queue(bumpChartRevisionsSQL, chartRevisionArgs(revs)...)
	}, func(br pgx.BatchResults) error {
		if len(ma.ids) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("upsert %d models: %w", len(ma.ids), err)
			}
		}
		if len(pa.ids) == 0 {
			return nil
		}
		if err := readReferenceCheck(br.QueryRow()); err != nil {
			return err
		}
		if inArgs != nil {
			if err := readInsertedInputs(br.Query, batch); err != nil {
				return err
			}
		}
		if scArgs != nil {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("write %d scopes: %w", len(pa.scopeRows), err)
			}
		}
		if err := br.QueryRow().Scan(&inserted); err != nil {
			return fmt.Errorf("insert %d predictions: %w", len(pa.ids), err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("bump %d chart revisions: %w", len(revs), err)
		}
		return nil
	})
	return inserted, err
}

// query builds a WHERE clause with numbered arguments.
type query struct {
	where []string
	args  []any
}

func (q *query) add(cond string, arg any) {
	q.args = append(q.args, arg)
	q.where = append(q.where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(q.args))))
}

func (q *query) clause() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return fmt.Sprintf("$%d", len(q.args))
}

// ListPredictions returns predictions matching q ordered by performed_at
// ascending, then id: ModelIDs empty = all models, zero From/To = unbounded
// (bounds inclusive, on performed_at), ScoredOnly keeps scored ones, Status
// filters exactly, Limit 0 = 1000, Offset skips. A negative Limit or Offset
// fails with store.ErrInvalidValue.
func (s *Store) ListPredictions(ctx context.Context, q store.PredictionQuery) ([]store.Prediction, error) {
	q, err := q.Normalize()
	if err != nil {
		return nil, fmt.Errorf("postgres store list predictions: %w", err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	sql, args := listPredictionsQuery(q)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap("list predictions", err)
	}
	out, err := pgx.CollectRows(rows, scanPrediction)
	if err == nil && !q.WithoutInput {
		err = s.attachInputs(ctx, s.pool, out)
	}
	if err != nil {
		return nil, s.wrap("list predictions", err)
	}
	return out, nil
}

// listPredictionsQuery is ListPredictions' query of a normalised q and its
// arguments. With ModelIDs it reads an index of migration 00021 led by
// hashtext(model_id) (hashedMatch).
func listPredictionsQuery(q store.PredictionQuery) (string, []any) {
	var b query
	if len(q.ModelIDs) > 0 {
		b.add(hashedMatch("model_id", "?::text[]", true), q.ModelIDs)
	}
	if !q.From.IsZero() {
		b.add("performed_at >= ?", q.From)
	}
	if !q.To.IsZero() {
		b.add("performed_at <= ?", q.To)
	}
	if q.ScoredOnly {
		b.where = append(b.where, "(ps.scored_at IS NOT NULL OR ps.success IS NOT NULL)")
	}
	if q.Status != "" {
		b.add("status = ?", q.Status)
	}
	return `SELECT ` + predictionColumns + ` FROM predictions` + scoresJoin + b.clause() +
		` ORDER BY performed_at, id LIMIT ` + b.arg(q.Limit) + ` OFFSET ` + b.arg(q.Offset), b.args
}

// hashedMatch returns the predicate selecting the rows of predictions
// whose text column col equals val (an SQL expression of type text), or
// is one of val (of type text[]) when set is true, through the indexes of
// migration 00021, which hold hashtext(col) instead of col: the hash finds
// the index entries, the column compared on the row rejects another value
// with the same hash (a collision: hashtext('m65521') =
// hashtext('m107105')). Every query reading those indexes builds its
// predicate here, so none can name the hash without the column.
func hashedMatch(col, val string, set bool) string {
	if set {
		return `hashtext(` + col + `) IN (SELECT hashtext(x) FROM unnest(` + val + `) AS x) AND ` + col + ` = ANY(` + val + `)`
	}
	return `hashtext(` + col + `) = hashtext(` + val + `) AND ` + col + ` = ` + val
}

// WindowPredictions returns one model's predictions that count in an
// aggregation window: scored ones (successful or not) and non-answers
// (FAILED, TIMEOUT, CRASHED, ABSENT, BAD_IMPLEMENTATION), with resolvable_at
// in [from, to] (zero = unbounded), ordered by resolvable_at, then id, at
// most limit (0 = 1000): a page starting at from, so callers wanting the
// newest window pass a from bound.
func (s *Store) WindowPredictions(ctx context.Context, modelID string, from, to time.Time, limit int) ([]store.Prediction, error) {
	limit, err := store.CheckLimit("limit", limit)
	if err != nil {
		return nil, fmt.Errorf("postgres store window predictions of model %q: %w", modelID, err)
	}
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	sql, args := windowPredictionsQuery(modelID, from, to, limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("window predictions of model %q", modelID), err)
	}
	out, err := pgx.CollectRows(rows, scanPrediction)
	if err == nil {
		err = s.attachInputs(ctx, s.pool, out)
	}
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("window predictions of model %q", modelID), err)
	}
	return out, nil
}

// windowPredictionsQuery is WindowPredictions' query and its arguments
// (it reads ix_predictions_model_hash_resolvable, migration 00021:
// hashedMatch finds the model's entries and countedPredicate filters).
func windowPredictionsQuery(modelID string, from, to time.Time, limit int) (string, []any) {
	b := query{where: []string{countedPredicate}}
	b.add(hashedMatch("model_id", "?::text", false), modelID)
	if !from.IsZero() {
		b.add("resolvable_at >= ?", from.UTC())
	}
	if !to.IsZero() {
		b.add("resolvable_at <= ?", to.UTC())
	}
	return `SELECT ` + predictionColumns + ` FROM predictions` + scoresJoin + b.clause() +
		` ORDER BY resolvable_at, id LIMIT ` + b.arg(limit), b.args
}

// nonAnswerStatuses are the statuses of predictions a model was expected
// to make and did not (store.ModelScoreStat), as an SQL list.
const nonAnswerStatuses = `('FAILED', 'TIMEOUT', 'CRASHED', 'ABSENT', 'BAD_IMPLEMENTATION')`

// countedPredicate selects the predictions that count in an aggregation
// window: scored ones and non-answers (store.ModelScoreStat), on
// predictions joined with scoresJoin. It filters the rows read through
// ix_predictions_resolvable_at (ModelScoreStats) and
// ix_predictions_model_hash_resolvable (WindowPredictions).
const countedPredicate = `(ps.scored_at IS NOT NULL OR ps.success IS NOT NULL OR status IN ` + nonAnswerStatuses + `)`

// LatestPerformedAt returns the newest performed_at (UTC) of the
// schedule's predictions, or the zero time and an error wrapping
// store.ErrNotFound when it has none. It reads ix_predictions_performed_at
// backwards (00012): immediate for a schedule that is predicting, a scan
// for one without any prediction.
func (s *Store) LatestPerformedAt(ctx context.Context, configID string) (time.Time, error) {
	if err := s.ready(ctx); err != nil {
		return time.Time{}, err
	}
	var t *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(performed_at) FROM predictions WHERE prediction_config_id = $1`, configID).Scan(&t); err != nil {
		return time.Time{}, s.wrap(fmt.Sprintf("latest performed_at of schedule %q", configID), err)
	}
	if t == nil {
		return time.Time{}, fmt.Errorf("postgres store: latest performed_at of schedule %q: no predictions: %w", configID, store.ErrNotFound)
	}
	return t.UTC(), nil
}

// CountPredictions counts predictions with the given status (all when
// status is empty).
func (s *Store) CountPredictions(ctx context.Context, status string) (int64, error) {
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM predictions WHERE $1 = '' OR status = $1`, status).Scan(&n)
	if err != nil {
		return 0, s.wrap("count predictions", err)
	}
	return n, nil
}
