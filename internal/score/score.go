package score

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/loop"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Store is the part of store.Store the score worker uses.
type Store interface {
	ClaimAndScore(ctx context.Context, now time.Time, limit int, fn func(ctx context.Context, claimed []store.Prediction) ([]store.ScoreUpdate, error)) (int, error)
	ModelScoreStatsWindows(ctx context.Context, froms []time.Time, to time.Time) ([][]store.ModelScoreStat, error)
	WindowPredictions(ctx context.Context, modelID string, from, to time.Time, limit int) ([]store.Prediction, error)
	ListModels(ctx context.Context) ([]store.Model, error)
	SaveLeaderboard(ctx context.Context, lb store.Leaderboard, scores []store.ModelScore) error
	WithLeaderLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error)
}

// Defaults of Config.
const (
	// DefaultBatchSize is the number of predictions claimed, resolved,
	// scored and written per transaction. Each batch costs a fixed
	// overhead (a transaction with its commit, one ResolveGroundTruth and
	// one ScorePredictions plugin call), so larger batches score faster:
	// through the generated btc-up challenge on PostgreSQL, 2000 scored
	// about 23k predictions/s where 1000 scored about 20k (issue 16 item
	// 2, cmd/coordinator-bench), and one batch's ResolveGroundTruth request
	// (records without their inference input, about 400 bytes each) stays
	// below a megabyte, far under the plugin message limit (16 MiB).
	DefaultBatchSize = 2000
	// DefaultConcurrency is the number of batches scored at the same time.
	// Two lets one batch's store work (claim, score write, commit) overlap
	// the other's plugin calls; claims never overlap (FOR UPDATE SKIP
	// LOCKED on PostgreSQL, one writer on SQLite).
	DefaultConcurrency         = 2
	DefaultGroundTruthMaxWait  = time.Hour // GROUND_TRUTH_MAX_WAIT_SECONDS
	DefaultScoreInterval       = time.Minute
	DefaultLeaderboardInterval = time.Minute
	DefaultAggregationLimit    = 50000
)

// LeaderLockName is the store leader lock held while rebuilding.
const LeaderLockName = "leaderboard"

// Config configures a Worker. Challenge, Store and Clock are required.
type Config struct {
	Challenge sdk.Challenge
	Store     Store
	Clock     clock.Clock
	// Logger defaults to hclog.NewNullLogger().
	Logger hclog.Logger
	// Data is passed to ResolveGroundTruth; nil lets the challenge plugin use
	// the host data service it was given at launch.
	Data sdk.HostData
	// BatchSize is the number of predictions claimed per transaction
	// (0 = DefaultBatchSize). Smaller batches hold fewer row locks for a
	// shorter time; larger ones amortise the per-batch overhead.
	BatchSize int
	// Concurrency is the number of batches in flight at once, each in its
	// own claim transaction (0 = DefaultConcurrency; 1 = one batch after
	// the other, strictly oldest first).
	Concurrency int
	// GroundTruthMaxWait: a prediction still not resolvable this long after
	// its resolvable_at becomes UNRESOLVED (0 = DefaultGroundTruthMaxWait).
	GroundTruthMaxWait time.Duration
	// ScoreInterval and LeaderboardInterval are the periods of the two
	// loops of Run (0 = one minute each).
	ScoreInterval       time.Duration
	LeaderboardInterval time.Duration
	// UseDefaultAggregation computes the default windowed aggregation
	// in-process from SQL aggregates instead of calling the challenge's
	// AggregateModelScores (set it when the challenge does not implement it).
	UseDefaultAggregation bool
	// UseDefaultRanking ranks with sdk.Defaults in-process instead of the
	// challenge's RankLeaderboard.
	UseDefaultRanking bool
	// Aggregation is the non-answer rule, ranking key and tie-breakers of
	// the default aggregation (zero value: window-worst non-answers, key
	// "anchor", no tie-breakers). New rejects a key or tie-breaker that is
	// not a metric of the default aggregation.
	Aggregation sdk.Aggregation
	// AggregationLimit caps the scored predictions per model passed to the
	// challenge's AggregateModelScores (0 = DefaultAggregationLimit).
	AggregationLimit int
	// Observe, when set, is called after every scoring cycle (Score and
	// Finish) with its result and error; it must not block (metrics).
	Observe func(res ScoreResult, err error)
}

