package sdk

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults implements every Challenge callable with the runtime's default
// behaviour (reference-system.md 2.2-2.3, with the corrections of section
// 14). Embed it and override what differs; Describe does not list the
// callables a plugin takes from Defaults, so the host runs its own copy of
// the same defaults for them. BuildInferenceInput and ScorePredictions are
// required callables: a plugin that relies on Defaults for either is rejected
// by the host.
type Defaults struct{}

// Window is one aggregation window: predictions whose resolvable_at lies in
// [now-Length, now] count towards the metric Name.
type Window struct {
	Name   string
	Length time.Duration
}

// DefaultWindows returns the windows of the default aggregation, shortest
// first: recent (24 h), steady (72 h), anchor (7 days). The default ranking
// key is the last one, "anchor".
func DefaultWindows() []Window {
	return []Window{
		{Name: "recent", Length: 24 * time.Hour},
		{Name: "steady", Length: 72 * time.Hour},
		{Name: "anchor", Length: 7 * 24 * time.Hour},
	}
}

// DefaultScopeKey is the scope key used when neither the scope builder nor
// the schedule row supplies one.
const DefaultScopeKey = "default-scope"

// Default predict-call values (reference-system.md 2.3.4).
const (
	DefaultAsset          = "BTC"
	DefaultHorizonSeconds = 60
)

// ProvideRawInput returns {}.
func (Defaults) ProvideRawInput(context.Context, time.Time, HostData) (json.RawMessage, error) {
	return json.RawMessage("{}"), nil
}

// BuildInferenceInput returns the raw input unchanged when it is a JSON
// object, {} when it is null or empty, and an error wrapping ErrInvalidInput
// for any other JSON value.
func (Defaults) BuildInferenceInput(_ context.Context, rawInput json.RawMessage) (json.RawMessage, error) {
	switch kind := JSONKind(rawInput); kind {
	case "null":
		return json.RawMessage("{}"), nil
	case "object":
		return append(json.RawMessage(nil), rawInput...), nil
	default:
		return nil, fmt.Errorf("raw input: expected a JSON object or null, found %s: %w", kind, ErrInvalidInput)
	}
}

// ValidateInferenceOutput keeps every output (one empty result per item).
func (Defaults) ValidateInferenceOutput(_ context.Context, items []ValidationItem) ([]ValidationResult, error) {
	return make([]ValidationResult, len(items)), nil
}

// BuildPredictionScope returns scope_key from the config (DefaultScopeKey
// when empty) and a copy of the config's scope_template as scope ({} when
// null). A scope_template that is not an object is an error wrapping
// ErrInvalidInput.
func (Defaults) BuildPredictionScope(_ context.Context, config ScheduleConfig, _ json.RawMessage) (ScopeEnvelope, error) {
	key := config.ScopeKey
	if key == "" {
		key = DefaultScopeKey
	}
	scope := json.RawMessage("{}")
	switch kind := JSONKind(config.ScopeTemplate); kind {
	case "null":
	case "object":
		scope = append(json.RawMessage(nil), config.ScopeTemplate...)
	default:
		return ScopeEnvelope{}, fmt.Errorf("schedule %q scope_template: expected a JSON object, found %s: %w", config.ID, kind, ErrInvalidInput)
	}
	return ScopeEnvelope{ScopeKey: key, Scope: scope}, nil
}

// BuildPredictCall returns args [asset, horizon, step] and kwargs {}:
// asset = scope "asset" (DefaultAsset when absent or null); horizon = scope
// "horizon", else "horizon_seconds", else DefaultHorizonSeconds; step =
// scope "step", else "step_seconds", else the horizon. Horizon and step are
// whole seconds >= 1 given as JSON integers or numeric strings; anything else
// is an error wrapping ErrInvalidInput naming the key.
func (Defaults) BuildPredictCall(_ context.Context, _ ScheduleConfig, _ json.RawMessage, scope ScopeEnvelope) (PredictCall, error) {
	fields := map[string]json.RawMessage{}
	switch kind := JSONKind(scope.Scope); kind {
	case "null":
	case "object":
		if err := json.Unmarshal(scope.Scope, &fields); err != nil {
			return PredictCall{}, fmt.Errorf("scope %q: %w", scope.ScopeKey, err)
		}
	default:
		return PredictCall{}, fmt.Errorf("scope %q: expected a JSON object, found %s: %w", scope.ScopeKey, kind, ErrInvalidInput)
	}
	asset := json.RawMessage(strconv.Quote(DefaultAsset))
	if v, ok := fields["asset"]; ok && JSONKind(v) != "null" {
		asset = v
	}
	horizon, found, err := firstSeconds(scope.ScopeKey, fields, "horizon", "horizon_seconds")
	if err != nil {
		return PredictCall{}, err
	}
	if !found {
		horizon = DefaultHorizonSeconds
	}
	step, found, err := firstSeconds(scope.ScopeKey, fields, "step", "step_seconds")
	if err != nil {
		return PredictCall{}, err
	}
	if !found {
		step = horizon
	}
	return PredictCall{
		Args: []json.RawMessage{
			asset,
			json.RawMessage(strconv.FormatInt(horizon, 10)),
			json.RawMessage(strconv.FormatInt(step, 10)),
		},
		Kwargs: json.RawMessage("{}"),
	}, nil
}

