package postgres

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// lockInstantsSQL locks up to $3 instants of the claim queue due at $1
// and after $2 (score_queue, migration 00019), oldest first, skipping the
// instants another transaction holds: a claiming one, or one inserting
// predictions of that instant (enqueueSQL).
const lockInstantsSQL = `SELECT resolvable_at FROM score_queue WHERE resolvable_at <= $1 AND resolvable_at > $2
ORDER BY resolvable_at LIMIT $3 FOR UPDATE OF score_queue SKIP LOCKED`

// claimSQL reads up to $2 pending predictions of the instants $1, oldest
// resolvable_at first. It must run as a statement after lockInstantsSQL
// (in READ COMMITTED, each statement reads what was committed when it
// started): it then sees every score written by an earlier holder of the
// instants' locks, so no prediction is handed out twice.
const claimSQL = `SELECT ` + predictionColumns + `
FROM predictions` + scoresJoin + `
WHERE resolvable_at = ANY($1::timestamptz[]) AND ` + pendingPredicate + `
ORDER BY resolvable_at, id
LIMIT $2`

// dequeueSQL deletes the locked instants $1 that have no pending
// prediction left (after this transaction's scores and statuses).
const dequeueSQL = `DELETE FROM score_queue AS q WHERE q.resolvable_at = ANY($1::timestamptz[])
AND NOT EXISTS (SELECT 1 FROM predictions WHERE predictions.resolvable_at = q.resolvable_at AND ` + pendingPredicate + `)`

// insertScoresSQL records the scores of a batch of updates (those with a
// Score) as rows of prediction_scores (migration 00019): a score never
// rewrites its prediction's row. Every prediction it names was claimed
// unscored by claimSQL in the same transaction and its instant stays
// locked until commit, so nobody can have scored it meanwhile. A score
// references its prediction by seq (00022), found by the id in
// predictions_pkey; an id missing there would insert nothing, so the
// caller compares the rows written with the scores sent.
const insertScoresSQL = `
INSERT INTO prediction_scores (prediction_seq, value, success, failed_reason, scored_at, ground_truth_id)
SELECT p.seq, u.value, u.success, u.reason, u.scored_at, u.truth_id::uuid
FROM unnest($1::text[], $2::bool[], $3::float8[], $4::bool[], $5::text[], $6::timestamptz[], $7::text[])
     AS u(id, scored, value, success, reason, scored_at, truth_id)
JOIN predictions p ON p.id = u.id
WHERE u.scored`

// applyStatusesSQL records the Status of the updates that have one on the
// prediction row: its one UPDATE, rare (the score worker sends a Status
// only without a Score: UNRESOLVED). An update without a Score also
// records its Reason (in score_failed_reason, kept when empty) and ground
// truth id there; with a Score they are the score's (insertScoresSQL). The
// join is on the primary key alone, because an extra "still unscored"
// filter made the planner estimate almost no matching rows and pick a
// sequential scan of the whole table for every batch.
const applyStatusesSQL = `
UPDATE predictions AS p SET
    status = u.status,
    score_failed_reason = CASE WHEN u.scored THEN p.score_failed_reason ELSE COALESCE(u.reason, p.score_failed_reason) END,
    ground_truth_id = CASE WHEN u.scored THEN p.ground_truth_id ELSE COALESCE(u.truth_id::uuid, p.ground_truth_id) END
FROM unnest($1::text[], $2::bool[], $3::text[], $4::text[], $5::text[])
     AS u(id, scored, reason, status, truth_id)
WHERE p.id = u.id AND u.status IS NOT NULL`

// firstInstants is how many instants claimDue locks first; it locks
// twice as many each time after, as long as it lacks predictions.
const firstInstants = 16

// claimDue locks due instants of the claim queue and reads up to limit of
// their pending predictions, oldest first: it locks a few instants
// (lockInstantsSQL), reads theirs (claimSQL), and locks more while it has
// fewer than limit and there are more, twice as many each time (so an
// instant holding thousands of predictions is locked alone, and instants
// of a few each are locked by the hundred in a few round trips). Instants
// found without a pending prediction (none is expected: an instant is
// deleted in the transaction that scores its last prediction) are deleted.
// It also says whether the last instant of the predictions may have more
// pending ones (the read stopped at limit inside it): every other instant
// of the predictions had no pending one but these.
func claimDue(ctx context.Context, tx pgx.Tx, now time.Time, limit int) (preds []store.Prediction, lastCut bool, err error) {
	after := time.Time{} // instants after this one: none locked yet
	for chunk := min(firstInstants, limit); len(preds) < limit; chunk = min(2*chunk, limit) {
		rows, err := tx.Query(ctx, lockInstantsSQL, now.UTC(), after, chunk)
		if err != nil {
			return nil, false, fmt.Errorf("lock due instants: %w", err)
		}
		instants, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return nil, false, fmt.Errorf("lock due instants: %w", err)
		}
		if len(instants) == 0 {
			break
		}
		after = instants[len(instants)-1]
		want := limit - len(preds)
		rows, err = tx.Query(ctx, claimSQL, instants, want)
		if err != nil {
			return nil, false, fmt.Errorf("claim due predictions: %w", err)
		}
		got, err := pgx.CollectRows(rows, scanPrediction)
		if err != nil {
			return nil, false, fmt.Errorf("claim due predictions: %w", err)
		}
		if len(got) == 0 {
			if _, err := tx.Exec(ctx, dequeueSQL, instants); err != nil {
				return nil, false, fmt.Errorf("dequeue %d instants without pending predictions: %w", len(instants), err)
			}
		}
		preds, lastCut = append(preds, got...), len(got) == want
		if len(instants) < chunk {
			break // no more due instants free
		}
	}
	return preds, lastCut, nil
}

