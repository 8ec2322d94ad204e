// Command noopchallenge is the benchmark harness's challenge plugin. It
// embeds sdk.Defaults and implements only the two required callables, so
// every other callable runs in-process in the host as the runtime default:
//
//   - BuildInferenceInput returns the raw input unchanged (a no-op, but a
//     real gRPC round trip on every predict cycle, as in any challenge);
//   - ScorePredictions is the baseline pack's Brier scorer: for a
//     prediction {"p_up": p} and ground truth {"y_up": y} (y missing or
//     false = 0, true = 1) the score value is 1 - (p - y)^2, higher is
//     better. A prediction without a numeric p_up in [0, 1] gets success
//     false with a reason.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type challenge struct{ sdk.Defaults }

// BuildInferenceInput implements sdk.Challenge: the raw input as-is ({}
// for null or empty).
func (challenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`), nil
	}
	return raw, nil
}

// ScorePredictions implements sdk.Challenge with the Brier score.
func (challenge) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	out := make([]sdk.ScoreResult, len(items))
	for i, it := range items {
		out[i] = brier(it)
	}
	return out, nil
}

func brier(it sdk.ScoreItem) sdk.ScoreResult {
	res := sdk.ScoreResult{PredictionID: it.PredictionID}
	var pred struct {
		PUp *float64 `json:"p_up"`
	}
	if err := json.Unmarshal(it.Prediction, &pred); err != nil || pred.PUp == nil {
		res.FailedReason = fmt.Sprintf("prediction: expected an object with a numeric p_up, found %.80s", it.Prediction)
		return res
	}
	p := *pred.PUp
	if p < 0 || p > 1 {
		res.FailedReason = fmt.Sprintf("prediction p_up: expected a probability in [0, 1], found %v", p)
		return res
	}
	var truth struct {
		YUp bool `json:"y_up"`
	}
	if len(it.GroundTruth) > 0 {
		if err := json.Unmarshal(it.GroundTruth, &truth); err != nil {
			res.FailedReason = fmt.Sprintf("ground truth: expected an object with a boolean y_up, found %.80s", it.GroundTruth)
			return res
		}
	}
	y := 0.0
	if truth.YUp {
		y = 1
	}
	v := 1 - (p-y)*(p-y)
	res.Value, res.Success = &v, true
	return res
}

func main() {
	sdk.ServeChallenge(challenge{}, sdk.ChallengeInfo{Name: "noopchallenge", Version: "1.0.0"})
}
