package sdk

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Ranking directions.
const (
	DirectionDesc = "desc" // higher is better (default)
	DirectionAsc  = "asc"  // lower is better
)

// ScoreEnvelope is a model's score as the runtime reads it
// (reference-system.md 8.3): exactly metrics, ranking and payload.
// Metric values are numbers or null (nil).
type ScoreEnvelope struct {
	Metrics map[string]*float64 `json:"metrics"`
	Ranking Ranking             `json:"ranking"`
	Payload json.RawMessage     `json:"payload,omitempty"`
}

// Ranking says how entries are ordered: by Value when set, else by
// Metrics[Key]; Direction "desc" (default) ranks higher first, "asc" lower
// first. TieBreakers are metric names compared in order when rank values tie.
type Ranking struct {
	Key         string   `json:"key,omitempty"`
	Value       *float64 `json:"value,omitempty"`
	Direction   string   `json:"direction"`
	TieBreakers []string `json:"tie_breakers"`
}

// RankValue applies the rank-value rule (reference-system.md 8.3): the
// explicit Ranking.Value if set, else Metrics[Ranking.Key] if set; ok is
// false when there is none (such entries sort last).
func (s ScoreEnvelope) RankValue() (v float64, ok bool) {
	if s.Ranking.Value != nil {
		return *s.Ranking.Value, true
	}
	if s.Ranking.Key != "" {
		if m, found := s.Metrics[s.Ranking.Key]; found && m != nil {
			return *m, true
		}
	}
	return 0, false
}

// Validate checks the envelope: direction is "asc" or "desc" (empty is read
// as "desc"), metric values and the rank value are finite, the payload (when
// set) is a JSON object, the ranking key (when set) names a metric of
// Metrics, and every tie-breaker names a metric of Metrics, once. A metric
// may be null (no value in this window); it must be present. It returns an
// error naming the offending field and the metrics there are.
func (s ScoreEnvelope) Validate() error {
	switch strings.ToLower(s.Ranking.Direction) {
	case "", DirectionAsc, DirectionDesc:
	default:
		return fmt.Errorf("score.ranking.direction: expected %q or %q, found %q", DirectionAsc, DirectionDesc, s.Ranking.Direction)
	}
	for k, v := range s.Metrics {
		if k == "" {
			return fmt.Errorf("score.metrics: empty metric name")
		}
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			return fmt.Errorf("score.metrics.%s: expected a finite number or null, found %v", k, *v)
		}
	}
	if s.Ranking.Value != nil && (math.IsNaN(*s.Ranking.Value) || math.IsInf(*s.Ranking.Value, 0)) {
		return fmt.Errorf("score.ranking.value: expected a finite number or null, found %v", *s.Ranking.Value)
	}
	if k := s.Ranking.Key; k != "" {
		if _, ok := s.Metrics[k]; !ok {
			return fmt.Errorf("score.ranking.key: %q names no metric (metrics: %s)", k, metricNames(s.Metrics))
		}
	}
	seen := make(map[string]bool, len(s.Ranking.TieBreakers))
	for i, tb := range s.Ranking.TieBreakers {
		if _, ok := s.Metrics[tb]; !ok {
			return fmt.Errorf("score.ranking.tie_breakers[%d]: %q names no metric (metrics: %s)", i, tb, metricNames(s.Metrics))
		}
		if seen[tb] {
			return fmt.Errorf("score.ranking.tie_breakers[%d]: %q listed twice", i, tb)
		}
		seen[tb] = true
	}
	if len(s.Payload) > 0 && string(s.Payload) != "null" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(s.Payload, &obj); err != nil {
			return fmt.Errorf("score.payload: expected a JSON object: %w", err)
		}
	}
	return nil
}

// metricNames lists the metric names, sorted, for error messages.
func metricNames(m map[string]*float64) string {
	if len(m) == 0 {
		return "none"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, strconv.Quote(k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// UnmarshalJSON decodes an envelope strictly: keys other than metrics,
// ranking and payload are rejected (reference-system.md 8.3).
func (s *ScoreEnvelope) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("score envelope: expected a JSON object: %w", err)
	}
	for k := range raw {
		switch k {
		case "metrics", "ranking", "payload":
		default:
			return fmt.Errorf("score envelope: unknown key %q (allowed: metrics, ranking, payload)", k)
		}
	}
	type plain ScoreEnvelope
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("score envelope: %w", err)
	}
	*s = ScoreEnvelope(p)
	if s.Ranking.Direction == "" {
		s.Ranking.Direction = DirectionDesc
	}
	return nil
}

