package host

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// Challenge is a supervised challenge plugin. It implements sdk.Challenge:
// callables the plugin lists in Describe go over gRPC, each with its own
// deadline (Options.CallTimeout or CallTimeouts[callable]); the others run
// in-process as sdk.Defaults, without any RPC. A crashed or timed-out plugin
// is killed and restarted with backoff; a call that arrives meanwhile waits
// for the new generation within its own deadline. Errors from gRPC callables
// are *CallError (Status FAILED, TIMEOUT, CRASHED or BAD_IMPLEMENTATION).
// Output that decodes but fails its envelope (wrong item count, a report
// schema or score envelope that does not validate, a non-object inference
// input) is BAD_IMPLEMENTATION. Safe for concurrent use.
type Challenge struct {
	sup      *supervisor
	data     sdk.HostData
	defaults sdk.Defaults
}

var _ sdk.Challenge = (*Challenge)(nil)

// StartChallenge launches the challenge plugin, handshakes, calls Describe
// and verifies it with VerifyChallenge. data is served to the plugin over the
// go-plugin broker (and passed to in-process defaults); it may be nil when
// the challenge reads no feed data. On failure it returns a *StartError
// (Status BAD_IMPLEMENTATION, TIMEOUT or CRASHED; no process is left) and a
// challenge is never retried at start; ErrInvalidSpec for an empty ID.
func StartChallenge(ctx context.Context, spec PluginSpec, data sdk.HostData, opts Options) (*Challenge, error) {
	opts = opts.withDefaults()
	if spec.ID == "" {
		spec.ID = sdk.PluginChallenge
	}
	s := newSupervisor(sdk.PluginChallenge, spec, data, opts)
	select {
	case <-s.firstDone:
	case <-ctx.Done():
		s.close()
		return nil, fmt.Errorf("start challenge plugin %s: %w", spec.Path, ctx.Err())
	}
	if s.firstErr != nil {
		s.close()
		return nil, s.firstErr
	}
	return &Challenge{sup: s, data: data}, nil
}

// Description returns the Describe answer of the current (or last) generation.
func (c *Challenge) Description() wire.ChallengeDescription {
	c.sup.mu.Lock()
	defer c.sup.mu.Unlock()
	d := c.sup.cdesc
	d.Callables = slices.Clone(d.Callables)
	return d
}

// Restarts returns how many times the plugin was restarted.
func (c *Challenge) Restarts() int {
	c.sup.mu.Lock()
	defer c.sup.mu.Unlock()
	return c.sup.restarts
}

// Close shuts the plugin down (graceful, then process-group SIGKILL, each
// bounded by Options.KillTimeout) and waits until it is reaped. Idempotent;
// always returns nil. Calls after Close fail with ErrStopped.
func (c *Challenge) Close() error {
	c.sup.close()
	return nil
}

func (c *Challenge) listed(name string) bool {
	c.sup.mu.Lock()
	defer c.sup.mu.Unlock()
	return slices.Contains(c.sup.cdesc.Callables, name)
}

// invoke runs callable name over gRPC when the plugin lists it, else def
// in-process. check validates the decoded output (its error becomes
// BAD_IMPLEMENTATION).
func invoke[T any](c *Challenge, ctx context.Context, name string, reqBytes int,
	rpc func(context.Context, *wire.ChallengeClient) (T, error), def func() (T, error), check func(T) error) (T, error) {
	if !c.listed(name) {
		return def()
	}
	var out T
	res := c.sup.call(ctx, name, true, reqBytes, func(cctx context.Context, in *instance) error {
		v, err := rpc(cctx, in.chal)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(v); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrBadEnvelope, name, err)
			}
		}
		out = v
		return nil
	})
	if res.Err != nil {
		var zero T
		return zero, res.Err
	}
	return out, nil
}

func jsonSize(vs ...json.RawMessage) int {
	n := 0
	for _, v := range vs {
		n += len(v)
	}
	return n
}

func marshalSize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(b)
}

// sizeOrBound returns bound when it is within the request limit, else the
// exact JSON size of v. bound must be an upper bound of that size: the
// limit check (supervisor.call) then decides as it would on the exact size,
// but a request that is clearly small is not encoded just to be measured.
func sizeOrBound(bound int, v any) int {
	if bound <= maxRequestPayload() {
		return bound
	}
	return marshalSize(v)
}

