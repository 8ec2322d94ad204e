// Package checkpoint is the checkpoint worker: every CHECKPOINT_INTERVAL_SECONDS
// it stores an emission checkpoint holding the ranked leaderboard snapshot
// and the reward share of each ranked model.
//
// Cadence. Checkpoints sit on a clock grid: slot = now truncated to a
// multiple of the interval since the Unix epoch (UTC). A checkpoint is due
// when the latest stored checkpoint of kind "emission" has next_run_at <= now
// (or there is none); the new row gets id "CKP_<slot>", last_run_at = now and
// next_run_at = slot + interval. Everything is derived from stored data, so
// a restarted worker neither duplicates nor skips a checkpoint; periods
// missed while the node was down are not back-filled (the next checkpoint
// covers the leaderboard as it is then). The work runs under the store
// leader lock "checkpoint". No leaderboard stored yet: nothing is written
// and the next cycle tries again.
//
// Reward shares (RewardShares) follow the reference's default tiers
// (reference-system.md 13.4) in frac64 units, 1e9 = 100 %: rank 1 → 35 %,
// ranks 2–5 → 10 % each, ranks 6–10 → 5 % each (together exactly 100 %).
// With fewer than 10 eligible entries the unassigned remainder is split
// equally among all eligible entries and the integer rounding remainder goes
// to rank 1, so the shares always sum to exactly 1e9. Tied entries (equal
// rank, see sdk.AssignRanks) pool the shares of the positions they occupy
// and get exactly equal shares (see Rewards); the model id never decides a
// share. Ranks beyond 10 get 0:
// the ten tiers already distribute 100 % (reference defect 14.2 #22: the
// reference documented "the rest split equally" but paid 0; here the rule
// is explicit and every such entry is listed with reward 0 and the reason).
// Eligible entries are those with a rank (a rank value); models listed
// without a rank get 0 and do not count towards the ten tiers.
package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/loop"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Store is the part of store.Store the checkpoint worker uses.
type Store interface {
	LatestCheckpoint(ctx context.Context, kind string) (store.Checkpoint, error)
	SaveCheckpoint(ctx context.Context, c store.Checkpoint) error
	LatestLeaderboard(ctx context.Context) (store.Leaderboard, error)
	WithLeaderLock(ctx context.Context, name string, fn func(ctx context.Context) error) (bool, error)
}

// Kind is the checkpoint kind this worker writes.
const Kind = "emission"

// LeaderLockName is the store leader lock held while checkpointing.
const LeaderLockName = "checkpoint"

// Frac64One is 100 % in frac64 units.
const Frac64One uint64 = 1_000_000_000

// Tier shares in frac64 units.
const (
	ShareRank1     uint64 = 350_000_000 // rank 1: 35 %
	ShareRank2To5  uint64 = 100_000_000 // ranks 2-5: 10 % each
	ShareRank6To10 uint64 = 50_000_000  // ranks 6-10: 5 % each
	// TieredRanks is the number of ranks with a tier share; later ranks get 0.
	TieredRanks = 10
)

// DefaultRetryInterval is the wait after a failed or skipped cycle.
const DefaultRetryInterval = 30 * time.Second

// Config configures a Worker. Store, Clock and Interval are required.
type Config struct {
	Store Store
	Clock clock.Clock
	// Interval is CHECKPOINT_INTERVAL_SECONDS (whole seconds, > 0).
	Interval time.Duration
	// Logger defaults to hclog.NewNullLogger().
	Logger hclog.Logger
	// RetryInterval is the wait after a failed or skipped cycle, capped at
	// the interval (0 = DefaultRetryInterval).
	RetryInterval time.Duration
}

// Worker is the checkpoint worker. Create it with New.
type Worker struct {
	cfg Config
	log hclog.Logger
}

