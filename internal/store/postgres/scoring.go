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

// claimSQL locks up to $2 unscored SUCCESS predictions due at $1, oldest
// resolvable_at first, skipping rows another transaction holds.
const claimSQL = `SELECT ` + predictionColumns + `
FROM predictions
WHERE status = 'SUCCESS' AND score_scored_at IS NULL AND score_success IS NULL AND resolvable_at <= $1
ORDER BY resolvable_at, id
LIMIT $2
FOR UPDATE SKIP LOCKED`

// applyScoresSQL writes a batch of score updates in one statement. Every
// row it names was claimed unscored by claimSQL in the same transaction and
// stays row-locked until commit, so nobody can have scored it meanwhile;
// the join is on the primary key alone, because an extra "still unscored"
// filter made the planner estimate almost no matching rows and pick a
// sequential scan of the whole table for every batch.
const applyScoresSQL = `
UPDATE predictions AS p SET
    status = COALESCE(u.status, p.status),
    score_value = CASE WHEN u.scored THEN u.value ELSE p.score_value END,
    score_success = CASE WHEN u.scored THEN u.success ELSE p.score_success END,
    score_failed_reason = CASE WHEN u.scored THEN u.reason ELSE COALESCE(u.reason, p.score_failed_reason) END,
    score_scored_at = CASE WHEN u.scored THEN u.scored_at ELSE p.score_scored_at END,
    ground_truth_id = COALESCE(u.truth_id::uuid, p.ground_truth_id)
FROM unnest($1::text[], $2::bool[], $3::float8[], $4::bool[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
     AS u(id, scored, value, success, reason, scored_at, status, truth_id)
WHERE p.id = u.id`

// ClaimAndScore claims up to limit (> 0) SUCCESS predictions with
// resolvable_at <= now and no score, oldest resolvable_at first, with
// SELECT ... FOR UPDATE SKIP LOCKED, calls fn with them (fn is not called
// when nothing is due; they carry their InputID but not the input itself,
// see store.Predictions.ClaimAndScore) and writes fn's updates with one batched UPDATE in
// the same transaction. Concurrent callers (any process) never get the same
// prediction. An update with a Score records the score columns (zero
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
		rows, err := tx.Query(ctx, claimSQL, now.UTC(), limit)
		if err != nil {
			return fmt.Errorf("claim due predictions: %w", err)
		}
		preds, err := pgx.CollectRows(rows, scanPrediction)
		if err != nil {
			return fmt.Errorf("claim due predictions: %w", err)
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
		if len(u.ids) > 0 {
			if _, err := tx.Exec(ctx, applyScoresSQL, u.ids, u.scored, u.values, u.successes, u.reasons, u.scoredAt, u.statuses, u.truths); err != nil {
				return fmt.Errorf("write %d score updates: %w", len(u.ids), err)
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
		a.truths = append(a.truths, nullString(truthHex(truthIDs[i])))
		if sc := u.Score; sc != nil {
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