// JSON encoding writes at most 6 bytes per byte of a string or raw value
// (\u00XX escapes, \ufffd for invalid UTF-8, \u003c for HTML characters).
const maxEscape = 6

// recordsBound is an upper bound of the JSON size of predictions: escaped
// strings and raw values plus a fixed allowance per record for the keys,
// numbers, times and nulls.
func recordsBound(ps []sdk.PredictionRecord) int {
	n := 2
	for _, p := range ps {
		n += 512 + maxEscape*(len(p.ID)+len(p.ModelID)+len(p.PredictionConfigID)+len(p.ScopeKey)+len(p.Status)+
			len(p.Scope)+len(p.InferenceInput)+len(p.InferenceOutput)+len(p.Meta))
		if p.Score != nil {
			n += 128 + maxEscape*len(p.Score.FailedReason)
		}
	}
	return n
}

// validationBound is an upper bound of the JSON size of items.
func validationBound(items []sdk.ValidationItem) int {
	n := 2
	for _, it := range items {
		n += 64 + maxEscape*(len(it.ModelID)+len(it.ScopeKey)+len(it.InferenceOutput))
	}
	return n
}

// scoreItemsBound is an upper bound of the JSON size of items.
func scoreItemsBound(items []sdk.ScoreItem) int {
	n := 2
	for _, it := range items {
		n += 64 + maxEscape*(len(it.PredictionID)+len(it.Prediction)+len(it.GroundTruth))
	}
	return n
}

func countCheck[T any](want int, what string) func([]T) error {
	return func(got []T) error {
		if len(got) != want {
			return fmt.Errorf("expected %d %s (one per input, in order), found %d", want, what, len(got))
		}
		return nil
	}
}

func objectCheck(b json.RawMessage) error {
	var obj map[string]json.RawMessage
	if len(b) == 0 || string(b) == "null" {
		return nil // nil is read as {}
	}
	if sdk.IsJSONObject(b) {
		return nil // what Unmarshal into a map accepts, without building the map
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("expected a JSON object: %w", err)
	}
	return nil
}

// ProvideRawInput implements sdk.Challenge.
func (c *Challenge) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	return invoke(c, ctx, sdk.CallableProvideRawInput, 0,
		func(ctx context.Context, cl *wire.ChallengeClient) (json.RawMessage, error) {
			return cl.ProvideRawInput(ctx, now, data)
		},
		func() (json.RawMessage, error) { return c.defaults.ProvideRawInput(ctx, now, c.hostData(data)) },
		objectCheck)
}

func (c *Challenge) hostData(d sdk.HostData) sdk.HostData {
	if d != nil {
		return d
	}
	return c.data
}

// BuildInferenceInput implements sdk.Challenge.
func (c *Challenge) BuildInferenceInput(ctx context.Context, rawInput json.RawMessage) (json.RawMessage, error) {
	return invoke(c, ctx, sdk.CallableBuildInferenceInput, jsonSize(rawInput),
		func(ctx context.Context, cl *wire.ChallengeClient) (json.RawMessage, error) {
			return cl.BuildInferenceInput(ctx, rawInput)
		},
		func() (json.RawMessage, error) { return c.defaults.BuildInferenceInput(ctx, rawInput) },
		objectCheck)
}

// ValidateInferenceOutput implements sdk.Challenge.
func (c *Challenge) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	return invoke(c, ctx, sdk.CallableValidateInferenceOutput, sizeOrBound(validationBound(items), items),
		func(ctx context.Context, cl *wire.ChallengeClient) ([]sdk.ValidationResult, error) {
			return cl.ValidateInferenceOutput(ctx, items)
		},
		func() ([]sdk.ValidationResult, error) { return c.defaults.ValidateInferenceOutput(ctx, items) },
		countCheck[sdk.ValidationResult](len(items), "validation results"))
}