// New checks cfg and returns a Worker, or an error naming the invalid field.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("checkpoint worker: Config.Store is required")
	case cfg.Clock == nil:
		return nil, errors.New("checkpoint worker: Config.Clock is required")
	case cfg.Interval < time.Second || cfg.Interval%time.Second != 0:
		return nil, fmt.Errorf("checkpoint worker: Config.Interval (CHECKPOINT_INTERVAL_SECONDS): expected whole seconds >= 1, found %s", cfg.Interval)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	cfg.RetryInterval = min(cfg.RetryInterval, cfg.Interval)
	return &Worker{cfg: cfg, log: cfg.Logger.Named("checkpoint")}, nil
}

// Reward is one ranked model's reward share.
type Reward struct {
	Rank         int    `json:"rank"`
	ModelID      string `json:"model_id"`
	ModelName    string `json:"model_name,omitempty"`
	CruncherName string `json:"cruncher_name,omitempty"`
	// RewardPct is the share in frac64 units (1e9 = 100 %).
	RewardPct uint64 `json:"reward_pct"`
	// Note explains a zero share.
	Note string `json:"note,omitempty"`
}

// Payload is the emission checkpoint payload (JSON of
// store.EmissionCheckpoint.Payload).
type Payload struct {
	CheckpointID         string     `json:"checkpoint_id"`
	Slot                 time.Time  `json:"slot"`
	PeriodStart          *time.Time `json:"period_start"`
	PeriodEnd            time.Time  `json:"period_end"`
	LeaderboardID        string     `json:"leaderboard_id"`
	LeaderboardCreatedAt time.Time  `json:"leaderboard_created_at"`
	RewardUnit           string     `json:"reward_unit"`
	RewardPolicy         string     `json:"reward_policy"`
	CruncherRewards      []Reward   `json:"cruncher_rewards"`
	// Undistributed is the frac64 units no entry got (see Rewards; almost
	// always 0).
	Undistributed uint64                 `json:"undistributed,omitempty"`
	Leaderboard   []sdk.LeaderboardEntry `json:"leaderboard"`
}

// RewardPolicy describes RewardShares in the stored payload.
const RewardPolicy = "tiers: rank 1 35%, ranks 2-5 10% each, ranks 6-10 5% each; with fewer than 10 ranked models the remainder is split equally among them; tied models pool the tiers of the positions they occupy and split them exactly equally, rounding units go to the best untied model; ranks beyond 10 and models without a rank get 0"

// Result describes one cycle.
type Result struct {
	Now time.Time
	// Ran is false when another process holds the leader lock.
	Ran bool
	// Written is true when a checkpoint was stored; Checkpoint is it.
	Written    bool
	Checkpoint store.Checkpoint
	// SkipReason says why nothing was written (not due, no leaderboard).
	SkipReason string
	// NextRunAt is when the next checkpoint is due.
	NextRunAt time.Time
}

// RunOnce writes the checkpoint of the current slot if it is due (see the
// package doc). Errors come from the store or an unreadable leaderboard.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	return w.RunOnceAt(ctx, w.cfg.Clock.Now())
}

// RunOnceAt is RunOnce at the time now instead of clock.Now() (a replay
// checks the checkpoint of a simulated time while its clock moves on).
func (w *Worker) RunOnceAt(ctx context.Context, now time.Time) (Result, error) {
	now = now.UTC()
	res := Result{Now: now}
	ran, err := w.cfg.Store.WithLeaderLock(ctx, LeaderLockName, func(ctx context.Context) error {
		return w.cycle(ctx, now, &res)
	})
	res.Ran = ran
	if err != nil {
		return res, fmt.Errorf("checkpoint at %s: %w", now.Format(time.RFC3339), err)
	}
	if !ran {
		res.SkipReason = "another process holds the checkpoint lock"
	}
	return res, nil
}

