package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Route returns the challenge the workers call: each callable goes to the
// plugin when config/callables.env routes it to "challenge", and to the
// built-in default (sdk.Defaults, in-process) when it says "default".
// A callable routed to the plugin but not listed by its Describe is an
// error naming every such callable and how to fix it.
func Route(plugin sdk.Challenge, listed []string, c config.Callables) (sdk.Challenge, error) {
	have := map[string]bool{}
	for _, l := range listed {
		have[l] = true
	}
	var missing []string
	use := map[string]bool{}
	for _, h := range config.Hooks {
		if c.Routes[h.Callable] != config.RouteChallenge {
			continue
		}
		if !have[h.Callable] {
			missing = append(missing, fmt.Sprintf("%s (%s)", h.EnvVar, h.Callable))
			continue
		}
		use[h.Callable] = true
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s routes %s to the challenge plugin, but the plugin does not implement them (Describe lists %s); implement them in the challenge package or set them to %q",
			config.CallablesFile, strings.Join(missing, ", "), strings.Join(listed, ", "), config.RouteDefault)
	}
	return routed{plugin: plugin, use: use}, nil
}

type routed struct {
	plugin sdk.Challenge
	def    sdk.Defaults
	use    map[string]bool
}

func (r routed) pick(callable string) sdk.Challenge {
	if r.use[callable] {
		return r.plugin
	}
	return r.def
}

func (r routed) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	return r.pick(sdk.CallableProvideRawInput).ProvideRawInput(ctx, now, data)
}

func (r routed) BuildInferenceInput(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
	return r.pick(sdk.CallableBuildInferenceInput).BuildInferenceInput(ctx, raw)
}

func (r routed) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	return r.pick(sdk.CallableValidateInferenceOutput).ValidateInferenceOutput(ctx, items)
}

func (r routed) BuildPredictionScope(ctx context.Context, c sdk.ScheduleConfig, in json.RawMessage) (sdk.ScopeEnvelope, error) {
	return r.pick(sdk.CallableBuildPredictionScope).BuildPredictionScope(ctx, c, in)
}

func (r routed) BuildPredictCall(ctx context.Context, c sdk.ScheduleConfig, in json.RawMessage, s sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	return r.pick(sdk.CallableBuildPredictCall).BuildPredictCall(ctx, c, in, s)
}

func (r routed) ResolveGroundTruth(ctx context.Context, now time.Time, p []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	return r.pick(sdk.CallableResolveGroundTruth).ResolveGroundTruth(ctx, now, p, data)
}

func (r routed) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return r.pick(sdk.CallableScorePredictions).ScorePredictions(ctx, items)
}

func (r routed) AggregateModelScores(ctx context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	return r.pick(sdk.CallableAggregateModelScores).AggregateModelScores(ctx, now, scored, models)
}

func (r routed) RankLeaderboard(ctx context.Context, e []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	return r.pick(sdk.CallableRankLeaderboard).RankLeaderboard(ctx, e)
}

func (r routed) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	return r.pick(sdk.CallableReportSchema).ReportSchema(ctx)
}