// firstSeconds returns the first of keys present (and not null) in fields
// as whole seconds >= 1.
func firstSeconds(scopeKey string, fields map[string]json.RawMessage, keys ...string) (int64, bool, error) {
	for _, k := range keys {
		v, ok := fields[k]
		if !ok || JSONKind(v) == "null" {
			continue
		}
		n, err := wholeSeconds(v)
		if err != nil {
			return 0, false, fmt.Errorf("scope %q key %q: %w: %w", scopeKey, k, err, ErrInvalidInput)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// wholeSeconds reads a JSON integer (or numeric string) >= 1.
func wholeSeconds(v json.RawMessage) (int64, error) {
	text := strings.TrimSpace(string(v))
	if JSONKind(v) == "string" {
		if err := json.Unmarshal(v, &text); err != nil {
			return 0, err
		}
	} else if JSONKind(v) != "number" {
		return 0, fmt.Errorf("expected whole seconds (integer >= 1), found %s", JSONKind(v))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f > math.MaxInt32 {
		return 0, fmt.Errorf("expected whole seconds (integer >= 1), found %s", text)
	}
	if f < 1 {
		return 0, fmt.Errorf("expected whole seconds (integer >= 1), found %s", text)
	}
	return int64(f), nil
}

// ResolveGroundTruth resolves every prediction with ground truth {}.
func (Defaults) ResolveGroundTruth(_ context.Context, _ time.Time, predictions []PredictionRecord, _ HostData) ([]GroundTruthResult, error) {
	out := make([]GroundTruthResult, len(predictions))
	for i := range out {
		out[i] = GroundTruthResult{Resolved: true, GroundTruth: json.RawMessage("{}")}
	}
	return out, nil
}

// ScorePredictions scores every item value 0.0, success true (the reference
// placeholder). ScorePredictions is a required callable, so a real challenge
// overrides it.
func (Defaults) ScorePredictions(_ context.Context, items []ScoreItem) ([]ScoreResult, error) {
	out := make([]ScoreResult, len(items))
	for i, it := range items {
		zero := 0.0
		out[i] = ScoreResult{PredictionID: it.PredictionID, Value: &zero, Success: true}
	}
	return out, nil
}

// AggregateModelScores is the default aggregation with the default
// settings (Aggregation{}.Aggregate): per DefaultWindows window, the mean
// score over every expected prediction with non-answers scored by the
// window-worst rule, and the coverage; ranked by "anchor". Records may
// include unscored and non-answer predictions; see Aggregation.Entries.
func (Defaults) AggregateModelScores(_ context.Context, now time.Time, scored []PredictionRecord, models map[string]ModelRecord) ([]LeaderboardEntry, error) {
	return Aggregation{}.Aggregate(now, scored, models)
}

// RankLeaderboard returns copies of entries ordered best first, ranked by
// CompareEntries: the rank value (ScoreEnvelope.RankValue, negated when the
// entry's direction is "asc"), then each of the entry's declared
// tie_breakers metrics in order. Entries that still compare equal are tied
// and share a rank (standard competition ranking: 1, 1, 3); they are listed
// by model_id only so the order is stable, and the rank they share never
// depends on it. Entries without a rank value get Rank 0 (no rank) and are
// listed last.
func (Defaults) RankLeaderboard(_ context.Context, entries []LeaderboardEntry) ([]LeaderboardEntry, error) {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, func(a, b LeaderboardEntry) int {
		if c := CompareEntries(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.ModelID, b.ModelID)
	})
	AssignRanks(out)
	return out, nil
}

// AssignRanks numbers entries already ordered best first: an entry with a
// rank value gets 1 + the number of entries before it that are strictly
// better (CompareEntries < 0), so tied neighbours share a rank (1, 1, 3);
// an entry without a rank value gets 0 (no rank).
func AssignRanks(ordered []LeaderboardEntry) {
	pos := 0 // entries with a rank value seen so far
	for i := range ordered {
		if _, ok := ordered[i].Score.RankValue(); !ok {
			ordered[i].Rank = 0
			continue
		}
		pos++
		if i > 0 && ordered[i-1].Rank > 0 && CompareEntries(ordered[i-1], ordered[i]) == 0 {
			ordered[i].Rank = ordered[i-1].Rank
			continue
		}
		ordered[i].Rank = pos
	}
}

// orientedValue returns v negated for asc, and whether v is usable.
func orientedValue(v float64, ok bool, direction string) (float64, bool) {
	if !ok || math.IsNaN(v) {
		return 0, false
	}
	if strings.EqualFold(direction, DirectionAsc) {
		return -v, true
	}
	return v, true
}

// compareBest orders a before b (-1) when a's value is present and higher.
func compareBest(a float64, aok bool, b float64, bok bool) int {
	switch {
	case aok && !bok:
		return -1
	case !aok && bok:
		return 1
	case !aok && !bok:
		return 0
	}
	return cmp.Compare(b, a)
}

// CompareEntries orders two leaderboard entries best first: -1 when a
// ranks better than b, 1 when worse, 0 when they are tied. It compares the
// rank values (ScoreEnvelope.RankValue, negated for direction "asc"; an
// entry without one is worse than any entry with one), then each declared
// tie-breaker metric in order (compared the same way; 0.0 is a real value,
// a missing or null metric is worse). Nothing else, in particular never the
// model id, decides: entries equal on all of these are tied.
func CompareEntries(a, b LeaderboardEntry) int {
	av, aok := a.Score.RankValue()
	bv, bok := b.Score.RankValue()
	av, aok = orientedValue(av, aok, a.Score.Ranking.Direction)
	bv, bok = orientedValue(bv, bok, b.Score.Ranking.Direction)
	if c := compareBest(av, aok, bv, bok); c != 0 {
		return c
	}
	n := max(len(a.Score.Ranking.TieBreakers), len(b.Score.Ranking.TieBreakers))
	for i := 0; i < n; i++ {
		at, aok := tieValue(a, i)
		bt, bok := tieValue(b, i)
		if c := compareBest(at, aok, bt, bok); c != 0 {
			return c
		}
	}
	return 0
}

// tieValue returns the entry's i-th tie-breaker metric, oriented.
func tieValue(e LeaderboardEntry, i int) (float64, bool) {
	if i >= len(e.Score.Ranking.TieBreakers) {
		return 0, false
	}
	m, ok := e.Score.Metrics[e.Score.Ranking.TieBreakers[i]]
	if !ok || m == nil {
		return 0, false
	}
	return orientedValue(*m, true, e.Score.Ranking.Direction)
}

// ReportSchema returns the default report schema (see [DefaultReportSchema]).
func (Defaults) ReportSchema(context.Context) (ReportSchema, error) {
	return DefaultReportSchema(), nil
}

// DefaultReportSchema is the schema the current report UI understands:
// a PROJECT column on model_id, VALUE columns score_recent, score_steady and
// score_anchor (decimal-4), and three line charts: "Score Metrics" on
// /reports/models/global, "Predictions" on /reports/predictions (series
// score_value, alert on score_success with reason score_failed_reason,
// filters on asset and horizon) and "Rolling score by parameters" on
// /reports/models/params. Chart rows must carry these keys at top level.
func DefaultReportSchema() ReportSchema {
	str := func(s string) *string { return &s }
	dec4 := "decimal-4"
	windowSeries := []map[string]string{
		{"name": "score_recent", "label": "Recent Score"},
		{"name": "score_steady", "label": "Steady Score"},
		{"name": "score_anchor", "label": "Anchor Score"},
	}
	scoreChart := mustJSON(map[string]any{
		"type":             "line",
		"xAxis":            map[string]any{"name": "performed_at"},
		"yAxis":            map[string]any{"series": windowSeries, "format": dec4},
		"displayEvolution": false,
	})
	predictionsChart := mustJSON(map[string]any{
		"type":  "line",
		"xAxis": map[string]any{"name": "performed_at"},
		"yAxis": map[string]any{
			"series": []map[string]string{{"name": "score_value", "label": "Score"}},
			"format": dec4,
		},
		"alertConfig": map[string]any{"field": "score_success", "reasonField": "score_failed_reason"},
		"filterConfig": []map[string]any{
			{"type": "select", "label": "Asset", "property": "asset", "autoSelectFirst": true},
			{"type": "select", "label": "Horizon", "property": "horizon", "autoSelectFirst": true},
		},
		"displayEvolution": false,
	})
	return ReportSchema{
		SchemaVersion: "1",
		LeaderboardColumns: []LeaderboardColumn{
			{ID: 1, Type: ColumnProject, Property: "model_id", DisplayName: "Model",
				NativeConfiguration: json.RawMessage(`{"type":"model","statusProperty":"status"}`), Order: 0},
			{ID: 2, Type: ColumnValue, Property: "score_recent", Format: str(dec4), DisplayName: "Recent Score",
				Tooltip: str("The score of the player over the last 24 hours."), Order: 20},
			{ID: 3, Type: ColumnValue, Property: "score_steady", Format: str(dec4), DisplayName: "Steady Score",
				Tooltip: str("The score of the player over the last 72 hours."), Order: 30},
			{ID: 4, Type: ColumnValue, Property: "score_anchor", Format: str(dec4), DisplayName: "Anchor Score",
				Tooltip: str("The score of the player over the last 7 days."), Order: 40},
		},
		MetricsWidgets: []MetricsWidget{
			{ID: 1, Type: WidgetChart, DisplayName: "Score Metrics", Order: 10,
				EndpointURL: "/reports/models/global", NativeConfiguration: scoreChart},
			{ID: 2, Type: WidgetChart, DisplayName: "Predictions", Order: 30,
				EndpointURL: "/reports/predictions", NativeConfiguration: predictionsChart},
			{ID: 3, Type: WidgetChart, DisplayName: "Rolling score by parameters", Order: 20,
				EndpointURL: "/reports/models/params", NativeConfiguration: scoreChart},
		},
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sdk: encode built-in report schema: %v", err))
	}
	return b
}
