package score

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// RebuildLeaderboard rebuilds the leaderboard at clock.Now() under the
// leader lock "leaderboard" and saves it with the score-history points in
// one transaction (see the package doc). Result.Ran is false when another
// process holds the lock. Errors come from the store, the challenge's
// AggregateModelScores / RankLeaderboard, or an invalid entry (named).
func (w *Worker) RebuildLeaderboard(ctx context.Context) (LeaderboardResult, error) {
	return w.RebuildLeaderboardAt(ctx, w.cfg.Clock.Now())
}

// RebuildLeaderboardAt is RebuildLeaderboard at the time now instead of
// clock.Now() (a replay rebuilds the leaderboard of a simulated time while
// its clock moves on).
func (w *Worker) RebuildLeaderboardAt(ctx context.Context, now time.Time) (LeaderboardResult, error) {
	start := time.Now()
	var res LeaderboardResult
	ran, err := w.cfg.Store.WithLeaderLock(ctx, LeaderLockName, func(ctx context.Context) error {
		var err error
		res, err = w.rebuild(ctx, now.UTC())
		return err
	})
	res.Ran = ran
	res.Elapsed = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("leaderboard rebuild: %w", err)
	}
	if ran {
		w.log.Debug("leaderboard rebuilt", "id", res.ID, "entries", len(res.Entries), "scored_models", res.ScoredModels, "elapsed", res.Elapsed)
	}
	return res, nil
}

func (w *Worker) rebuild(ctx context.Context, now time.Time) (LeaderboardResult, error) {
	res := LeaderboardResult{ID: LeaderboardID(now), CreatedAt: now}
	stored, err := w.cfg.Store.ListModels(ctx)
	if err != nil {
		return res, fmt.Errorf("list models: %w", err)
	}
	models := make(map[string]sdk.ModelRecord, len(stored))
	for _, m := range stored {
		models[m.ID] = sdk.ModelRecord{ID: m.ID, Name: m.Name, PlayerID: m.PlayerID, PlayerName: m.PlayerName, DeploymentID: m.DeploymentID}
	}

	var entries []sdk.LeaderboardEntry
	if w.cfg.UseDefaultAggregation {
		entries, err = DefaultAggregate(ctx, w.cfg.Store, now, models, w.cfg.Aggregation)
	} else {
		entries, err = w.pluginAggregate(ctx, now, stored, models)
	}
	if err != nil {
		return res, err
	}
	scored := make(map[string]bool, len(entries))
	for i := range entries {
		e := &entries[i]
		if e.ModelID == "" {
			return res, fmt.Errorf("aggregation entry %d: model_id: required", i)
		}
		m, known := models[e.ModelID]
		if !known {
			return res, fmt.Errorf("aggregation entry %d: model_id %q: not a known model", i, e.ModelID)
		}
		if scored[e.ModelID] {
			return res, fmt.Errorf("aggregation entry %d: model_id %q: listed twice", i, e.ModelID)
		}
		scored[e.ModelID] = true
		if err := e.Score.Validate(); err != nil {
			return res, fmt.Errorf("aggregation entry %d (model %q): %w", i, e.ModelID, err)
		}
		normaliseScore(&e.Score)
		e.ModelName = cmp.Or(e.ModelName, m.Name)
		e.CruncherName = cmp.Or(e.CruncherName, m.PlayerName)
		e.Rank = 0
	}
	for _, e := range entries {
		if hasValue(e.Score) {
			res.ScoredModels++
		}
	}
	for _, m := range stored {
		if scored[m.ID] {
			continue
		}
		entries = append(entries, sdk.LeaderboardEntry{
			ModelID:      m.ID,
			Score:        sdk.ScoreEnvelope{Metrics: map[string]*float64{}, Ranking: sdk.Ranking{Direction: sdk.DirectionDesc, TieBreakers: []string{}}},
			ModelName:    m.Name,
			CruncherName: m.PlayerName,
		})
		res.UnscoredAdded++
	}
	// Deterministic input order for the ranker: by model id.
	slices.SortStableFunc(entries, func(a, b sdk.LeaderboardEntry) int { return cmp.Compare(a.ModelID, b.ModelID) })

	ranked, err := w.rank(ctx, entries)
	if err != nil {
		return res, err
	}
	ranked = FinishRanking(ranked, scored)
	res.Entries = ranked
	res.RankedModels = RankedCount(ranked)

	entriesJSON, err := json.Marshal(ranked)
	if err != nil {
		return res, fmt.Errorf("encode leaderboard entries: %w", err)
	}
	aggregation, ranking := "challenge", "challenge"
	if w.cfg.UseDefaultAggregation {
		aggregation = "default"
	}
	if w.cfg.UseDefaultRanking {
		ranking = "default"
	}
	if w.cfg.UseDefaultAggregation {
		// the rule the default aggregation applied, for the record
		aggregation = "default (non-answer " + w.cfg.Aggregation.NonAnswer.String() + ")"
	}
	windows := make([]map[string]any, 0, 3)
	for _, win := range sdk.DefaultWindows() {
		windows = append(windows, map[string]any{"name": win.Name, "seconds": int64(win.Length / time.Second)})
	}
	meta, err := json.Marshal(map[string]any{
		"generated_by":  "coordinator/score",
		"aggregation":   aggregation,
		"ranking":       ranking,
		"windows":       windows,
		"models":        len(ranked),
		"scored_models": res.ScoredModels,
		"ranked_models": res.RankedModels,
		"scores_exist":  res.ScoredModels > 0,
	})
	if err != nil {
		return res, fmt.Errorf("encode leaderboard meta: %w", err)
	}
	var points []store.ModelScore
	for _, e := range ranked {
		if !scored[e.ModelID] || !hasValue(e.Score) {
			continue
		}
		sj, err := json.Marshal(e.Score)
		if err != nil {
			return res, fmt.Errorf("encode score of model %q: %w", e.ModelID, err)
		}
		points = append(points, store.ModelScore{ID: ModelScoreID(e.ModelID, now), ModelID: e.ModelID, Score: sj, ComputedAt: now})
	}
	if err := w.cfg.Store.SaveLeaderboard(ctx, store.Leaderboard{ID: res.ID, CreatedAt: now, Entries: entriesJSON, Meta: meta}, points); err != nil {
		return res, fmt.Errorf("save leaderboard %s (%d entries): %w", res.ID, len(ranked), err)
	}
	return res, nil
}

