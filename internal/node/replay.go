package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/predict"
	"github.com/crunch-coordinator/coordinator/internal/score"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// ReplayScoreEvery is the minimum simulated time between score cycles of a
// full-speed replay.
const ReplayScoreEvery = 15 * time.Minute

// maxBlockCycles bounds the predict cycles of one block of a full-speed
// replay (one batch of model calls; see predict.Block).
const maxBlockCycles = 32

// ReplayOptions control a replay.
type ReplayOptions struct {
	// From and Until bound the candles replayed by open time (inclusive;
	// zero = the file's first / last candle).
	From, Until time.Time
	// Speed is the simulated seconds per wall-clock second; 0 = as fast as
	// possible.
	Speed float64
	// LeaderboardEvery is the simulated time between leaderboard rebuilds
	// and checkpoint checks during the replay (default: the workspace's
	// LEADERBOARD_INTERVAL_SECONDS, at least one hour at max speed). The
	// leaderboard is always rebuilt once more at the end.
	LeaderboardEvery time.Duration
	// Progress, when set, is called after every replayed candle.
	Progress func(ReplayProgress)
	// Last marks the node's last replay (coordinator dev --replay): its
	// final score cycle is score.Worker.Finish, which makes every
	// prediction the replayed candles cannot resolve UNRESOLVED. Without
	// it those stay unscored, for a later replay of the same node that
	// continues the file to resolve.
	Last bool
}

// ReplayProgress reports the replay's position.
type ReplayProgress struct {
	SimTime     time.Time
	Candles     int
	Total       int
	Cycles      int // predict cycles that ran
	Predictions int // prediction rows inserted
	Scored      int // scores written
	// Unresolved counts predictions marked UNRESOLVED (a gap, a flat move
	// the pack excludes, or, at the end, ground truth the replayed file
	// does not hold: see score.Worker.Finish).
	Unresolved  int
	CycleErrors int
	// FirstCandle and LastCandle are the open times (UTC) of the first and
	// the latest candle replayed: the replayed range so far.
	FirstCandle, LastCandle time.Time
	// Gaps counts the runs of missing candles replayed over (each logged
	// with from, to and candles_missing).
	Gaps int
	// Batched counts the predict cycles in which at least one model
	// answered from a batch stream (full speed: see predict.Block);
	// InputsAhead those whose inference input the challenge made with the
	// rest of its block (predict.Block.Prefetch).
	Batched, InputsAhead int
	// Blocks counts the full-speed blocks run (predict.Block.Run: one
	// batch stream per model each); Cycles / Blocks is a block's mean
	// number of predict cycles.
	Blocks int
	// StagedAlongside counts the blocks whose candles and inputs were
	// staged while the previous block's model calls ran (only when nothing
	// else reads the feed meanwhile: see Replay).
	StagedAlongside int
	// Time is where the replay's wall-clock time went so far.
	Time ReplayTime
}

// ReplayTime sums the wall-clock time of a replay's stages (real time,
// whatever the simulated clock). Predict sums whole predict cycles, the
// fields before it their stages (predict.Timing): RawInput
// (ProvideRawInput, with its feed read through HostData; at full speed
// the block's BuildInferenceInputs call), InferenceInput, ModelCalls (Tick
// and Predict: the scope and call builders and the model fan-out, at full
// speed the wait for each cycle's answers on the block's batch streams),
// Validate and Persist (the store transaction: one per cycle, one per
// block at full speed).
type ReplayTime struct {
	Candles                                                          time.Duration // storing the candles
	RawInput, InferenceInput, ModelCalls, Validate, Persist, Predict time.Duration // Predict: whole predict cycles
	Score                                                            time.Duration // score cycles
	Leaderboard                                                      time.Duration // leaderboard rebuilds and checkpoints (at full speed: the part the replay waited for, they run alongside the next block)
}

