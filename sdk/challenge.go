package sdk

import (
	"context"
	"encoding/json"
	"time"
)

// Challenge is the set of callables a competition supplies. Embed [Defaults]
// to get the runtime's default behaviour for every callable and override only
// what differs. Every method may block on I/O and must honour ctx.
//
// Errors returned by a callable are reported by the host as FAILED for that
// call; a panic is CRASHED; output that does not decode is BAD_IMPLEMENTATION.
type Challenge interface {
	// ProvideRawInput returns the raw input of one predict cycle at now (UTC;
	// simulated in replay). data reads feed records through the host. A nil
	// result is treated as {}; any non-object is an error.
	ProvideRawInput(ctx context.Context, now time.Time, data HostData) (json.RawMessage, error)
	// BuildInferenceInput turns the raw input into the object every model
	// receives through Tick. The result must be a JSON object.
	BuildInferenceInput(ctx context.Context, rawInput json.RawMessage) (json.RawMessage, error)
	// ValidateInferenceOutput checks each model output (normalised to an
	// object: non-objects arrive as {"result": v}). It returns one result per
	// item, in order: a rewritten output, or an error string for an invalid one.
	ValidateInferenceOutput(ctx context.Context, items []ValidationItem) ([]ValidationResult, error)
	// BuildPredictionScope builds the scope envelope for one schedule row.
	BuildPredictionScope(ctx context.Context, config ScheduleConfig, inferenceInput json.RawMessage) (ScopeEnvelope, error)
	// BuildPredictCall builds the positional and keyword arguments of Predict.
	BuildPredictCall(ctx context.Context, config ScheduleConfig, inferenceInput json.RawMessage, scope ScopeEnvelope) (PredictCall, error)
	// ResolveGroundTruth resolves the ground truth of each prediction (one
	// result per prediction, in order). now is the score cycle's time (UTC).
	// The records carry every field except InferenceInput, which is null:
	// ground truth is what the feed (data) observed at the prediction's
	// instants, never what the model was shown, and the stored input (about
	// 13 KB per prediction for the baseline pack) would dominate the cost
	// of scoring. The reference passes the full record (reference-system.md
	// 2.3.6); a resolver that needs the input reads the feed at
	// performed_at instead.
	ResolveGroundTruth(ctx context.Context, now time.Time, predictions []PredictionRecord, data HostData) ([]GroundTruthResult, error)
	// ScorePredictions scores a batch of resolved predictions, one result per
	// item, in order.
	ScorePredictions(ctx context.Context, items []ScoreItem) ([]ScoreResult, error)
	// AggregateModelScores turns scored predictions into one leaderboard entry
	// per model. models maps model id to model record.
	AggregateModelScores(ctx context.Context, now time.Time, scored []PredictionRecord, models map[string]ModelRecord) ([]LeaderboardEntry, error)
	// RankLeaderboard orders the entries and assigns rank 1, 2, 3, ...
	RankLeaderboard(ctx context.Context, entries []LeaderboardEntry) ([]LeaderboardEntry, error)
	// ReportSchema returns the leaderboard columns and metric widgets the
	// report UI renders.
	ReportSchema(ctx context.Context) (ReportSchema, error)
}

// HostData reads feed records stored by the coordinator node. Plugins get it
// from the host over the go-plugin broker; tests use sdktest's in-memory one.
type HostData interface {
	// ReadFeedRecords returns records matching q ordered by TsEvent
	// (ascending unless q.Descending). Empty Provider, Kind or Granularity
	// mean the node's configured feed.
	ReadFeedRecords(ctx context.Context, q FeedQuery) ([]FeedRecord, error)
}

// FeedQuery filters feed records. Zero Start/End mean unbounded; bounds are
// inclusive. Limit 0 means the host default (1000); the host caps it at 10000.
type FeedQuery struct {
	Provider    string
	Asset       string
	Kind        string // "tick" or "candle"
	Granularity string // e.g. "1m"
	Start       time.Time
	End         time.Time
	Limit       int
	Descending  bool // newest first: the newest Limit rows
	// IngestedBy, when set, keeps only the records the host had stored at
	// or before it (the feed as it was then). The SDK sets it on every
	// read of a ProvideRawInput it runs for several cycles in one call
	// (BuildInferenceInputs) to that cycle's time.
	IngestedBy time.Time
}

// FeedRecord is one market record. For a candle, TsEvent is the candle's
// open time and Values holds {"open","high","low","close","volume"}; for a
// tick, TsEvent is the publish time and Values holds {"price"}.
type FeedRecord struct {
	Provider    string          `json:"provider"`
	Asset       string          `json:"asset"`
	Kind        string          `json:"kind"`
	Granularity string          `json:"granularity"`
	TsEvent     time.Time       `json:"ts_event"`
	Values      json.RawMessage `json:"values"`
}