func (w *Worker) cycle(ctx context.Context, now time.Time, res *Result) error {
	slot := now.Truncate(w.cfg.Interval)
	var periodStart *time.Time
	latest, err := w.cfg.Store.LatestCheckpoint(ctx, Kind)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return fmt.Errorf("latest %s checkpoint: %w", Kind, err)
	default:
		periodStart = latest.LastRunAt
		if latest.NextRunAt != nil && now.Before(*latest.NextRunAt) {
			res.SkipReason = "not due"
			res.NextRunAt = *latest.NextRunAt
			return nil
		}
		if latest.LastRunAt != nil && !slot.After(latest.LastRunAt.UTC().Truncate(w.cfg.Interval)) {
			// The interval changed since the latest checkpoint and the
			// current slot of the new grid is already covered.
			res.SkipReason = "not due"
			res.NextRunAt = slot.Add(w.cfg.Interval)
			return nil
		}
		if latest.NextRunAt != nil {
			if missed := int(slot.Sub(*latest.NextRunAt) / w.cfg.Interval); missed > 0 {
				w.log.Debug("checkpoint periods skipped since the last checkpoint (not back-filled)", "missed", missed, "last", latest.ID)
			}
		}
	}
	lb, err := w.cfg.Store.LatestLeaderboard(ctx)
	if errors.Is(err, store.ErrNotFound) {
		res.SkipReason = "no leaderboard yet"
		res.NextRunAt = now.Add(w.cfg.RetryInterval)
		w.log.Info("checkpoint skipped: no leaderboard stored yet", "now", now)
		return nil
	}
	if err != nil {
		return fmt.Errorf("latest leaderboard: %w", err)
	}
	var entries []sdk.LeaderboardEntry
	if err := json.Unmarshal(lb.Entries, &entries); err != nil {
		return fmt.Errorf("leaderboard %s entries: expected a JSON array of leaderboard entries: %w", lb.ID, err)
	}
	rewards, undistributed := Rewards(entries)
	if undistributed > 0 {
		w.log.Warn("emission shares: rounding units not assignable without breaking a tie", "undistributed_frac64", undistributed, "leaderboard_id", lb.ID)
	}
	next := slot.Add(w.cfg.Interval)
	id := "CKP_" + slot.UTC().Format("20060102T150405Z")
	payload, err := json.Marshal(Payload{
		CheckpointID: id, Slot: slot, PeriodStart: periodStart, PeriodEnd: now,
		LeaderboardID: lb.ID, LeaderboardCreatedAt: lb.CreatedAt.UTC(),
		RewardUnit: "frac64 (1000000000 = 100%)", RewardPolicy: RewardPolicy,
		CruncherRewards: rewards, Undistributed: undistributed, Leaderboard: entries,
	})
	if err != nil {
		return fmt.Errorf("encode emission payload: %w", err)
	}
	ranking := make([]map[string]any, 0, len(rewards))
	for _, r := range rewards {
		ranking = append(ranking, map[string]any{"rank": r.Rank, "model_id": r.ModelID, "reward_pct": r.RewardPct})
	}
	meta, err := json.Marshal(map[string]any{"model_count": len(entries), "ranking": ranking, "leaderboard_id": lb.ID})
	if err != nil {
		return fmt.Errorf("encode checkpoint meta: %w", err)
	}
	lastRun := now
	c := store.Checkpoint{
		ID: id, Kind: Kind, IntervalSeconds: int(w.cfg.Interval / time.Second),
		LastRunAt: &lastRun, NextRunAt: &next, Meta: meta,
		Emission: &store.EmissionCheckpoint{ID: "EMC_" + slot.UTC().Format("20060102T150405Z"), CheckpointID: id, EmittedAt: now, Payload: payload},
	}
	if err := w.cfg.Store.SaveCheckpoint(ctx, c); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", id, err)
	}
	res.Written = true
	res.Checkpoint = c
	res.NextRunAt = next
	w.log.Info("emission checkpoint stored", "id", id, "models", len(entries), "leaderboard_id", lb.ID, "next_run_at", next)
	return nil
}

// Run writes checkpoints until ctx is done, sleeping on the clock until the
// next one is due (RetryInterval after a failure or when no leaderboard
// exists yet). A failed cycle is logged. It returns nil when ctx is done.
func (w *Worker) Run(ctx context.Context) error {
	_ = loop.Run(ctx, w.cfg.Clock, w.RunOnce, w.nextWait) // ends only when ctx is done
	return nil
}