// Replay feeds the candles of r to the node one at a time on the simulated
// clock sim: each candle is stored, then the clock moves to the candle's
// close time (open + granularity, the moment a live feed could have stored
// it), a predict cycle runs when a slot is due, scoring runs every
// SCORE_INTERVAL_SECONDS of simulated time and the leaderboard is rebuilt
// every LeaderboardEvery. A failed cycle is logged and counted; the replay
// goes on, as a live node would. At full speed (Speed 0) the candles up
// to the next score or leaderboard time (at most maxBlockCycles) form a
// block: stored in one transaction ahead of the clock (the plugins read
// the feed as stored at the simulated time: FeedView), each predict cycle
// planned at its candle's time and the block's model calls sent in one
// batch per model (predict.Block), while the next block's candles are
// stored and its inference inputs made (when nothing else reads the feed
// meanwhile: the challenge's ValidateInferenceOutput is the runtime
// default's and the score service is the built-in one; else after the
// block); the stored predictions and scores are
// those of the live path (TestE2EReplayMatchesLive); the hourly leaderboard
// rebuild runs alongside the next block (it reads nothing the block
// changes: see waitPeriod). With opts.Last the final score cycle
// (score.Worker.Finish) leaves no prediction SUCCESS without a score: what
// the replayed candles cannot resolve becomes UNRESOLVED. It returns ctx's
// error when cancelled.
//
// A predict or score service replaced by a factory (PREDICT_SERVICE_FACTORY,
// SCORE_SERVICE_FACTORY) is not driven by the replay: StartServices started
// it, and it runs on sim as it would live on the wall clock (the replay
// skips the built-in cycles of that service; Progress counts only the
// cycles the replay ran). A replaced service sleeping on the clock wakes
// when the replay moves sim past its deadline; at full speed sim may move
// past several deadlines while it works, so such a loop runs fewer cycles
// than it would live: give a Speed to pace it.
func (n *Node) Replay(ctx context.Context, r *replay.Replay, sim *clock.Simulated, opts ReplayOptions) (ReplayProgress, error) {
	if n.predict == nil || n.score == nil {
		return ReplayProgress{}, fmt.Errorf("replay: the node needs the %s and %s roles", RolePredict, RoleScore)
	}
	// A service replaced by a factory was started by StartServices and
	// runs on sim by itself; the replay runs the built-in cycles of the
	// others only.
	builtinPredict, builtinScore := !n.isReplaced(ServicePredict), !n.isReplaced(ServiceScore)
	w := n.cfg.Workspace
	// At full speed, scoring runs every ReplayScoreEvery of simulated time
	// (bigger batches, same results: ground truth is read at resolvable_at
	// whatever the time it is scored).
	scoreEvery := w.Settings.ScoreInterval
	if opts.Speed == 0 && scoreEvery < ReplayScoreEvery {
		scoreEvery = ReplayScoreEvery
	}
	lbEvery := opts.LeaderboardEvery
	if lbEvery <= 0 {
		lbEvery = w.Settings.LeaderboardInterval
		if opts.Speed == 0 && lbEvery < time.Hour {
			lbEvery = time.Hour
		}
	}
	it := r.Iter(opts.From, opts.Until)
	p := ReplayProgress{Total: it.Remaining()}
	var nextScore, nextLB time.Time
	wallStart, simStart := time.Now(), time.Time{}
	// At full speed the predict cycles between two score cycles run as
	// one predict.Block: each planned at its candle, the models called
	// once for all of them, each cycle then ended in order.
	var blk *predict.Block
	if builtinPredict && opts.Speed == 0 {
		blk = n.predict.NewBlock()
	}
	// At full speed the hourly leaderboard rebuild (and checkpoint) of
	// time T runs alongside the next block when it calls no challenge
	// callable (the default aggregation and ranking): it reads what the store holds
	// at T (scores with resolvable_at up to T, the model rows), and the
	// replay waits for it before anything it reads can change: before the
	// next score cycle or rebuild, and before a block writes model rows.
	// The predictions a block saves meanwhile resolve after T, outside
	// every window the rebuild reads.
	var period chan struct{} // the rebuild running alongside, nil if none
	waitPeriod := func() {
		if period != nil {
			t0 := time.Now()
			<-period
			period = nil
			p.Time.Leaderboard += time.Since(t0)
		}
	}
	defer waitPeriod()
	// Only a rebuild that calls no challenge callable runs alongside (a
	// challenge's aggregation or ranking could read the feed, which is
	// stored ahead of the clock during a block).
	alongside := blk != nil && leaderboardAlongside && !n.challenge.Routed(sdk.CallableAggregateModelScores) && !n.challenge.Routed(sdk.CallableRankLeaderboard)
	if alongside {
		blk.BeforeModelWrite = waitPeriod
	}
	// The feed view reads past the clock (up to a block's end, for its
	// inputs made in one challenge call, predict.Block.FetchInputs) only
	// while nothing else reads the feed, so that every other reader sees
	// it as stored at the simulated time, as live. Not with a score service
	// replaced by a factory: it runs on sim by itself, at any time, and
	// may read the feed (ground truth through the challenge); then each
	// cycle's input is made at its time. And the next block is staged
	// alongside the current block's model calls only when the challenge's
	// ValidateInferenceOutput, which runs meanwhile, is the runtime
	// default's: a challenge's validator could read the feed through the
	// HostData its plugin keeps from ProvideRawInput (sdk.HostData is one
	// per plugin process); else it is staged after the block.
	inputsAhead := blk != nil && builtinScore
	stageAlongside := inputsAhead && !n.challenge.Routed(sdk.CallableValidateInferenceOutput)
	var cancelled error
	record := func(res predict.Result, err error) {
		tm := res.Timing
		p.Time.RawInput += tm.RawInput
		p.Time.InferenceInput += tm.InferenceInput
		p.Time.ModelCalls += tm.Tick + tm.Predict
		p.Time.Validate += tm.Validate
		p.Time.Persist += tm.Persist
		if err != nil {
			if errors.Is(err, context.Canceled) {
				cancelled = err
				return
			}
			p.CycleErrors++
			n.log.Warn("replay: predict cycle failed", "sim_time", res.Now, "error", err)
		} else if len(res.Due) > 0 && res.SkipReason == "" {
			p.Cycles++
			p.Predictions += res.Inserted
			if res.Streamed > 0 {
				p.Batched++
			}
			if res.InputAhead {
				p.InputsAhead++
			}
		}
	}
	flush := func() {
		if blk != nil && blk.Len() > 0 {
			t0 := time.Now()
			blk.Run(ctx, record)
			p.Time.Predict += time.Since(t0)
			p.Blocks++
		}
	}
	// The plugins see the feed as stored at the simulated time: the
	// candles of a block are stored ahead of the clock.
	n.feedView.Set(sim.Now)
	defer n.feedView.Set(nil)
	// crosses tells whether the candle stored at at reaches the score
	// time ns or the leaderboard time nl: its cycle ends a block.
	crosses := func(at, ns, nl time.Time) bool {
		return builtinScore && (!at.Before(ns) || !at.Before(nl))
	}
	endsBlock := func(at time.Time) bool { return crosses(at, nextScore, nextLB) }
	// nextBounds returns the score and leaderboard times once the candle
	// stored at at is replayed: the current ones, or at plus the interval
	// for each that at reaches (its cycle then runs).
	nextBounds := func(at time.Time) (ns, nl time.Time) {
		ns, nl = nextScore, nextLB
		if builtinScore && !at.Before(nextScore) {
			ns = at.Add(scoreEvery)
		}
		if builtinScore && !at.Before(nextLB) {
			nl = at.Add(lbEvery)
		}
		return ns, nl
	}
	// gather reads the candles of the next block, stamped with their close
	// times: up to the first that reaches the score time ns or the
	// leaderboard time nl, at most maxBlockCycles; one candle without a
	// block (or before the first, which sets those times).
	gather := func(ns, nl time.Time) []store.MarketRecord {
		var recs []store.MarketRecord
		for {
			rec, ok := it.Next()
			if !ok {
				break
			}
			rec.TsIngested = rec.TsEvent.Add(r.Step())
			recs = append(recs, rec)
			if blk == nil || simStart.IsZero() || len(recs) >= maxBlockCycles || crosses(rec.TsIngested, ns, nl) {
				break
			}
		}
		return recs
	}
	// stage stores a block's candles in one transaction, ahead of the
	// clock, and makes the block's inference inputs in one challenge call
	// (predict.Block.FetchInputs, when inputsAhead), each cycle reading the
	// feed as stored at its time: it leaves the feed view at the block's
	// end, for the caller to set back. It returns the inputs and each
	// step's duration.
	stage := func(recs []store.MarketRecord) (inputs map[time.Time]json.RawMessage, candles, made time.Duration, err error) {
		t0 := time.Now()
		if _, err := n.cfg.Store.UpsertMarketRecords(ctx, recs); err != nil {
			return nil, 0, 0, fmt.Errorf("replay: store candles %s to %s: %w", recs[0].TsEvent.Format(time.RFC3339), recs[len(recs)-1].TsEvent.Format(time.RFC3339), err)
		}
		candles = time.Since(t0)
		if !inputsAhead {
			return nil, candles, 0, nil
		}
		times := make([]time.Time, len(recs))
		for i, a := range recs {
			times[i] = a.TsIngested
		}
		end := times[len(times)-1]
		n.feedView.Set(func() time.Time { return end })
		t0 = time.Now()
		inputs = blk.FetchInputs(ctx, times)
		return inputs, candles, time.Since(t0), nil
	}
	// staged is the next block, staged alongside the current block's
	// model calls when stageAlongside (its stage call reads and writes
	// only the feed, which nothing else reads meanwhile); nil when none.
	type stagedBlock struct {
		recs    []store.MarketRecord
		inputs  map[time.Time]json.RawMessage
		candles time.Duration
		made    time.Duration
		err     error
	}
	var staged chan stagedBlock
	joinStaged := func() (stagedBlock, bool) {
		if staged == nil {
			return stagedBlock{}, false
		}
		t0 := time.Now()
		sb := <-staged
		staged = nil
		n.feedView.Set(sim.Now)
		p.StagedAlongside++
		p.Time.Candles += sb.candles
		p.Time.RawInput += sb.made
		p.Time.Predict += time.Since(t0)
		return sb, true
	}
	defer joinStaged()
	var ahead []store.MarketRecord // candles stored, not replayed yet
	for {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		if len(ahead) == 0 {
			// The next block's candles, stored in one transaction, and
			// its inference inputs in one challenge call.
			recs := gather(nextScore, nextLB)
			if len(recs) == 0 {
				break
			}
			inputs, candles, made, err := stage(recs)
			n.feedView.Set(sim.Now)
			if err != nil {
				return p, err
			}
			p.Time.Candles += candles
			if blk != nil {
				blk.AddInputs(inputs)
				p.Time.RawInput += made
				p.Time.Predict += made
			}
			ahead = recs
		}
		rec := ahead[0]
		ahead = ahead[1:]
		at := rec.TsIngested
		if !p.LastCandle.IsZero() && rec.TsEvent.Sub(p.LastCandle) > r.Step() {
			p.Gaps++
			n.log.Warn("replay: data gap: no candles in the file for this span; the clock jumps over it",
				"from", p.LastCandle.Add(r.Step()), "to", rec.TsEvent.Add(-r.Step()), "candles_missing", int(rec.TsEvent.Sub(p.LastCandle)/r.Step())-1)
		}
		if p.FirstCandle.IsZero() {
			p.FirstCandle = rec.TsEvent
		}
		p.LastCandle = rec.TsEvent
		if simStart.IsZero() {
			simStart = at
			nextScore, nextLB = at, at.Add(lbEvery)
		}
		if opts.Speed > 0 {
			due := wallStart.Add(time.Duration(float64(at.Sub(simStart)) / opts.Speed))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return p, ctx.Err()
				case <-t.C:
				}
			}
		}
		sim.Set(at)
		p.SimTime, p.Candles = at, p.Candles+1

		if builtinPredict {
			t0 := time.Now()
			if blk != nil {
				// A cycle that fails to plan ends with its error in the
				// block's Run, in order (its callables are not called again).
				_ = blk.Plan(ctx)
			} else {
				res, err := n.predict.RunOnce(ctx)
				record(res, err)
			}
			p.Time.Predict += time.Since(t0)
			if cancelled != nil {
				return p, cancelled
			}
		}
		if blk != nil && (len(ahead) == 0 || blk.Len() >= maxBlockCycles || endsBlock(at)) {
			if len(ahead) == 0 && stageAlongside {
				// Stage the next block while this one runs: its bounds
				// are the score and leaderboard times this candle sets.
				if recs := gather(nextBounds(at)); len(recs) > 0 {
					staged = make(chan stagedBlock, 1)
					go func(ch chan<- stagedBlock) {
						inputs, candles, made, err := stage(recs)
						ch <- stagedBlock{recs: recs, inputs: inputs, candles: candles, made: made, err: err}
					}(staged)
				}
			}
			flush()
			if sb, ok := joinStaged(); ok {
				if sb.err != nil {
					return p, sb.err
				}
				blk.AddInputs(sb.inputs)
				ahead = sb.recs
			}
			if cancelled != nil {
				return p, cancelled
			}
		}
		ns, nl := nextBounds(at)
		if builtinScore && !at.Before(nextScore) {
			waitPeriod()
			t0 := time.Now()
			sr, err := n.score.Score(ctx)
			p.Time.Score += time.Since(t0)
			if err != nil && !errors.Is(err, context.Canceled) {
				p.CycleErrors++
				n.log.Warn("replay: score cycle failed", "sim_time", at, "error", err)
			}
			p.Scored += sr.Scored
			p.Unresolved += sr.Unresolved
			nextScore = ns
		}
		if builtinScore && !at.Before(nextLB) {
			waitPeriod()
			t0 := time.Now()
			if alongside {
				done := make(chan struct{})
				go func() {
					defer close(done)
					n.finishPeriod(ctx, at)
				}()
				period = done
			} else {
				n.finishPeriod(ctx, at)
			}
			p.Time.Leaderboard += time.Since(t0)
			nextLB = nl
		}
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	flush()
	waitPeriod()
	if cancelled != nil {
		return p, cancelled
	}
	if p.Candles == 0 {
		return p, fmt.Errorf("replay: no candles in %s between %s and %s (file covers %s to %s)",
			r.File(), fmtTime(opts.From), fmtTime(opts.Until), r.First().Format(time.RFC3339), r.Last().Format(time.RFC3339))
	}
	if builtinScore {
		// The final cycle scores what the replayed candles resolve; after
		// the last replay every other prediction becomes UNRESOLVED, so none
		// is left SUCCESS without a score.
		var sr score.ScoreResult
		var err error
		if opts.Last {
			sr, err = n.score.Finish(ctx, "the replay ended")
		} else {
			sr, err = n.score.Score(ctx)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			p.CycleErrors++
			n.log.Warn("replay: final score cycle failed", "error", err)
		}
		p.Scored += sr.Scored
		p.Unresolved += sr.Unresolved
		if sr.Unresolved > 0 {
			n.log.Info("replay: predictions without ground truth at the end are UNRESOLVED", "count", sr.Unresolved)
		}
		n.finishPeriod(ctx, p.SimTime)
	}
	if opts.Progress != nil {
		opts.Progress(p)
	}
	return p, ctx.Err()
}

// leaderboardAlongside lets a full-speed replay run its hourly leaderboard
// rebuild alongside the next block (tests turn it off to compare).
var leaderboardAlongside = true

// finishPeriod rebuilds the leaderboard at the simulated time at and
// writes a checkpoint when due then.
func (n *Node) finishPeriod(ctx context.Context, at time.Time) {
	if _, err := n.score.RebuildLeaderboardAt(ctx, at); err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("replay: leaderboard rebuild failed", "sim_time", at, "error", err)
	}
	if _, err := n.checkpoint.RunOnceAt(ctx, at); err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("replay: checkpoint failed", "sim_time", at, "error", err)
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "the open end"
	}
	return t.UTC().Format(time.RFC3339)
}
