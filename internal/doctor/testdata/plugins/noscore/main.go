// Command noscore is a broken challenge plugin for the doctor tests: it
// implements only BuildInferenceInput, so Describe lacks the required
// ScorePredictions and every other hook the baseline routes to the
// challenge.
package main

import (
	"context"
	"encoding/json"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type challenge struct{ sdk.Defaults }

func (challenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	return raw, nil
}

func main() { sdk.ServeChallenge(&challenge{}, sdk.ChallengeInfo{Name: "noscore", Version: "0.0.1"}) }