// nextWait logs a failed cycle and returns the wait before the next one:
// until NextRunAt, or RetryInterval after a failure or when no checkpoint
// is scheduled yet.
func (w *Worker) nextWait(res Result, err error) time.Duration {
	wait := w.cfg.RetryInterval
	if err != nil {
		w.log.Error("checkpoint cycle failed; retrying", "error", err, "retry_in", wait)
	} else if !res.NextRunAt.IsZero() {
		wait = res.NextRunAt.Sub(w.cfg.Clock.Now())
	}
	return wait
}

// Rewards assigns the reward shares to the entries in leaderboard order.
// Eligible entries (a rank >= 1 and a rank value) take the tier shares of
// RewardShares by their position among eligible entries; tied entries (the
// same rank) pool the shares of the positions they occupy and split the
// pool exactly equally (twins at ranks 1 and 1 each get (35 % + 10 %) / 2).
// When a pool does not divide evenly, the few frac64 units left over (fewer
// than the group's size) move on to the next group's pool, and what is
// left after the last group goes to the best-ranked untied entry, so the
// shares still sum to exactly Frac64One. Only when every paid entry is in a
// tie that cannot absorb them do those units stay unassigned (returned as
// undistributed; at most a few billionths). Other entries get 0 with a note.
// The model id never changes anyone's share.
func Rewards(entries []sdk.LeaderboardEntry) (rewards []Reward, undistributed uint64) {
	eligible := func(e sdk.LeaderboardEntry) bool {
		_, ok := e.Score.RankValue()
		return ok && e.Rank > 0
	}
	n := 0
	for _, e := range entries {
		if eligible(e) {
			n++
		}
	}
	shares := RewardShares(n)
	out := make([]Reward, len(entries))
	// groups of indexes into entries with the same rank, in order
	var groups [][]int
	pos := 0
	for i, e := range entries {
		out[i] = Reward{Rank: e.Rank, ModelID: e.ModelID, ModelName: e.ModelName, CruncherName: e.CruncherName}
		if !eligible(e) {
			out[i].Rank = 0
			out[i].Note = "no rank (no score in the ranking window): not eligible"
			continue
		}
		if pos >= TieredRanks {
			out[i].Note = "beyond the 10 rewarded ranks"
		}
		if len(groups) > 0 && entries[groups[len(groups)-1][0]].Rank == e.Rank {
			groups[len(groups)-1] = append(groups[len(groups)-1], i)
		} else {
			groups = append(groups, []int{i})
		}
		pos++
	}
	var carry uint64
	pos = 0
	for _, g := range groups {
		pool := carry
		for range g {
			pool += shares[pos]
			pos++
		}
		k := uint64(len(g))
		each := pool / k
		carry = pool - each*k
		for _, i := range g {
			out[i].RewardPct = each
			if each > 0 && out[i].Note == "beyond the 10 rewarded ranks" {
				out[i].Note = "tied with a rewarded rank"
			}
		}
	}
	if carry > 0 {
		for _, g := range groups {
			if len(g) == 1 {
				out[g[0]].RewardPct += carry
				carry = 0
				break
			}
		}
	}
	return out, carry
}

// RewardShares returns the frac64 shares of n ranked entries in rank order
// (see the package doc). For n >= 1 they sum to exactly Frac64One; n <= 0
// gives an empty slice.
func RewardShares(n int) []uint64 {
	if n <= 0 {
		return []uint64{}
	}
	shares := make([]uint64, n)
	var assigned uint64
	for i := 0; i < n && i < TieredRanks; i++ {
		switch {
		case i == 0:
			shares[i] = ShareRank1
		case i < 5:
			shares[i] = ShareRank2To5
		default:
			shares[i] = ShareRank6To10
		}
		assigned += shares[i]
	}
	if n < TieredRanks {
		rest := Frac64One - assigned
		each := rest / uint64(n)
		for i := range shares {
			shares[i] += each
		}
		shares[0] += rest - each*uint64(n)
	}
	return shares
}
