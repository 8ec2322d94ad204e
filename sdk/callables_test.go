package sdk

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

type onlyRequired struct{ Defaults }

func (onlyRequired) BuildInferenceInput(context.Context, json.RawMessage) (json.RawMessage, error) {
	return nil, nil
}
func (onlyRequired) ScorePredictions(context.Context, []ScoreItem) ([]ScoreResult, error) {
	return nil, nil
}

// pointerReceivers overrides with pointer receivers and embeds *Defaults.
type pointerReceivers struct{ *Defaults }

func (*pointerReceivers) ReportSchema(context.Context) (ReportSchema, error) {
	return ReportSchema{}, nil
}

// base is a user type between the challenge and Defaults.
type base struct{ Defaults }

func (base) RankLeaderboard(context.Context, []LeaderboardEntry) ([]LeaderboardEntry, error) {
	return nil, nil
}

type derived struct {
	base
	Name string
}

func (derived) ScorePredictions(context.Context, []ScoreItem) ([]ScoreResult, error) { return nil, nil }

// viaInterface delegates through an embedded interface: undecidable, listed.
type viaInterface struct{ Challenge }

// shadowed declares a method at depth 1 that also exists deeper in Defaults.
type shadowed struct {
	Defaults
	extra
}

type extra struct{}

func (extra) Unrelated() {}

// full implements everything itself.
type full struct{ onlyRequired }

func (full) ProvideRawInput(context.Context, time.Time, HostData) (json.RawMessage, error) {
	return nil, nil
}
func (full) ValidateInferenceOutput(context.Context, []ValidationItem) ([]ValidationResult, error) {
	return nil, nil
}
func (full) BuildPredictionScope(context.Context, ScheduleConfig, json.RawMessage) (ScopeEnvelope, error) {
	return ScopeEnvelope{}, nil
}
func (full) BuildPredictCall(context.Context, ScheduleConfig, json.RawMessage, ScopeEnvelope) (PredictCall, error) {
	return PredictCall{}, nil
}
func (full) ResolveGroundTruth(context.Context, time.Time, []PredictionRecord, HostData) ([]GroundTruthResult, error) {
	return nil, nil
}
func (full) AggregateModelScores(context.Context, time.Time, []PredictionRecord, map[string]ModelRecord) ([]LeaderboardEntry, error) {
	return nil, nil
}
func (full) RankLeaderboard(context.Context, []LeaderboardEntry) ([]LeaderboardEntry, error) {
	return nil, nil
}
func (full) ReportSchema(context.Context) (ReportSchema, error) { return ReportSchema{}, nil }

func TestImplementedCallables(t *testing.T) {
	tests := []struct {
		name string
		c    Challenge
		want []string
	}{
		{"Defaults itself", Defaults{}, nil},
		{"only required, value", onlyRequired{}, []string{CallableBuildInferenceInput, CallableScorePredictions}},
		{"only required, pointer", &onlyRequired{}, []string{CallableBuildInferenceInput, CallableScorePredictions}},
		{"pointer receivers, embedded *Defaults", &pointerReceivers{}, []string{CallableReportSchema}},
		{"through a user base type", derived{}, []string{CallableScorePredictions, CallableRankLeaderboard}},
		{"through a user base type, pointer", &derived{}, []string{CallableScorePredictions, CallableRankLeaderboard}},
		{"embedded interface", viaInterface{Challenge: Defaults{}}, AllCallables},
		{"other embedded type", shadowed{}, nil},
		{"full", full{}, AllCallables},
		{"nil", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ImplementedCallables(tt.c)
			want := tt.want
			if want != nil && len(want) != len(AllCallables) {
				// Expected lists are given as sets; compare in canonical order.
				want = canonical(want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ImplementedCallables = %v, want %v", got, want)
			}
		})
	}
}

func canonical(names []string) []string {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	var out []string
	for _, n := range AllCallables {
		if set[n] {
			out = append(out, n)
		}
	}
	return out
}
