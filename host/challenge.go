package host

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// Challenge is a supervised challenge plugin and the one routing decision
// of the challenge callables. It implements sdk.Challenge: a callable
// routed to the plugin (see Route) goes over gRPC, with its own deadline
// (Options.CallTimeout or CallTimeouts[callable]); every other one runs
// in-process as sdk.Defaults, without any RPC. Both answers pass the same
// checked boundary (wire.Checked; the plugin's client applies it), so they
// are normalised and checked by the same rules. A crashed or timed-out
// plugin is killed and restarted with backoff; a call that arrives
// meanwhile waits for the new generation within its own deadline. Errors
// from gRPC callables are *CallError (Status FAILED, TIMEOUT, CRASHED or
// BAD_IMPLEMENTATION); an answer the boundary refuses wraps
// wire.ErrBadOutput (BAD_IMPLEMENTATION, see StatusOf). Safe for concurrent
// use.
type Challenge struct {
	sup      *supervisor
	data     sdk.HostData
	defaults sdk.Challenge // wire.Checked(sdk.Defaults{})

	routeMu sync.Mutex
	routes  map[string]bool // callables routed to the plugin
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
	c := &Challenge{sup: s, data: data, defaults: wire.Checked(sdk.Defaults{})}
	c.routes = map[string]bool{}
	for _, name := range c.Description().Callables {
		c.routes[name] = true
	}
	return c, nil
}

// UnroutableError is Route's error: callables routed to the plugin that its
// Describe does not list.
type UnroutableError struct {
	Callables []string // routed to the plugin, not listed (canonical names)
	Listed    []string // what Describe lists
}

func (e *UnroutableError) Error() string {
	return fmt.Sprintf("callables %s are routed to the challenge plugin, but its Describe lists only %s",
		strings.Join(e.Callables, ", "), strings.Join(e.Listed, ", "))
}

// Route decides, once, which callables the plugin serves: exactly those in
// plugin (config/callables.env's `challenge` callables); sdk.Defaults
// serves every other one. Until Route is called the plugin serves the
// callables its Describe listed at start. A callable in plugin that
// Describe does not list is an *UnroutableError and changes nothing. A
// routed callable that a reloaded plugin no longer lists falls back to
// sdk.Defaults; a newly listed one needs a node restart.
func (c *Challenge) Route(plugin []string) error {
	listed := c.Description().Callables
	var missing []string
	routes := map[string]bool{}
	for _, name := range plugin {
		if !slices.Contains(listed, name) {
			missing = append(missing, name)
			continue
		}
		routes[name] = true
	}
	if len(missing) > 0 {
		return &UnroutableError{Callables: missing, Listed: listed}
	}
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	c.routes = routes
	return nil
}

