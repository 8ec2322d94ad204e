package sdk

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NonAnswerWindowWorst is the SCORE_NON_ANSWER value of the window-worst
// rule (see NonAnswerRule).
const NonAnswerWindowWorst = "window_worst"

// NonAnswerRule says what a non-answer scores in the default aggregation.
// A non-answer is a prediction a model was expected to make and did not
// make validly (IsNonAnswer): it is never dropped from a model's means.
//
// Fixed nil (the zero value) is the window-worst rule: a non-answer scores
// the lowest score any model got for an answered prediction in the same
// window (the rule forecasting subnets use for missed slots), so it works
// for any scorer where higher is better. Fixed set scores every non-answer
// *Fixed: packs set it to the worst score their scorer can give (0 for the
// Brier skill 1 − (p − y)² of the baseline pack), so abstaining is never
// better than the worst possible answer.
type NonAnswerRule struct {
	Fixed *float64
}

// ParseNonAnswerRule reads a SCORE_NON_ANSWER value: "window_worst" (or
// empty) for the window-worst rule, or a finite number for a fixed score.
func ParseNonAnswerRule(s string) (NonAnswerRule, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == NonAnswerWindowWorst {
		return NonAnswerRule{}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return NonAnswerRule{}, fmt.Errorf("expected %q or a finite number (the score of a non-answer), found %q", NonAnswerWindowWorst, s)
	}
	return NonAnswerRule{Fixed: &v}, nil
}

// String is the rule as SCORE_NON_ANSWER writes it.
func (r NonAnswerRule) String() string {
	if r.Fixed == nil {
		return NonAnswerWindowWorst
	}
	return strconv.FormatFloat(*r.Fixed, 'g', -1, 64)
}

// IsNonAnswer reports whether a prediction counts as a non-answer: its
// status is FAILED, TIMEOUT, CRASHED, ABSENT, BAD_IMPLEMENTATION (any status
// but SUCCESS and UNRESOLVED), or it is SUCCESS but its score failed or has
// no finite value (the output could not be scored). UNRESOLVED predictions
// (no ground truth: nobody can be scored) and SUCCESS predictions not
// scored yet are neither answers nor non-answers. The store applies the
// same rule in SQL (store.ModelScoreStat).
func IsNonAnswer(status string, score *PredictionScore) bool {
	switch status {
	case "UNRESOLVED":
		return false
	case "SUCCESS", "": // "" is read as SUCCESS
		return score != nil && !isAnswered(score)
	}
	return true
}

// isAnswered reports whether a score is a successful finite value.
func isAnswered(s *PredictionScore) bool {
	return s != nil && s.Success && s.Value != nil && !math.IsNaN(*s.Value) && !math.IsInf(*s.Value, 0)
}

// CoverageMetric is the name of the coverage metric of a window:
// "coverage_<window>", the share answered / expected of the model's
// predictions in the window.
func CoverageMetric(window string) string { return "coverage_" + window }

// DefaultMetricNames lists the metrics the default aggregation produces:
// the window means (recent, steady, anchor) then their coverage metrics.
func DefaultMetricNames() []string {
	var out []string
	for _, w := range DefaultWindows() {
		out = append(out, w.Name)
	}
	for _, w := range DefaultWindows() {
		out = append(out, CoverageMetric(w.Name))
	}
	return out
}

// Aggregation configures the default aggregation. The zero value is the
// default: window-worst non-answers, ranking key "anchor", no
// tie-breakers.
type Aggregation struct {
	NonAnswer NonAnswerRule
	// RankingKey is the metric entries are ranked by ("" = "anchor").
	RankingKey string
	// TieBreakers are metrics compared in order when ranking values tie;
	// models equal on all of them share a rank.
	TieBreakers []string
}

// Key returns the ranking key ("anchor" when unset).
func (a Aggregation) Key() string {
	if a.RankingKey == "" {
		w := DefaultWindows()
		return w[len(w)-1].Name
	}
	return a.RankingKey
}

// Check reports a ranking key or tie-breaker that names no metric of
// DefaultMetricNames (or a tie-breaker listed twice); the error names the
// setting (RANKING_KEY, RANKING_TIE_BREAKERS) and lists the metrics.
func (a Aggregation) Check() error {
	names := DefaultMetricNames()
	if !slices.Contains(names, a.Key()) {
		return fmt.Errorf("RANKING_KEY: %q is not a metric of the default aggregation (metrics: %s)", a.Key(), strings.Join(names, ", "))
	}
	seen := map[string]bool{}
	for _, tb := range a.TieBreakers {
		if !slices.Contains(names, tb) {
			return fmt.Errorf("RANKING_TIE_BREAKERS: %q is not a metric of the default aggregation (metrics: %s)", tb, strings.Join(names, ", "))
		}
		if seen[tb] {
			return fmt.Errorf("RANKING_TIE_BREAKERS: %q listed twice", tb)
		}
		seen[tb] = true
	}
	return nil
}

// WindowStat is one model's predictions in one window: Answered successful
// finite scores with their Sum and Min, and NonAnswers (IsNonAnswer).
type WindowStat struct {
	Answered   int
	Sum        float64
	Min        float64
	NonAnswers int
}

