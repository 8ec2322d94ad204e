package sdk

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseNonAnswerRule(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"", NonAnswerWindowWorst, ""},
		{"window_worst", NonAnswerWindowWorst, ""},
		{"0", "0", ""},
		{" -0.25 ", "-0.25", ""},
		{"NaN", "", "finite number"},
		{"ignore", "", "finite number"},
	}
	for _, tt := range tests {
		r, err := ParseNonAnswerRule(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseNonAnswerRule(%q) = %v, %v; want an error containing %q", tt.in, r, err, tt.err)
			}
			continue
		}
		if err != nil || r.String() != tt.want {
			t.Errorf("ParseNonAnswerRule(%q) = %q, %v; want %q", tt.in, r.String(), err, tt.want)
		}
	}
}

func TestAggregationCheck(t *testing.T) {
	tests := []struct {
		name string
		agg  Aggregation
		err  string
	}{
		{"defaults", Aggregation{}, ""},
		{"coverage key and window tie-breakers", Aggregation{RankingKey: "recent", TieBreakers: []string{"coverage_anchor", "anchor"}}, ""},
		{"unknown key", Aggregation{RankingKey: "score"}, `RANKING_KEY: "score" is not a metric`},
		{"unknown tie-breaker", Aggregation{TieBreakers: []string{"no_such_metric"}}, `RANKING_TIE_BREAKERS: "no_such_metric" is not a metric`},
		{"tie-breaker twice", Aggregation{TieBreakers: []string{"recent", "recent"}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.agg.Check()
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("Check = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestNonAnswerRules: a model that abstains on half of its slots against a
// model that answers all of them with the constant 0.5 (Brier 0.75).
func TestNonAnswerRules(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []PredictionRecord
	for i := 0; i < 10; i++ {
		at := now.Add(-time.Duration(i+1) * time.Minute)
		recs = append(recs, PredictionRecord{ModelID: "constant", Status: "SUCCESS", ResolvableAt: at, Score: &PredictionScore{Value: fp(0.75), Success: true}})
		if i%2 == 0 {
			// answers only when sure, and is right: Brier 0.96
			recs = append(recs, PredictionRecord{ModelID: "half", Status: "SUCCESS", ResolvableAt: at, Score: &PredictionScore{Value: fp(0.96), Success: true}})
		} else {
			recs = append(recs, PredictionRecord{ModelID: "half", Status: "FAILED", ResolvableAt: at})
		}
	}
	zero := 0.0
	tests := []struct {
		name      string
		rule      NonAnswerRule
		wantHalf  float64
		halfBelow bool
	}{
		{"fixed worst score 0", NonAnswerRule{Fixed: &zero}, (5*0.96 + 5*0) / 10, true},
		{"window worst (0.75 here)", NonAnswerRule{}, (5*0.96 + 5*0.75) / 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := Aggregation{NonAnswer: tt.rule}.Aggregate(now, recs, nil)
			if err != nil || len(entries) != 2 {
				t.Fatalf("Aggregate = %+v, %v", entries, err)
			}
			c, h := entries[0], entries[1]
			if got := *h.Score.Metrics["anchor"]; math.Abs(got-tt.wantHalf) > 1e-12 {
				t.Errorf("half-abstainer anchor = %v, want %v", got, tt.wantHalf)
			}
			if got := *h.Score.Metrics["coverage_anchor"]; got != 0.5 {
				t.Errorf("half-abstainer coverage = %v, want 0.5", got)
			}
			if got := *c.Score.Metrics["coverage_anchor"]; got != 1 {
				t.Errorf("constant coverage = %v, want 1", got)
			}
			if below := *h.Score.Metrics["anchor"] < *c.Score.Metrics["anchor"]; below != tt.halfBelow {
				t.Errorf("half-abstainer below the constant = %v, want %v", below, tt.halfBelow)
			}
		})
	}
}