// Routed reports whether callable is routed to the plugin (see Route);
// false means sdk.Defaults serves it.
func (c *Challenge) Routed(callable string) bool {
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	return c.routes[callable]
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

// serves reports whether the plugin serves callable name: routed to it and
// listed by the current generation's Describe.
func (c *Challenge) serves(name string) bool {
	if !c.Routed(name) {
		return false
	}
	c.sup.mu.Lock()
	defer c.sup.mu.Unlock()
	return slices.Contains(c.sup.cdesc.Callables, name)
}

// invoke runs callable name on the plugin's client when the plugin serves
// it, else on the checked defaults (def). Both are behind wire.Checked.
func invoke[T any](c *Challenge, ctx context.Context, name string, reqBytes int,
	call func(context.Context, sdk.Challenge) (T, error)) (T, error) {
	if !c.serves(name) {
		return call(ctx, c.defaults)
	}
	var out T
	res := c.sup.call(ctx, name, true, reqBytes, func(cctx context.Context, in *instance) error {
		v, err := call(cctx, in.chal)
		if err != nil {
			return err
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

// ProvideRawInput implements sdk.Challenge.
func (c *Challenge) ProvideRawInput(ctx context.Context, now time.Time, data sdk.HostData) (json.RawMessage, error) {
	return invoke(c, ctx, sdk.CallableProvideRawInput, 0, func(ctx context.Context, ch sdk.Challenge) (json.RawMessage, error) {
		return ch.ProvideRawInput(ctx, now, c.hostData(data))
	})
}

func (c *Challenge) hostData(d sdk.HostData) sdk.HostData {
	if d != nil {
		return d
	}
	return c.data
}

// BuildInferenceInput implements sdk.Challenge.
func (c *Challenge) BuildInferenceInput(ctx context.Context, rawInput json.RawMessage) (json.RawMessage, error) {
	return invoke(c, ctx, sdk.CallableBuildInferenceInput, jsonSize(rawInput), func(ctx context.Context, ch sdk.Challenge) (json.RawMessage, error) {
		return ch.BuildInferenceInput(ctx, rawInput)
	})
}

// ValidateInferenceOutput implements sdk.Challenge.
func (c *Challenge) ValidateInferenceOutput(ctx context.Context, items []sdk.ValidationItem) ([]sdk.ValidationResult, error) {
	return invoke(c, ctx, sdk.CallableValidateInferenceOutput, sizeOrBound(validationBound(items), items), func(ctx context.Context, ch sdk.Challenge) ([]sdk.ValidationResult, error) {
		return ch.ValidateInferenceOutput(ctx, items)
	})
}

// BuildPredictionScope implements sdk.Challenge.
func (c *Challenge) BuildPredictionScope(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage) (sdk.ScopeEnvelope, error) {
	return invoke(c, ctx, sdk.CallableBuildPredictionScope, marshalSize(config)+len(inferenceInput), func(ctx context.Context, ch sdk.Challenge) (sdk.ScopeEnvelope, error) {
		return ch.BuildPredictionScope(ctx, config, inferenceInput)
	})
}

// BuildPredictCall implements sdk.Challenge.
func (c *Challenge) BuildPredictCall(ctx context.Context, config sdk.ScheduleConfig, inferenceInput json.RawMessage, scope sdk.ScopeEnvelope) (sdk.PredictCall, error) {
	return invoke(c, ctx, sdk.CallableBuildPredictCall, marshalSize(config)+len(inferenceInput)+marshalSize(scope), func(ctx context.Context, ch sdk.Challenge) (sdk.PredictCall, error) {
		return ch.BuildPredictCall(ctx, config, inferenceInput, scope)
	})
}

// ResolveGroundTruth implements sdk.Challenge.
func (c *Challenge) ResolveGroundTruth(ctx context.Context, now time.Time, predictions []sdk.PredictionRecord, data sdk.HostData) ([]sdk.GroundTruthResult, error) {
	return invoke(c, ctx, sdk.CallableResolveGroundTruth, sizeOrBound(recordsBound(predictions), predictions), func(ctx context.Context, ch sdk.Challenge) ([]sdk.GroundTruthResult, error) {
		return ch.ResolveGroundTruth(ctx, now, predictions, c.hostData(data))
	})
}

// ScorePredictions implements sdk.Challenge.
func (c *Challenge) ScorePredictions(ctx context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	return invoke(c, ctx, sdk.CallableScorePredictions, sizeOrBound(scoreItemsBound(items), items), func(ctx context.Context, ch sdk.Challenge) ([]sdk.ScoreResult, error) {
		return ch.ScorePredictions(ctx, items)
	})
}

// AggregateModelScores implements sdk.Challenge.
func (c *Challenge) AggregateModelScores(ctx context.Context, now time.Time, scored []sdk.PredictionRecord, models map[string]sdk.ModelRecord) ([]sdk.LeaderboardEntry, error) {
	return invoke(c, ctx, sdk.CallableAggregateModelScores, sizeOrBound(recordsBound(scored), scored)+marshalSize(models), func(ctx context.Context, ch sdk.Challenge) ([]sdk.LeaderboardEntry, error) {
		return ch.AggregateModelScores(ctx, now, scored, models)
	})
}

// RankLeaderboard implements sdk.Challenge.
func (c *Challenge) RankLeaderboard(ctx context.Context, entries []sdk.LeaderboardEntry) ([]sdk.LeaderboardEntry, error) {
	return invoke(c, ctx, sdk.CallableRankLeaderboard, marshalSize(entries), func(ctx context.Context, ch sdk.Challenge) ([]sdk.LeaderboardEntry, error) {
		return ch.RankLeaderboard(ctx, entries)
	})
}

// ReportSchema implements sdk.Challenge.
func (c *Challenge) ReportSchema(ctx context.Context) (sdk.ReportSchema, error) {
	return invoke(c, ctx, sdk.CallableReportSchema, 0, func(ctx context.Context, ch sdk.Challenge) (sdk.ReportSchema, error) {
		return ch.ReportSchema(ctx)
	})
}