// Expected is the number of predictions the model was expected to make
// that count in the window: answered plus non-answers.
func (s WindowStat) Expected() int { return s.Answered + s.NonAnswers }

// Aggregate computes the default aggregation from prediction records:
// each record with resolvable_at in [now-Length, now] of a window counts in
// it as an answer (a successful finite score), a non-answer (IsNonAnswer)
// or not at all (pending, UNRESOLVED). See Entries for the result.
func (a Aggregation) Aggregate(now time.Time, records []PredictionRecord, models map[string]ModelRecord) ([]LeaderboardEntry, error) {
	windows := DefaultWindows()
	stats := make([]map[string]WindowStat, len(windows))
	for i := range stats {
		stats[i] = map[string]WindowStat{}
	}
	for _, p := range records {
		answered := (p.Status == "SUCCESS" || p.Status == "") && isAnswered(p.Score)
		if !answered && !IsNonAnswer(p.Status, p.Score) {
			continue
		}
		for i, w := range windows {
			if p.ResolvableAt.After(now) || p.ResolvableAt.Before(now.Add(-w.Length)) {
				continue
			}
			st := stats[i][p.ModelID]
			if answered {
				v := *p.Score.Value
				if st.Answered == 0 || v < st.Min {
					st.Min = v
				}
				st.Answered++
				st.Sum += v
			} else {
				st.NonAnswers++
			}
			stats[i][p.ModelID] = st
		}
	}
	return a.Entries(stats, models)
}

// Entries builds the leaderboard entries from per-window statistics
// (stats[i] holds the models' WindowStat of DefaultWindows()[i]). There is
// one entry per model with at least one expected prediction in the longest
// window, ordered by model id. For each window:
//
//   - metric <window> = (sum of answered scores + non-answers × the
//     non-answer score) / expected, or null when the model answered nothing
//     in the window (a model is never ranked on non-answers alone, and the
//     window-worst rule needs an answer to exist);
//   - metric coverage_<window> = answered / expected (null when nothing
//     was expected).
//
// Ranking: RankingKey's metric as the value, direction desc, TieBreakers.
// Payload: {"predictions": answered in the longest window, "answered":
// {window: n}, "expected": {window: n}, "non_answer": rule}.
func (a Aggregation) Entries(stats []map[string]WindowStat, models map[string]ModelRecord) ([]LeaderboardEntry, error) {
	windows := DefaultWindows()
	if len(stats) != len(windows) {
		return nil, fmt.Errorf("aggregation: expected statistics of %d windows, found %d", len(windows), len(stats))
	}
	longest := 0
	for i, w := range windows {
		if w.Length > windows[longest].Length {
			longest = i
		}
	}
	// worst[i] is the lowest answered score of window i (window-worst rule).
	worst := make([]*float64, len(windows))
	for i := range windows {
		for _, st := range stats[i] {
			if st.Answered > 0 && (worst[i] == nil || st.Min < *worst[i]) {
				v := st.Min
				worst[i] = &v
			}
		}
	}
	key := a.Key()
	tbs := append([]string{}, a.TieBreakers...)
	entries := make([]LeaderboardEntry, 0, len(stats[longest]))
	for modelID, all := range stats[longest] {
		if all.Expected() == 0 {
			continue
		}
		metrics := make(map[string]*float64, 2*len(windows))
		answered := make(map[string]int, len(windows))
		expected := make(map[string]int, len(windows))
		for i, w := range windows {
			st := stats[i][modelID]
			answered[w.Name], expected[w.Name] = st.Answered, st.Expected()
			metrics[w.Name], metrics[CoverageMetric(w.Name)] = nil, nil
			if st.Expected() > 0 {
				c := float64(st.Answered) / float64(st.Expected())
				metrics[CoverageMetric(w.Name)] = &c
			}
			if st.Answered == 0 {
				continue
			}
			na := worst[i]
			if a.NonAnswer.Fixed != nil {
				na = a.NonAnswer.Fixed
			}
			sum := st.Sum
			if st.NonAnswers > 0 {
				sum += float64(st.NonAnswers) * *na
			}
			mean := sum / float64(st.Expected())
			if math.IsNaN(mean) || math.IsInf(mean, 0) {
				return nil, fmt.Errorf("aggregation: model %q window %s: mean is not finite", modelID, w.Name)
			}
			metrics[w.Name] = &mean
		}
		payload, err := json.Marshal(map[string]any{
			"predictions": all.Answered, "answered": answered, "expected": expected, "non_answer": a.NonAnswer.String(),
		})
		if err != nil {
			return nil, fmt.Errorf("model %q payload: %w", modelID, err)
		}
		m := models[modelID]
		entries = append(entries, LeaderboardEntry{
			ModelID: modelID,
			Score: ScoreEnvelope{
				Metrics: metrics,
				Ranking: Ranking{Key: key, Value: metrics[key], Direction: DirectionDesc, TieBreakers: tbs},
				Payload: payload,
			},
			ModelName:    m.Name,
			CruncherName: m.PlayerName,
		})
	}
	slices.SortFunc(entries, func(a, b LeaderboardEntry) int { return cmp.Compare(a.ModelID, b.ModelID) })
	return entries, nil
}