// Worker is the score worker. Create it with New.
type Worker struct {
	cfg Config
	log hclog.Logger
}

// New checks cfg and returns a Worker, or an error naming the missing field.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Challenge == nil:
		return nil, errors.New("score worker: Config.Challenge is required")
	case cfg.Store == nil:
		return nil, errors.New("score worker: Config.Store is required")
	case cfg.Clock == nil:
		return nil, errors.New("score worker: Config.Clock is required")
	}
	if cfg.UseDefaultAggregation {
		if err := cfg.Aggregation.Check(); err != nil {
			return nil, fmt.Errorf("score worker: default aggregation: %w", err)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.GroundTruthMaxWait <= 0 {
		cfg.GroundTruthMaxWait = DefaultGroundTruthMaxWait
	}
	if cfg.ScoreInterval <= 0 {
		cfg.ScoreInterval = DefaultScoreInterval
	}
	if cfg.LeaderboardInterval <= 0 {
		cfg.LeaderboardInterval = DefaultLeaderboardInterval
	}
	if cfg.AggregationLimit <= 0 {
		cfg.AggregationLimit = DefaultAggregationLimit
	}
	return &Worker{cfg: cfg, log: cfg.Logger.Named("score")}, nil
}

// ScoreResult describes one scoring cycle.
type ScoreResult struct {
	Now time.Time
	// Batches counts the claim transactions that claimed at least one
	// prediction.
	Batches int
	// Claimed counts claims (a prediction still waiting is counted once per
	// batch that claimed it).
	Claimed int
	// Scored counts scores written (success true or false).
	Scored int
	// ScoreFailed counts scores written with success false.
	ScoreFailed int
	// Unresolved counts predictions marked UNRESOLVED.
	Unresolved int
	// Waiting counts claimed predictions left for a later cycle in the
	// batch that ended the cycle (with concurrent lanes, the largest count
	// of their last batches: the waiting predictions are the oldest
	// unscored ones, so each lane's last batch sees the same ones).
	Waiting int
	// OldestWaiting is the resolvable_at of the oldest claimed prediction
	// the cycle left unscored, waiting for its ground truth (zero: none).
	// Claims take the oldest resolvable_at first, so after a cycle without
	// error it is the oldest unscored resolvable prediction: now minus it
	// is the scoring lag.
	OldestWaiting time.Time
	// Elapsed is the wall time of the cycle.
	Elapsed time.Duration
}

// LeaderboardResult describes one rebuild.
type LeaderboardResult struct {
	// Ran is false when another process holds the leader lock.
	Ran          bool
	ID           string
	CreatedAt    time.Time
	Entries      []sdk.LeaderboardEntry
	ScoredModels int
	// RankedModels counts entries with a rank (a rank value); the others
	// have rank 0 (null) and are listed after them.
	RankedModels  int
	UnscoredAdded int
	Elapsed       time.Duration
}

// Result is the outcome of RunOnce.
type Result struct {
	Score       ScoreResult
	Leaderboard LeaderboardResult
}

// RunOnce runs one scoring cycle and one leaderboard rebuild at
// clock.Now(). The rebuild runs even when scoring fails; the returned error
// joins both failures.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	sr, err := w.Score(ctx)
	res.Score = sr
	if err != nil {
		errs = append(errs, err)
	}
	lr, err := w.RebuildLeaderboard(ctx)
	res.Leaderboard = lr
	if err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// Run runs the scoring loop (every ScoreInterval) and the leaderboard loop
// (every LeaderboardInterval) until ctx is done, each sleeping on the
// clock. A failed cycle is logged and the next one runs. It returns nil when
// ctx is done, after both loops have stopped.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		w.runEvery(ctx, "scoring", w.cfg.ScoreInterval, func(ctx context.Context) error {
			_, err := w.Score(ctx)
			return err
		})
	}()
	go func() {
		defer wg.Done()
		w.runEvery(ctx, "leaderboard rebuild", w.cfg.LeaderboardInterval, func(ctx context.Context) error {
			_, err := w.RebuildLeaderboard(ctx)
			return err
		})
	}()
	wg.Wait()
	return nil
}

