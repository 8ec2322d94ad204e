package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// Checked returns src behind the checked challenge boundary: every answer
// of src is normalised and its envelope checked here, once, whoever
// answers (the plugin's client, the built-in sdk.Defaults or a test
// double). The rules, per callable (reference-system.md 2.3, without the
// defects of section 14):
//
//   - ProvideRawInput: a JSON object; null (or nothing) becomes {}.
//   - BuildInferenceInput: a JSON object.
//   - ValidateInferenceOutput: one result per item; an output that is null
//     (or nothing) keeps the original (Output nil), an output of another
//     kind than object fails that item (Error set), an error drops the
//     output.
//   - BuildPredictionScope: scope_key falls back to the schedule's
//     scope_key, then sdk.DefaultScopeKey; scope is a JSON object (null
//     becomes {}), compacted.
//   - BuildPredictCall: args a list of JSON values (nil becomes []); kwargs
//     a JSON object (null or nothing becomes {}).
//   - ResolveGroundTruth: one result per prediction; a resolved ground truth
//     is a JSON object (null or nothing becomes {}); an unresolved one
//     carries none.
//   - ScorePredictions: one result per item, in order; an empty
//     prediction_id becomes the item's, another one is refused; a value is
//     finite or absent.
//   - AggregateModelScores, RankLeaderboard: nil becomes []; every entry has
//     a model_id and a valid score envelope (sdk.ScoreEnvelope.Validate; an
//     empty ranking direction becomes desc).
//   - ReportSchema: passes sdk.ReportSchema.Validate; an empty
//     schema_version becomes "1".
//
// An answer that breaks a rule gives an error wrapping ErrBadOutput that
// names the callable, what was expected and what was found (the host
// classifies it BAD_IMPLEMENTATION). Errors of src itself are returned
// unchanged.
func Checked(src sdk.Challenge) sdk.Challenge { return checked{src: src} }

// checked is the boundary (see Checked). ChallengeClient embeds it around
// its RPC translation.
type checked struct{ src sdk.Challenge }

// ProvideRawInput implements sdk.Challenge.
func (c checked) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	raw, err := c.src.ProvideRawInput(ctx, now, data)
	if err != nil {
		return nil, err
	}
	switch kind := sdk.JSONKind(raw); kind {
	case "null":
		return json.RawMessage("{}"), nil
	case "object":
		return raw, nil
	default:
		return nil, badOutput(sdk.CallableProvideRawInput, "a JSON object or null", kind)
	}
}

// BuildInferenceInput implements sdk.Challenge.
func (c checked) BuildInferenceInput(ctx context.Context, rawInput json.RawMessage) (json.RawMessage, error) {
	input, err := c.src.BuildInferenceInput(ctx, rawInput)
	if err != nil {
		return nil, err
	}
	if kind := sdk.JSONKind(input); kind != "object" {
		return nil, badOutput(sdk.CallableBuildInferenceInput, "a JSON object", kind)
	}
	return input, nil
}

// ValidateInferenceOutput implements sdk.Challenge.
func (c checked) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	results, err := c.src.ValidateInferenceOutput(ctx, items)
	if err != nil {
		return nil, err
	}
	if len(results) != len(items) {
		return nil, badOutput(sdk.CallableValidateInferenceOutput, fmt.Sprintf("%d results (one per item)", len(items)), fmt.Sprintf("%d", len(results)))
	}
	out := make([]sdk.ValidationResult, len(items))
	for i, r := range results {
		out[i].Error = r.Error
		switch kind := sdk.JSONKind(r.Output); kind {
		case "null":
		case "object":
			if out[i].Error == "" {
				out[i].Output = r.Output
			}
		case "invalid JSON":
			return nil, badOutput(sdk.CallableValidateInferenceOutput, fmt.Sprintf("results[%d].output_json to be JSON", i), kind)
		default:
			if out[i].Error == "" {
				out[i].Error = fmt.Sprintf("validator returned %s output, expected a JSON object or null", kind)
			}
		}
	}
	return out, nil
}

// BuildPredictionScope implements sdk.Challenge.
func (c checked) BuildPredictionScope(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage) (sdk.ScopeEnvelope, error) {
	env, err := c.src.BuildPredictionScope(ctx, config, inferenceInput)
	if err != nil {
		return sdk.ScopeEnvelope{}, err
	}
	if env.ScopeKey == "" {
		env.ScopeKey = config.ScopeKey
	}
	if env.ScopeKey == "" {
		env.ScopeKey = sdk.DefaultScopeKey
	}
	switch kind := sdk.JSONKind(env.Scope); kind {
	case "null":
		env.Scope = json.RawMessage("{}")
	case "object":
		env.Scope = compact(env.Scope)
	default:
		return sdk.ScopeEnvelope{}, badOutput(sdk.CallableBuildPredictionScope, "scope to be a JSON object or null", kind)
	}
	return env, nil
}