// BuildPredictionScope implements sdk.Challenge.
func (c *Challenge) BuildPredictionScope(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage) (sdk.ScopeEnvelope, error) {
	return invoke(c, ctx, sdk.CallableBuildPredictionScope, marshalSize(config)+len(inferenceInput),
		func(ctx context.Context, cl *wire.ChallengeClient) (sdk.ScopeEnvelope, error) {
			return cl.BuildPredictionScope(ctx, config, inferenceInput)
		},
		func() (sdk.ScopeEnvelope, error) { return c.defaults.BuildPredictionScope(ctx, config, inferenceInput) },
		nil)
}

// BuildPredictCall implements sdk.Challenge.
func (c *Challenge) BuildPredictCall(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	return invoke(c, ctx, sdk.CallableBuildPredictCall, marshalSize(config)+len(inferenceInput)+marshalSize(scope),
		func(ctx context.Context, cl *wire.ChallengeClient) (sdk.PredictCall, error) {
			return cl.BuildPredictCall(ctx, config, inferenceInput, scope)
		},
		func() (sdk.PredictCall, error) {
			return c.defaults.BuildPredictCall(ctx, config, inferenceInput, scope)
		},
		func(pc sdk.PredictCall) error { return objectCheck(pc.Kwargs) })
}

// ResolveGroundTruth implements sdk.Challenge.
func (c *Challenge) ResolveGroundTruth(ctx context.Context, now time.Time, predictions []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	return invoke(c, ctx, sdk.CallableResolveGroundTruth, sizeOrBound(recordsBound(predictions), predictions),
		func(ctx context.Context, cl *wire.ChallengeClient) ([]sdk.GroundTruthResult, error) {
			return cl.ResolveGroundTruth(ctx, now, predictions, data)
		},
		func() ([]sdk.GroundTruthResult, error) {
			return c.defaults.ResolveGroundTruth(ctx, now, predictions, c.hostData(data))
		},
		countCheck[sdk.GroundTruthResult](len(predictions), "ground-truth results"))
}

// ScorePredictions implements sdk.Challenge.
func (c *Challenge) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return invoke(c, ctx, sdk.CallableScorePredictions, sizeOrBound(scoreItemsBound(items), items),
		func(ctx context.Context, cl *wire.ChallengeClient) ([]sdk.ScoreResult, error) {
			return cl.ScorePredictions(ctx, items)
		},
		func() ([]sdk.ScoreResult, error) { return c.defaults.ScorePredictions(ctx, items) },
		countCheck[sdk.ScoreResult](len(items), "score results"))
}

// AggregateModelScores implements sdk.Challenge.
func (c *Challenge) AggregateModelScores(ctx context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	return invoke(c, ctx, sdk.CallableAggregateModelScores, sizeOrBound(recordsBound(scored), scored)+marshalSize(models),
		func(ctx context.Context, cl *wire.ChallengeClient) ([]sdk.LeaderboardEntry, error) {
			return cl.AggregateModelScores(ctx, now, scored, models)
		},
		func() ([]sdk.LeaderboardEntry, error) {
			return c.defaults.AggregateModelScores(ctx, now, scored, models)
		},
		validateEntries)
}

// RankLeaderboard implements sdk.Challenge.
func (c *Challenge) RankLeaderboard(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	return invoke(c, ctx, sdk.CallableRankLeaderboard, marshalSize(entries),
		func(ctx context.Context, cl *wire.ChallengeClient) ([]sdk.LeaderboardEntry, error) {
			return cl.RankLeaderboard(ctx, entries)
		},
		func() ([]sdk.LeaderboardEntry, error) { return c.defaults.RankLeaderboard(ctx, entries) },
		validateEntries)
}

// ReportSchema implements sdk.Challenge.
func (c *Challenge) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	return invoke(c, ctx, sdk.CallableReportSchema, 0,
		func(ctx context.Context, cl *wire.ChallengeClient) (sdk.ReportSchema, error) {
			return cl.ReportSchema(ctx)
		},
		func() (sdk.ReportSchema, error) { return c.defaults.ReportSchema(ctx) },
		func(r sdk.ReportSchema) error { return r.Validate() })
}

func validateEntries(es []sdk.LeaderboardEntry) error {
	for i, e := range es {
		if e.ModelID == "" {
			return fmt.Errorf("entries[%d].model_id: required", i)
		}
		if err := e.Score.Validate(); err != nil {
			return fmt.Errorf("entries[%d] (model %s): %w", i, e.ModelID, err)
		}
	}
	return nil
}