// runEvery runs fn every interval until ctx is done, logging failures.
func (w *Worker) runEvery(ctx context.Context, what string, every time.Duration, fn func(context.Context) error) {
	once := func(ctx context.Context) (struct{}, error) { return struct{}{}, fn(ctx) }
	_ = loop.Run(ctx, w.cfg.Clock, once, func(_ struct{}, err error) time.Duration {
		if err != nil {
			w.log.Error(what+" failed; the next cycle runs on schedule", "error", err, "next_in", every)
		}
		return every
	})
}

// Score runs one scoring cycle at clock.Now() (see the package doc). It
// starts with one batch; each full batch that changed something starts
// another concurrent lane of batches, up to Config.Concurrency, so a cycle
// smaller than one batch runs exactly as with Concurrency 1. It returns the
// first batch error (a challenge callable error, a result count mismatch,
// or a store error); batches written before it, or by a concurrent lane,
// stay written.
func (w *Worker) Score(ctx context.Context) (ScoreResult, error) {
	now := w.cfg.Clock.Now().UTC()
	return w.score(ctx, now, now, "")
}

// endOfTime is the claim bound of Finish: later than any resolvable_at.
var endOfTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// Finish ends scoring for a run that will get no more feed data (the end of
// a replay): one scoring cycle at clock.Now() that claims every unscored
// SUCCESS prediction whatever its resolvable_at, scores the ones the
// resolver can resolve now and marks every other one UNRESOLVED with
// "<why>: ground truth not available (resolvable_at …)", so no prediction
// is left SUCCESS without a score. The result's Unresolved counts them.
// Errors are Score's.
func (w *Worker) Finish(ctx context.Context, why string) (ScoreResult, error) {
	if why == "" {
		why = "scoring finished"
	}
	return w.score(ctx, w.cfg.Clock.Now().UTC(), endOfTime, why)
}

// score runs one cycle at now, claiming predictions with resolvable_at <=
// claimUntil; final, when set, makes every prediction the resolver does not
// resolve UNRESOLVED with that reason instead of waiting (Finish).
func (w *Worker) score(ctx context.Context, now, claimUntil time.Time, final string) (ScoreResult, error) {
	start := time.Now()
	res := ScoreResult{Now: now}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // guards everything below and res
		firstErr error
		done     bool // a batch failed: every lane stops
		drained  bool // a lane's claim came back short or changed nothing: no new lane starts
		lanes    = 1
		calls    int // claim transactions run, including empty ones
	)
	var lane func()
	lane = func() {
		var buf batchBuffers
		for {
			mu.Lock()
			stop := done
			mu.Unlock()
			if stop || ctx.Err() != nil {
				return
			}
			var b batchOutcome
			claimed, err := w.cfg.Store.ClaimAndScore(ctx, claimUntil, w.cfg.BatchSize, func(ctx context.Context, preds []store.Prediction) ([]store.ScoreUpdate, error) {
				var err error
				b, err = w.scoreBatch(ctx, now, final, preds, &buf)
				return b.updates, err
			})
			mu.Lock()
			calls++
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("score cycle at %s: batch %d: %w", now.Format(time.RFC3339), calls, err)
				}
				done = true
				mu.Unlock()
				return
			}
			if claimed > 0 {
				res.Batches++
			}
			res.Claimed += claimed
			res.Scored += b.scored
			res.ScoreFailed += b.scoreFailed
			res.Unresolved += b.unresolved
			if !b.oldestWaiting.IsZero() && (res.OldestWaiting.IsZero() || b.oldestWaiting.Before(res.OldestWaiting)) {
				res.OldestWaiting = b.oldestWaiting
			}
			if claimed < w.cfg.BatchSize || len(b.updates) == 0 {
				// Only this lane is done: a short claim says that nothing
				// else was claimable when it ran, but a concurrent lane's
				// claim may still hold pending predictions of the instants
				// it locked (a claim locks whole instants and takes up to
				// a batch of their predictions); that lane, whose claim was
				// full, claims again and takes them.
				res.Waiting = max(res.Waiting, b.waiting)
				drained = true
				mu.Unlock()
				return
			}
			if lanes < w.cfg.Concurrency && !drained {
				lanes++
				wg.Go(lane)
			}
			mu.Unlock()
		}
	}
	wg.Go(lane)
	wg.Wait()
	res.Elapsed = time.Since(start)
	if firstErr == nil && calls == 0 && ctx.Err() != nil {
		firstErr = fmt.Errorf("score cycle at %s: %w", now.Format(time.RFC3339), ctx.Err())
	}
	if w.cfg.Observe != nil {
		w.cfg.Observe(res, firstErr)
	}
	if firstErr != nil {
		return res, firstErr
	}
	if res.Claimed > 0 {
		w.log.Debug("score cycle", "now", now, "claimed", res.Claimed, "scored", res.Scored, "score_failed", res.ScoreFailed,
			"unresolved", res.Unresolved, "waiting", res.Waiting, "lanes", lanes, "elapsed", res.Elapsed)
	}
	return res, nil
}