// ScheduleConfig is one scheduled prediction config row as callables see it
// (reference-system.md 8.1).
type ScheduleConfig struct {
	ID            string          `json:"id"`
	ScopeKey      string          `json:"scope_key"`
	ScopeTemplate json.RawMessage `json:"scope_template"`
	Schedule      Schedule        `json:"schedule"`
	Active        bool            `json:"active"`
	Order         int             `json:"order"`
	Meta          json.RawMessage `json:"meta"`
}

// Schedule is the canonical schedule envelope. EverySeconds is how often the
// row is due (seconds, >= 1); ResolveAfterSeconds is the horizon after which a
// prediction becomes resolvable (seconds, >= 1).
type Schedule struct {
	EverySeconds        int `json:"every_seconds"`
	ResolveAfterSeconds int `json:"resolve_after_seconds"`
}

// ScopeEnvelope is {"scope_key","scope"} (reference-system.md 8.2).
type ScopeEnvelope struct {
	ScopeKey string          `json:"scope_key"`
	Scope    json.RawMessage `json:"scope"`
}

// PredictCall holds the arguments sent to every model's Predict: positional
// Args (JSON values) and keyword Kwargs (a JSON object). Both reach the model.
type PredictCall struct {
	Args   []json.RawMessage `json:"args"`
	Kwargs json.RawMessage   `json:"kwargs"`
}

// ValidationItem is one model output to validate.
type ValidationItem struct {
	ModelID         string          `json:"model_id"`
	ScopeKey        string          `json:"scope_key"`
	InferenceOutput json.RawMessage `json:"inference_output"`
}

// ValidationResult is the verdict on one output: Error non-empty means
// invalid; otherwise Output (when non-nil) replaces the original.
type ValidationResult struct {
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// PredictionRecord is a stored prediction as callables see it. Times are UTC.
// ExecTimeMs is the model's execution time in milliseconds.
type PredictionRecord struct {
	ID                 string           `json:"id"`
	ModelID            string           `json:"model_id"`
	PredictionConfigID string           `json:"prediction_config_id,omitempty"`
	ScopeKey           string           `json:"scope_key"`
	Scope              json.RawMessage  `json:"scope"`
	Status             string           `json:"status"`
	ExecTimeMs         float64          `json:"exec_time_ms"`
	InferenceInput     json.RawMessage  `json:"inference_input"`
	InferenceOutput    json.RawMessage  `json:"inference_output"`
	Meta               json.RawMessage  `json:"meta"`
	PerformedAt        time.Time        `json:"performed_at"`
	ResolvableAt       time.Time        `json:"resolvable_at"`
	Score              *PredictionScore `json:"score,omitempty"`
}

// PredictionScore is the score stored with a prediction.
type PredictionScore struct {
	Value        *float64  `json:"value"`
	Success      bool      `json:"success"`
	FailedReason string    `json:"failed_reason,omitempty"`
	ScoredAt     time.Time `json:"scored_at"`
}

// GroundTruthResult is the outcome of resolving one prediction: Resolved
// with GroundTruth, not yet (Resolved false, Error empty: retried later), or
// a terminal Error (the prediction can never be resolved: it becomes
// UNRESOLVED). With an Error, GroundTruth may still hold what was resolved
// (for example the two prices of a flat move a pack excludes); the node
// stores it with the prediction for audit.
type GroundTruthResult struct {
	Resolved    bool            `json:"resolved"`
	GroundTruth json.RawMessage `json:"ground_truth,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// ScoreItem is one prediction to score: its stored inference output and its
// resolved ground truth.
type ScoreItem struct {
	PredictionID string          `json:"prediction_id"`
	Prediction   json.RawMessage `json:"prediction"`
	GroundTruth  json.RawMessage `json:"ground_truth"`
}

// ScoreResult is the score of one prediction (reference-system.md 2.3.7).
// Value nil means no value; Success false carries FailedReason.
type ScoreResult struct {
	PredictionID string   `json:"prediction_id"`
	Value        *float64 `json:"value"`
	Success      bool     `json:"success"`
	FailedReason string   `json:"failed_reason,omitempty"`
}

// ModelRecord is a participant model as callables see it.
type ModelRecord struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	PlayerID     string `json:"player_id"`
	PlayerName   string `json:"player_name"`
	DeploymentID string `json:"deployment_identifier"`
}