// ClaimAndScore claims up to limit (> 0) SUCCESS predictions with
// resolvable_at <= now and no score, oldest resolvable_at first (claimDue:
// their instants in the claim queue are locked with SELECT ... FOR UPDATE
// SKIP LOCKED, so a concurrent caller skips a whole instant), calls fn
// with them (fn is not called when nothing is due; they carry their
// InputID but not the input itself, see store.Predictions.ClaimAndScore)
// and writes fn's updates in the same transaction: the scores as rows of
// prediction_scores (insertScoresSQL), the statuses on the predictions
// (applyStatusesSQL), and deletes the instants left without a pending
// prediction (doneInstants). Concurrent callers (any process) never get
// the same prediction. An update with a Score records the score columns (zero
// ScoredAt = now; empty FailedReason falls back to Reason; a non-empty
// Status is recorded too); an update without one records its terminal Status and
// Reason (in score_failed_reason) and leaves the prediction unscored.
// Claimed predictions without an update are released unchanged. Updates
// naming a prediction that was not claimed or one already updated, having
// neither Score nor Status, or carrying NaN/±Inf, fail with
// store.ErrInvalidValue; an error from fn is returned wrapped; in both cases
// nothing is written and 0 is returned. Otherwise it returns the number of
// predictions claimed.
func (s *Store) ClaimAndScore(ctx context.Context, now time.Time, limit int,
	fn func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error)) (int, error) {
	if err := store.CheckClaim(limit, fn); err != nil {
		return 0, fmt.Errorf("postgres store claim and score: %w", err)
	}
	var claimed int
	var fnErr error
	err := s.inTx(ctx, "claim and score", func(tx pgx.Tx) error {
		preds, lastCut, err := claimDue(ctx, tx, now, limit)
		if err != nil {
			return err
		}
		if len(preds) == 0 {
			return nil
		}
		updates, err := fn(ctx, preds)
		if err != nil {
			fnErr = err
			return err
		}
		updates, err = store.NormalizeScoreUpdates(preds, updates, orNow(now))
		if err != nil {
			fnErr = err
			return err
		}
		u := buildScoreUpdates(updates)
		if len(u.truthRows) > 0 {
			ids, texts := make([]string, len(u.truthRows)), make([]string, len(u.truthRows))
			for i, g := range u.truthRows {
				ids[i], texts[i] = truthHex(g.ID), string(g.Truth)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO ground_truths (id, truth_jsonb)
SELECT u.id::uuid, u.truth::jsonb FROM unnest($1::text[], $2::text[]) AS u(id, truth) ON CONFLICT (id) DO NOTHING`, ids, texts); err != nil {
				return fmt.Errorf("write %d ground truths: %w", len(ids), err)
			}
		}
		if u.nScored > 0 {
			tag, err := tx.Exec(ctx, insertScoresSQL, u.ids, u.scored, u.values, u.successes, u.reasons, u.scoredAt, u.truths)
			if err != nil {
				return fmt.Errorf("write %d scores: %w", u.nScored, err)
			}
			if n := tag.RowsAffected(); n != int64(u.nScored) {
				return fmt.Errorf("write scores: expected %d scores written, found %d (a scored prediction missing from predictions)", u.nScored, n)
			}
		}
		if u.nStatuses > 0 {
			if _, err := tx.Exec(ctx, applyStatusesSQL, u.ids, u.scored, u.reasons, u.statuses, u.truths); err != nil {
				return fmt.Errorf("write %d statuses: %w", u.nStatuses, err)
			}
		}
		// Every claimed row is locked and was unscored: each Score applies.
		byID := make(map[string]store.Prediction, len(preds))
		for _, p := range preds {
			byID[p.ID] = p
		}
		var scoredNow []store.Prediction
		changed := make([]store.Prediction, 0, len(updates))
		for _, up := range updates {
			changed = append(changed, byID[up.PredictionID])
			if up.Score != nil {
				scoredNow = append(scoredNow, store.ScoredPrediction(byID[up.PredictionID], up))
			}
		}
		if err := upsertRollups(ctx, tx, store.RollupsOf(scoredNow)); err != nil {
			return err
		}
		if err := bumpChartRevisions(ctx, tx, store.ChartDaysOfPredictions(changed)); err != nil {
			return err
		}
		done, check := doneInstants(preds, updates, lastCut)
		if len(done) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM score_queue WHERE resolvable_at = ANY($1::timestamptz[])`, done); err != nil {
				return fmt.Errorf("dequeue %d instants scored: %w", len(done), err)
			}
		}
		if check != nil {
			if _, err := tx.Exec(ctx, dequeueSQL, []time.Time{*check}); err != nil {
				return fmt.Errorf("dequeue the last instant claimed: %w", err)
			}
		}
		claimed = len(preds)
		return nil
	})
	if err != nil {
		if fnErr != nil && errors.Is(err, fnErr) {
			return 0, fmt.Errorf("postgres store claim and score: %w", fnErr)
		}
		return 0, err
	}
	return claimed, nil
}