// LeaderboardEntry is one ranked row (reference-system.md 8.4). Rank is
// 1-based after ranking and shared by tied entries (1, 1, 3); 0 means no
// rank (before ranking, or an entry without a rank value), encoded as an
// absent key.
type LeaderboardEntry struct {
	ModelID      string        `json:"model_id"`
	Score        ScoreEnvelope `json:"score"`
	Rank         int           `json:"rank,omitempty"`
	ModelName    string        `json:"model_name,omitempty"`
	CruncherName string        `json:"cruncher_name,omitempty"`
}

// Column types the report UI knows (report-ui-contract.md 3.6). PROJECT is
// the current UI's named model column; MODEL is what UIs before 2026-03-18
// used.
const (
	ColumnProject    = "PROJECT"
	ColumnModel      = "MODEL"
	ColumnValue      = "VALUE"
	ColumnUsername   = "USERNAME"
	ColumnRewardRank = "REWARD_RANK"
)

// Widget types.
const (
	WidgetChart  = "CHART"
	WidgetIframe = "IFRAME"
)

// ReportSchema is served by /reports/schema (reference-system.md 8.5).
type ReportSchema struct {
	SchemaVersion      string              `json:"schema_version"`
	LeaderboardColumns []LeaderboardColumn `json:"leaderboard_columns"`
	MetricsWidgets     []MetricsWidget     `json:"metrics_widgets"`
}

// LeaderboardColumn is one leaderboard column. Property names the key read
// from each /reports/leaderboard row.
type LeaderboardColumn struct {
	ID                  int             `json:"id"`
	Type                string          `json:"type"`
	Property            string          `json:"property"`
	Format              *string         `json:"format"`
	DisplayName         string          `json:"displayName"`
	Tooltip             *string         `json:"tooltip"`
	NativeConfiguration json.RawMessage `json:"nativeConfiguration"`
	Order               int             `json:"order"`
}

// MetricsWidget is one chart or iframe widget. EndpointURL is a report-API
// path whose rows the chart reads.
type MetricsWidget struct {
	ID                  int             `json:"id"`
	Type                string          `json:"type"`
	DisplayName         string          `json:"displayName"`
	Tooltip             *string         `json:"tooltip"`
	Order               int             `json:"order"`
	EndpointURL         string          `json:"endpointUrl"`
	NativeConfiguration json.RawMessage `json:"nativeConfiguration"`
}

// Validate checks the schema: required fields present, column and widget
// types known, ids unique, formats well formed (decimal-N, not decimal:N).
// The error names the offending column or widget.
func (r ReportSchema) Validate() error {
	seen := map[int]bool{}
	for i, c := range r.LeaderboardColumns {
		where := fmt.Sprintf("leaderboard_columns[%d]", i)
		switch c.Type {
		case ColumnProject, ColumnModel, ColumnValue, ColumnUsername, ColumnRewardRank:
		default:
			return fmt.Errorf("%s.type: expected one of PROJECT, MODEL, VALUE, USERNAME, REWARD_RANK, found %q", where, c.Type)
		}
		if c.Property == "" {
			return fmt.Errorf("%s.property: required", where)
		}
		if c.DisplayName == "" {
			return fmt.Errorf("%s.displayName: required", where)
		}
		if seen[c.ID] {
			return fmt.Errorf("%s.id: duplicate id %d", where, c.ID)
		}
		seen[c.ID] = true
		if c.Format != nil && !validFormat(*c.Format) {
			return fmt.Errorf("%s.format: expected percentage, integer, compact, number or decimal-N, found %q", where, *c.Format)
		}
	}
	seen = map[int]bool{}
	for i, w := range r.MetricsWidgets {
		where := fmt.Sprintf("metrics_widgets[%d]", i)
		if w.Type != WidgetChart && w.Type != WidgetIframe {
			return fmt.Errorf("%s.type: expected CHART or IFRAME, found %q", where, w.Type)
		}
		if w.DisplayName == "" {
			return fmt.Errorf("%s.displayName: required", where)
		}
		if w.EndpointURL == "" {
			return fmt.Errorf("%s.endpointUrl: required", where)
		}
		if seen[w.ID] {
			return fmt.Errorf("%s.id: duplicate id %d", where, w.ID)
		}
		seen[w.ID] = true
	}
	return nil
}

func validFormat(f string) bool {
	switch f {
	case "percentage", "integer", "compact", "number":
		return true
	}
	if rest, ok := strings.CutPrefix(f, "decimal-"); ok && rest != "" {
		for _, r := range rest {
			if r < '0' || r > '9' {
				return false
			}
		}
		return true
	}
	return false
}