// pluginAggregate passes each model's predictions of the longest default
// window that count in an aggregation (store.WindowPredictions: scored
// ones and non-answers, so the challenge can apply its own non-answer
// rule) to the challenge's AggregateModelScores.
func (w *Worker) pluginAggregate(ctx context.Context, now time.Time, stored []store.Model, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	from := now.Add(-longestWindow())
	var all []sdk.PredictionRecord
	for _, m := range stored {
		preds, err := w.cfg.Store.WindowPredictions(ctx, m.ID, from, now, w.cfg.AggregationLimit)
		if err != nil {
			return nil, fmt.Errorf("scored predictions of model %q: %w", m.ID, err)
		}
		if len(preds) >= w.cfg.AggregationLimit {
			w.log.Warn("aggregation input truncated: the model has more predictions in the window than AggregationLimit",
				"model_id", m.ID, "limit", w.cfg.AggregationLimit, "from", from, "to", now)
		}
		for _, p := range preds {
			all = append(all, Record(p))
		}
	}
	entries, err := w.cfg.Challenge.AggregateModelScores(ctx, now, all, models)
	if err != nil {
		return nil, fmt.Errorf("%s over %d scored predictions: %w", sdk.CallableAggregateModelScores, len(all), err)
	}
	return entries, nil
}

// defaults is sdk.Defaults behind the checked boundary, as the host serves
// a callable routed to the default.
var defaults = wire.Checked(sdk.Defaults{})

// rank orders entries with the challenge's RankLeaderboard, or the checked
// sdk.Defaults in-process, and checks the ranker returned every entry
// exactly once.
func (w *Worker) rank(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	var ranked []sdk.LeaderboardEntry
	var err error
	if w.cfg.UseDefaultRanking {
		ranked, err = defaults.RankLeaderboard(ctx, entries)
	} else {
		ranked, err = w.cfg.Challenge.RankLeaderboard(ctx, entries)
	}
	if err != nil {
		return nil, fmt.Errorf("%s over %d entries: %w", sdk.CallableRankLeaderboard, len(entries), err)
	}
	if len(ranked) != len(entries) {
		return nil, fmt.Errorf("%s: expected %d entries back (every model exactly once), found %d", sdk.CallableRankLeaderboard, len(entries), len(ranked))
	}
	in := make(map[string]bool, len(entries))
	for _, e := range entries {
		in[e.ModelID] = true
	}
	for i, e := range ranked {
		if !in[e.ModelID] {
			return nil, fmt.Errorf("%s: entry %d: model_id %q was not given or is listed twice", sdk.CallableRankLeaderboard, i, e.ModelID)
		}
		delete(in, e.ModelID)
		if err := e.Score.Validate(); err != nil {
			return nil, fmt.Errorf("%s: entry %d (model %q): %w", sdk.CallableRankLeaderboard, i, e.ModelID, err)
		}
	}
	return ranked, nil
}