type batchOutcome struct {
	updates                         []store.ScoreUpdate
	scored, scoreFailed, unresolved int
	waiting                         int
	oldestWaiting                   time.Time
}

// batchBuffers are the slices of one scoring cycle, reused from batch to
// batch (a batch's updates are written before the next batch starts).
type batchBuffers struct {
	records []sdk.PredictionRecord
	items   []sdk.ScoreItem
	truths  []json.RawMessage // the resolver's ground truth of items[i], stored with its score
	updates []store.ScoreUpdate
	scores  []store.Score
}

// grow returns s emptied, with capacity for at least n elements.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	clear(s[:cap(s)]) // drop references to the previous batch
	return s[:0]
}

// emptyTruth is the ground truth passed when the resolver returned none.
var emptyTruth = json.RawMessage(`{}`)

// scoreBatch resolves and scores one claimed batch and returns its updates.
// final, when set, is the reason a prediction not resolved now becomes
// UNRESOLVED (Finish); otherwise it waits up to GroundTruthMaxWait.
func (w *Worker) scoreBatch(ctx context.Context, now time.Time, final string, preds []store.Prediction, buf *batchBuffers) (batchOutcome, error) {
	var out batchOutcome
	buf.records = grow(buf.records, len(preds))
	for _, p := range preds {
		r := Record(p)
		r.InferenceInput = nil // not sent to the resolver (sdk.Challenge.ResolveGroundTruth)
		buf.records = append(buf.records, r)
	}
	records := buf.records
	var gts []sdk.GroundTruthResult
	lo := 0
	for _, hi := range chunks(len(records), MaxRequestBytes, func(i int) int { return recordBytes(&records[i]) }) {
		part, err := w.cfg.Challenge.ResolveGroundTruth(ctx, now, records[lo:hi], w.cfg.Data)
		if err != nil {
			return out, fmt.Errorf("%s for %d predictions: %w", sdk.CallableResolveGroundTruth, hi-lo, err)
		}
		if len(part) != hi-lo {
			return out, fmt.Errorf("%s: expected %d results (one per prediction, in order), found %d", sdk.CallableResolveGroundTruth, hi-lo, len(part))
		}
		if lo == 0 && hi == len(records) {
			gts = part
		} else {
			gts = append(gts, part...)
		}
		lo = hi
	}
	buf.items = grow(buf.items, len(preds))
	buf.truths = grow(buf.truths, len(preds))
	buf.updates = grow(buf.updates, len(preds))
	items := buf.items
	out.updates = buf.updates
	for i := range preds {
		p := &preds[i]
		gt := &gts[i]
		switch {
		case gt.Error != "":
			out.updates = append(out.updates, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved,
				Reason: "ground truth resolver: " + gt.Error, GroundTruth: gt.GroundTruth})
			out.unresolved++
			w.log.Warn("prediction unresolvable", "prediction_id", p.ID, "model_id", p.ModelID, "reason", gt.Error)
		case gt.Resolved:
			truth := gt.GroundTruth
			if len(truth) == 0 {
				truth = emptyTruth
			}
			items = append(items, sdk.ScoreItem{PredictionID: p.ID, Prediction: p.InferenceOutput, GroundTruth: truth})
			buf.truths = append(buf.truths, gt.GroundTruth)
		case final != "":
			reason := fmt.Sprintf("%s: ground truth not available (resolvable_at %s, now %s)",
				final, p.ResolvableAt.Format(time.RFC3339), now.Format(time.RFC3339))
			out.updates = append(out.updates, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: reason})
			out.unresolved++
		case now.Sub(p.ResolvableAt) > w.cfg.GroundTruthMaxWait:
			reason := fmt.Sprintf("ground truth not available %s after resolvable_at %s (GROUND_TRUTH_MAX_WAIT %s)",
				now.Sub(p.ResolvableAt).Round(time.Second), p.ResolvableAt.Format(time.RFC3339), w.cfg.GroundTruthMaxWait)
			out.updates = append(out.updates, store.ScoreUpdate{PredictionID: p.ID, Status: store.StatusUnresolved, Reason: reason})
			out.unresolved++
			w.log.Warn("prediction unresolved after the maximum wait", "prediction_id", p.ID, "model_id", p.ModelID, "reason", reason)
		default:
			out.waiting++
			if out.oldestWaiting.IsZero() || p.ResolvableAt.Before(out.oldestWaiting) {
				out.oldestWaiting = p.ResolvableAt
			}
		}
	}
	buf.items = items
	if len(items) == 0 {
		return out, nil
	}
	var scores []sdk.ScoreResult
	lo = 0
	for _, hi := range chunks(len(items), MaxRequestBytes, func(i int) int { return itemBytes(&items[i]) }) {
		part, err := w.cfg.Challenge.ScorePredictions(ctx, items[lo:hi])
		if err != nil {
			return out, fmt.Errorf("%s for %d predictions: %w", sdk.CallableScorePredictions, hi-lo, err)
		}
		if len(part) != hi-lo {
			return out, fmt.Errorf("%s: expected %d results (one per item, in order), found %d", sdk.CallableScorePredictions, hi-lo, len(part))
		}
		if lo == 0 && hi == len(items) {
			scores = part
		} else {
			scores = append(scores, part...)
		}
		lo = hi
	}
	// One backing array for the batch's scores instead of one allocation
	// per prediction; the store copies what it needs before the next batch.
	buf.scores = grow(buf.scores, len(scores))[:len(scores)]
	for i := range scores {
		s := &scores[i]
		id := items[i].PredictionID
		if s.PredictionID != "" && s.PredictionID != id {
			return out, fmt.Errorf("%s: result %d: expected prediction_id %q, found %q", sdk.CallableScorePredictions, i, id, s.PredictionID)
		}
		sc := &buf.scores[i]
		*sc = store.Score{Value: s.Value, Success: s.Success, FailedReason: s.FailedReason, ScoredAt: now}
		if s.Value != nil && (math.IsNaN(*s.Value) || math.IsInf(*s.Value, 0)) {
			sc.Value, sc.Success = nil, false
			sc.FailedReason = fmt.Sprintf("score value is not a finite number (%v)", *s.Value)
		}
		if !sc.Success {
			out.scoreFailed++
		}
		out.scored++
		out.updates = append(out.updates, store.ScoreUpdate{PredictionID: id, Score: sc, GroundTruth: buf.truths[i]})
	}
	buf.updates = out.updates
	return out, nil
}

