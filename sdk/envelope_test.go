package sdk

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestScoreEnvelopeValidate(t *testing.T) {
	one := 1.0
	nan := math.NaN()
	tests := []struct {
		name    string
		env     ScoreEnvelope
		wantErr string // "" = valid
	}{
		{"empty envelope", ScoreEnvelope{}, ""},
		{"key names a metric", ScoreEnvelope{Metrics: map[string]*float64{"anchor": &one}, Ranking: Ranking{Key: "anchor"}}, ""},
		{"key names a null metric", ScoreEnvelope{Metrics: map[string]*float64{"anchor": nil}, Ranking: Ranking{Key: "anchor"}}, ""},
		{"key names no metric", ScoreEnvelope{Metrics: map[string]*float64{"anchor": &one}, Ranking: Ranking{Key: "ancor"}},
			`score.ranking.key: "ancor" names no metric (metrics: "anchor")`},
		{"tie-breakers name metrics", ScoreEnvelope{Metrics: map[string]*float64{"a": &one, "b": nil}, Ranking: Ranking{Key: "a", TieBreakers: []string{"b"}}}, ""},
		{"tie-breaker names no metric", ScoreEnvelope{Metrics: map[string]*float64{"a": &one}, Ranking: Ranking{Key: "a", TieBreakers: []string{"no_such_metric"}}},
			`score.ranking.tie_breakers[0]: "no_such_metric" names no metric`},
		{"tie-breaker listed twice", ScoreEnvelope{Metrics: map[string]*float64{"a": &one, "b": &one}, Ranking: Ranking{TieBreakers: []string{"b", "b"}}},
			`score.ranking.tie_breakers[1]: "b" listed twice`},
		{"bad direction", ScoreEnvelope{Ranking: Ranking{Direction: "up"}}, "score.ranking.direction"},
		{"non-finite metric", ScoreEnvelope{Metrics: map[string]*float64{"a": &nan}}, "score.metrics.a"},
		{"payload not an object", ScoreEnvelope{Payload: json.RawMessage(`[1]`)}, "score.payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.env.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