// BuildPredictCall implements sdk.Challenge.
func (c checked) BuildPredictCall(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	call, err := c.src.BuildPredictCall(ctx, config, inferenceInput, scope)
	if err != nil {
		return sdk.PredictCall{}, err
	}
	if call.Args == nil {
		call.Args = []json.RawMessage{}
	}
	for i, a := range call.Args {
		if !json.Valid(a) {
			return sdk.PredictCall{}, badOutput(sdk.CallableBuildPredictCall, fmt.Sprintf("args[%d] to be a JSON value", i), sdk.JSONKind(a))
		}
	}
	switch kind := sdk.JSONKind(call.Kwargs); kind {
	case "null":
		call.Kwargs = json.RawMessage("{}")
	case "object":
	default:
		return sdk.PredictCall{}, badOutput(sdk.CallableBuildPredictCall, "kwargs to be a JSON object or null", kind)
	}
	return call, nil
}

// ResolveGroundTruth implements sdk.Challenge.
func (c checked) ResolveGroundTruth(ctx context.Context, now time.Time, predictions []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	results, err := c.src.ResolveGroundTruth(ctx, now, predictions, data)
	if err != nil {
		return nil, err
	}
	if len(results) != len(predictions) {
		return nil, badOutput(sdk.CallableResolveGroundTruth, fmt.Sprintf("%d results (one per prediction)", len(predictions)), fmt.Sprintf("%d", len(results)))
	}
	out := make([]sdk.GroundTruthResult, len(predictions))
	for i, r := range results {
		out[i] = sdk.GroundTruthResult{Resolved: r.Resolved, Error: r.Error}
		if !r.Resolved && r.Error == "" {
			continue // not yet: nothing to keep
		}
		switch kind := sdk.JSONKind(r.GroundTruth); kind {
		case "null":
			if r.Resolved {
				out[i].GroundTruth = json.RawMessage("{}")
			}
		case "object":
			out[i].GroundTruth = r.GroundTruth
		default:
			return nil, badOutput(sdk.CallableResolveGroundTruth, fmt.Sprintf("results[%d].ground_truth_json (prediction %q) to be a JSON object", i, predictions[i].ID), kind)
		}
	}
	return out, nil
}

// ScorePredictions implements sdk.Challenge.
func (c checked) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	results, err := c.src.ScorePredictions(ctx, items)
	if err != nil {
		return nil, err
	}
	if len(results) != len(items) {
		return nil, badOutput(sdk.CallableScorePredictions, fmt.Sprintf("%d results (one per item)", len(items)), fmt.Sprintf("%d", len(results)))
	}
	out := make([]sdk.ScoreResult, len(items))
	for i, r := range results {
		if r.PredictionID == "" {
			r.PredictionID = items[i].PredictionID
		}
		if r.PredictionID != items[i].PredictionID {
			return nil, badOutput(sdk.CallableScorePredictions, fmt.Sprintf("results[%d].prediction_id %q", i, items[i].PredictionID), fmt.Sprintf("%q", r.PredictionID))
		}
		if r.Value != nil && (math.IsNaN(*r.Value) || math.IsInf(*r.Value, 0)) {
			return nil, badOutput(sdk.CallableScorePredictions, fmt.Sprintf("results[%d].value to be finite", i), fmt.Sprint(*r.Value))
		}
		out[i] = r
	}
	return out, nil
}

// AggregateModelScores implements sdk.Challenge.
func (c checked) AggregateModelScores(ctx context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	entries, err := c.src.AggregateModelScores(ctx, now, scored, models)
	if err != nil {
		return nil, err
	}
	return checkEntries(sdk.CallableAggregateModelScores, entries)
}

// RankLeaderboard implements sdk.Challenge.
func (c checked) RankLeaderboard(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	ranked, err := c.src.RankLeaderboard(ctx, entries)
	if err != nil {
		return nil, err
	}
	return checkEntries(sdk.CallableRankLeaderboard, ranked)
}

// ReportSchema implements sdk.Challenge.
func (c checked) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	schema, err := c.src.ReportSchema(ctx)
	if err != nil {
		return sdk.ReportSchema{}, err
	}
	if schema.SchemaVersion == "" {
		schema.SchemaVersion = "1"
	}
	if err := schema.Validate(); err != nil {
		return sdk.ReportSchema{}, fmt.Errorf("%w: %s: %v", ErrBadOutput, sdk.CallableReportSchema, err)
	}
	return schema, nil
}

// checkEntries checks leaderboard entries in place (see Checked).
func checkEntries(callable string, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	if entries == nil {
		return []sdk.LeaderboardEntry{}, nil
	}
	for i, e := range entries {
		if e.ModelID == "" {
			return nil, badOutput(callable, fmt.Sprintf("entries[%d].model_id to be a non-empty string", i), "an empty or missing model_id")
		}
		if e.Score.Ranking.Direction == "" {
			entries[i].Score.Ranking.Direction = sdk.DirectionDesc
		}
		if err := entries[i].Score.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %s: entries[%d] (model %q): %v", ErrBadOutput, callable, i, e.ModelID, err)
		}
	}
	return entries, nil
}

// compact returns b without insignificant white space (b when it does not
// parse).
func compact(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func badOutput(callable, expected, found string) error {
	return fmt.Errorf("%w: %s: expected %s, found %s", ErrBadOutput, callable, expected, found)
}