// FinishRanking keeps the ranker's order but lists first the entries of
// models in scored that have a rank value, then the others (stable), and
// numbers the first group with sdk.AssignRanks: tied neighbours
// (sdk.CompareEntries == 0) share a rank (1, 1, 3). Every other entry
// (no rank value, e.g. a model that answered nothing in the ranking
// window, or a model without an aggregation entry) has rank 0, served as
// null: no fake ranks.
func FinishRanking(ranked []sdk.LeaderboardEntry, scored map[string]bool) []sdk.LeaderboardEntry {
	rankable := func(e sdk.LeaderboardEntry) bool {
		_, ok := e.Score.RankValue()
		return ok && scored[e.ModelID]
	}
	out := make([]sdk.LeaderboardEntry, 0, len(ranked))
	for _, e := range ranked {
		if rankable(e) {
			out = append(out, e)
		}
	}
	n := len(out)
	for _, e := range ranked {
		if !rankable(e) {
			out = append(out, e)
		}
	}
	sdk.AssignRanks(out[:n])
	for i := n; i < len(out); i++ {
		out[i].Rank = 0
	}
	return out
}

// RankedCount is the number of entries with a rank (Rank >= 1).
func RankedCount(entries []sdk.LeaderboardEntry) int {
	n := 0
	for _, e := range entries {
		if e.Rank > 0 {
			n++
		}
	}
	return n
}

// DefaultAggregate computes the default aggregation in-process from SQL
// aggregates (one store.ModelScoreStatsWindows query for the windows of
// sdk.DefaultWindows, each [now-Length, now]) with agg's non-answer rule,
// ranking key and tie-breakers. It returns exactly what agg.Aggregate
// returns when given every prediction of the longest window (see
// sdk.Aggregation.Entries): window means over every expected prediction,
// non-answers scored by the rule, coverage per window, ordered by model id.
func DefaultAggregate(ctx context.Context, st interface {
	ModelScoreStatsWindows(ctx context.Context, froms []time.Time, to time.Time) ([][]store.ModelScoreStat, error)
}, now time.Time, models map[string]sdk.ModelRecord, agg sdk.Aggregation) ([]sdk.LeaderboardEntry, error) {
	windows := sdk.DefaultWindows()
	froms := make([]time.Time, len(windows))
	for i, win := range windows {
		froms[i] = now.Add(-win.Length)
	}
	perWindow, err := st.ModelScoreStatsWindows(ctx, froms, now)
	if err != nil {
		return nil, fmt.Errorf("score stats of the default windows ending %s: %w", now.Format(time.RFC3339), err)
	}
	stats := make([]map[string]sdk.WindowStat, len(windows))
	for i, rows := range perWindow {
		stats[i] = make(map[string]sdk.WindowStat, len(rows))
		for _, r := range rows {
			stats[i][r.ModelID] = sdk.WindowStat{Answered: r.Count, Sum: r.Sum, Min: r.Min, NonAnswers: r.NonAnswers}
		}
	}
	return agg.Entries(stats, models)
}

func longestWindow() time.Duration {
	var l time.Duration
	for _, w := range sdk.DefaultWindows() {
		l = max(l, w.Length)
	}
	return l
}

// hasValue reports whether an envelope has a rank value: the model has a
// score (coverage alone, e.g. of a model that only failed, is none).
func hasValue(s sdk.ScoreEnvelope) bool {
	_, ok := s.RankValue()
	return ok
}

// normaliseScore fills the envelope defaults: direction desc, non-nil
// metrics and tie-breakers.
func normaliseScore(s *sdk.ScoreEnvelope) {
	if s.Ranking.Direction == "" {
		s.Ranking.Direction = sdk.DirectionDesc
	}
	if s.Metrics == nil {
		s.Metrics = map[string]*float64{}
	}
	if s.Ranking.TieBreakers == nil {
		s.Ranking.TieBreakers = []string{}
	}
}