// doneInstants returns the instants of the claim queue that the updates
// leave without a pending prediction, and the one to check with
// dequeueSQL (nil for none). claimDue read every pending prediction of each
// instant of preds (the instant is locked: a prediction of it inserted
// since waits for this transaction, see enqueueSQL), except maybe the last
// one when lastCut: an instant is done when every prediction of it got a
// Score or a Status other than SUCCESS; the last one, when cut and done as
// far as preds go, is checked.
func doneInstants(preds []store.Prediction, updates []store.ScoreUpdate, lastCut bool) ([]time.Time, *time.Time) {
	resolved := make(map[string]bool, len(updates))
	for _, u := range updates {
		resolved[u.PredictionID] = u.Score != nil || (u.Status != "" && u.Status != store.StatusSuccess)
	}
	var done []time.Time
	for i := 0; i < len(preds); {
		at, all := preds[i].ResolvableAt, true
		for ; i < len(preds) && preds[i].ResolvableAt.Equal(at); i++ {
			all = all && resolved[preds[i].ID]
		}
		if all {
			done = append(done, at)
		}
	}
	if n := len(done); lastCut && n > 0 && done[n-1].Equal(preds[len(preds)-1].ResolvableAt) {
		return done[:n-1], &done[n-1]
	}
	return done, nil
}

// truthHex returns what the uuid columns ground_truths.id and
// predictions.ground_truth_id (00017) hold for a ground truth id
// (store.GroundTruthID: 16 bytes, unpadded base64url): the bytes in hex
// ("" stays ""). An id that is not 16 bytes of base64url is passed on as it
// is, and fails the statement with store.ErrInvalidValue (class 22, see
// classify). Reads never need the id back: they join on it.
func truthHex(id string) string {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if id == "" || err != nil || len(b) != 16 {
		return id
	}
	return hex.EncodeToString(b)
}

type scoreArrays struct {
	ids       []string
	scored    []bool
	values    []*float64
	successes []*bool
	reasons   []*string
	scoredAt  []*time.Time
	statuses  []*string
	truths    []*string // ground truth ids (store.ScoreGroundTruths)
	truthRows []store.GroundTruth
	nScored   int // updates with a Score
	nStatuses int // updates with a Status
}

// buildScoreUpdates turns normalised updates (store.NormalizeScoreUpdates)
// into column arrays.
func buildScoreUpdates(updates []store.ScoreUpdate) scoreArrays {
	n := len(updates)
	a := scoreArrays{
		ids: make([]string, 0, n), scored: make([]bool, 0, n), values: make([]*float64, 0, n),
		successes: make([]*bool, 0, n), reasons: make([]*string, 0, n), scoredAt: make([]*time.Time, 0, n),
		statuses: make([]*string, 0, n), truths: make([]*string, 0, n),
	}
	var truthIDs []string
	a.truthRows, truthIDs = store.ScoreGroundTruths(updates)
	for i := range updates {
		u := &updates[i]
		a.ids = append(a.ids, u.PredictionID)
		a.statuses = append(a.statuses, nullString(u.Status))
		if u.Status != "" {
			a.nStatuses++
		}
		a.truths = append(a.truths, nullString(truthHex(truthIDs[i])))
		if sc := u.Score; sc != nil {
			a.nScored++
			a.scored = append(a.scored, true)
			a.values = append(a.values, sc.Value)
			a.successes = append(a.successes, &sc.Success)
			a.reasons = append(a.reasons, nullString(sc.FailedReason))
			a.scoredAt = append(a.scoredAt, &sc.ScoredAt)
			continue
		}
		a.scored = append(a.scored, false)
		a.values = append(a.values, nil)
		a.successes = append(a.successes, nil)
		a.reasons = append(a.reasons, nullString(u.Reason))
		a.scoredAt = append(a.scoredAt, nil)
	}
	return a
}
