// Package score is the score worker: it scores resolvable predictions and
// rebuilds the leaderboard.
//
// Scoring (Worker.Score), at now = clock.Now(): store.ClaimAndScore claims
// up to BatchSize unscored SUCCESS predictions with resolvable_at <= now,
// oldest first, and this package, inside the claim's transaction:
//
//  1. calls ResolveGroundTruth once for the batch, with the prediction
//     records without their inference_input (sdk.Challenge);
//  2. sends the resolved ones to ScorePredictions in one batch and records
//     each score (value, success, failed_reason, scored_at = now);
//  3. records a terminal UNRESOLVED status with a reason for a prediction
//     whose resolver returned an error, or which is still not resolvable
//     more than GroundTruthMaxWait after its resolvable_at (reference defect
//     14.2 #14: no prediction is retried forever);
//  4. leaves the others (not resolvable yet, within the wait) unscored, so
//     they are claimed again by a later cycle.
//
// The resolver's ground truth is stored with the prediction (with its score,
// or with the UNRESOLVED status when the resolver returned one with its
// error), so every score can be recomputed from the database alone.
// Worker.Finish ends scoring of a replay: it claims every unscored SUCCESS
// prediction whatever its resolvable_at and makes those the resolver cannot
// resolve UNRESOLVED at once, so none is left SUCCESS without a score.
//
// Batches repeat until a claim returns fewer than BatchSize predictions or a
// full batch changed nothing (every claimed prediction still waiting for its
// ground truth). Each full batch that changed something may start one more
// concurrent lane of batches, up to Config.Concurrency (default 2), so one
// batch's store work overlaps another's plugin calls; concurrent claims
// never share a prediction (store.ClaimAndScore). A callable error or a store error rolls the batch back
// (nothing of it is written) and ends the cycle with the error; the next
// cycle retries.
//
// Which predictions are scored: only SUCCESS predictions (the store's claim
// selects them; reference defect 14.2 #13). FAILED, TIMEOUT, CRASHED,
// BAD_IMPLEMENTATION and ABSENT predictions are never passed to the scoring
// function, but they are never dropped either: they are non-answers
// (sdk.IsNonAnswer), as is a SUCCESS prediction scored with success false or
// a null value. In the default aggregation every non-answer enters the
// window means with the score of the non-answer rule (Config.Aggregation,
// SCORE_NON_ANSWER: a fixed score, the worst the scorer can give, or the
// window's worst answered score), and each window also has a coverage
// metric, answered / expected. UNRESOLVED predictions count in neither.
//
// Leaderboard (Worker.RebuildLeaderboard) runs on its own interval, whether
// or not anything new was scored (reference defect 14.2 #18), under the
// store leader lock "leaderboard", and is written with its per-model score
// history points in one transaction (store.SaveLeaderboard). Aggregation:
//
//   - UseDefaultAggregation: computed in-process from SQL aggregates
//     (store.ModelScoreStatsWindows, one scan for the windows of
//     sdk.DefaultWindows(): recent 24 h, steady 72 h, anchor 7 d ending at
//     now; reference defect 14.1 #9 copied
//     one all-time mean into all three). The result equals what
//     sdk.Defaults.AggregateModelScores returns for the model's scored
//     predictions of the longest window.
//   - otherwise: each model's scored predictions of the longest window
//     (store.ScoredPredictions, at most AggregationLimit per model) go to the
//     challenge's AggregateModelScores; its entries are validated.
//
// Every known model without an entry is appended with an empty score
// envelope; ranking uses the challenge's RankLeaderboard or, with
// UseDefaultRanking, sdk.Defaults in-process. The worker checks the ranker
// returned every entry exactly once and keeps its order, but lists the
// models without a rank value last (FinishRanking). Ranks follow
// sdk.AssignRanks: tied models (equal rank value and declared tie-breakers)
// share a rank (1, 1, 3), and a model without a score in the ranking
// window has no rank (0, served as null); no model is dropped and a model
// id never decides a rank.
package score