// Record converts a stored prediction to the record callables receive.
func Record(p store.Prediction) sdk.PredictionRecord {
	r := sdk.PredictionRecord{
		ID: p.ID, ModelID: p.ModelID, PredictionConfigID: p.PredictionConfigID, ScopeKey: p.ScopeKey,
		Scope: p.Scope, Status: p.Status, ExecTimeMs: p.ExecTimeMs, InferenceInput: p.InferenceInput,
		InferenceOutput: p.InferenceOutput, Meta: p.Meta, PerformedAt: p.PerformedAt.UTC(), ResolvableAt: p.ResolvableAt.UTC(),
	}
	if p.Score != nil {
		r.Score = &sdk.PredictionScore{Value: p.Score.Value, Success: p.Score.Success, FailedReason: p.Score.FailedReason, ScoredAt: p.Score.ScoredAt.UTC()}
	}
	return r
}

// LeaderboardID is the id of the leaderboard rebuilt at t:
// "LBR_<YYYYMMDDTHHMMSS.ffffffZ>" (microseconds, the store's time
// resolution), so a retried rebuild at the same time overwrites itself and
// rebuilds at different times never collide (reference defect 14.2 #19).
func LeaderboardID(t time.Time) string {
	return "LBR_" + t.UTC().Format("20060102T150405.000000Z")
}

// ModelScoreID is the id of a model's score-history point at t:
// "MSC_<YYYYMMDDTHHMMSS.ffffffZ>_<first 16 hex of SHA-256(model id)>".
func ModelScoreID(modelID string, t time.Time) string {
	h := sha256.Sum256([]byte(modelID))
	return "MSC_" + t.UTC().Format("20060102T150405.000000Z") + "_" + hex.EncodeToString(h[:8])
}
