package sdk

import (
	"context"
	"encoding/json"
)

// Model is what a participant implements. Tick receives every cycle's
// inference input (a JSON object); Predict answers one predict call with any
// JSON value. args are the positional arguments as JSON values and kwargs a
// JSON object (possibly empty), both built by the challenge's
// BuildPredictCall. Both methods must honour ctx; the host enforces a deadline
// per call and classifies a late answer as TIMEOUT.
type Model interface {
	Tick(ctx context.Context, input json.RawMessage) error
	Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error)
}

// ModelInfo describes a model plugin in Describe.
type ModelInfo struct {
	Name    string
	Version string
}

// ChallengeInfo describes a challenge plugin in Describe.
type ChallengeInfo struct {
	Name    string
	Version string
}
