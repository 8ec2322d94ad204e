package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
)

// closeChallenge predicts the next close price. It takes every callable from
// sdk.Defaults except the two required ones.
type closeChallenge struct{ sdk.Defaults }

// BuildInferenceInput keeps the last close of the raw input's candles.
func (closeChallenge) BuildInferenceInput(_ context.Context, raw json.RawMessage) (json.RawMessage, error) {
	var in struct {
		Candles []struct {
			Close float64 `json:"close"`
		} `json:"candles"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("raw input: expected {\"candles\":[...]}: %w", sdk.ErrInvalidInput)
	}
	if len(in.Candles) == 0 {
		return nil, fmt.Errorf("raw input: no candles: %w", sdk.ErrInvalidInput)
	}
	return json.Marshal(map[string]float64{"last_close": in.Candles[len(in.Candles)-1].Close})
}

// ScorePredictions scores the absolute error of {"value"} against
// {"close"}; a missing value is a failed score, never a silent 0.
func (closeChallenge) ScorePredictions(_ context.Context, items []sdk.ScoreItem) ([]sdk.ScoreResult, error) {
	out := make([]sdk.ScoreResult, len(items))
	for i, it := range items {
		var p struct{ Value *float64 }
		var g struct{ Close float64 }
		out[i].PredictionID = it.PredictionID
		if json.Unmarshal(it.Prediction, &p) != nil || p.Value == nil || json.Unmarshal(it.GroundTruth, &g) != nil {
			out[i].FailedReason = "prediction has no numeric value"
			continue
		}
		v := math.Abs(*p.Value - g.Close)
		out[i].Value, out[i].Success = &v, true
	}
	return out, nil
}

// A challenge plugin's main is one line:
//
//	func main() { sdk.ServeChallenge(closeChallenge{}, sdk.ChallengeInfo{Name: "close", Version: "1.0.0"}) }
//
// Here it runs in-process through the same gRPC seam with sdktest.
func Example_challenge() {
	client, stop, err := sdktest.RunChallenge(closeChallenge{}, sdk.ChallengeInfo{Name: "close", Version: "1.0.0"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	desc, _ := client.Describe(ctx)
	fmt.Println("callables:", desc.Callables)

	input, _ := client.BuildInferenceInput(ctx, json.RawMessage(`{"candles":[{"close":100},{"close":102.5}]}`))
	fmt.Println("inference input:", string(input))

	scores, _ := client.ScorePredictions(ctx, []sdk.ScoreItem{
		{PredictionID: "p1", Prediction: json.RawMessage(`{"value":101}`), GroundTruth: json.RawMessage(`{"close":103}`)},
		{PredictionID: "p2", Prediction: json.RawMessage(`{"score":101}`), GroundTruth: json.RawMessage(`{"close":103}`)},
	})
	for _, s := range scores {
		if s.Success {
			fmt.Printf("%s: %.1f\n", s.PredictionID, *s.Value)
		} else {
			fmt.Printf("%s: failed (%s)\n", s.PredictionID, s.FailedReason)
		}
	}
	// Output:
	// callables: [BuildInferenceInput ScorePredictions]
	// inference input: {"last_close":102.5}
	// p1: 2.0
	// p2: failed (prediction has no numeric value)
}

// lastCloseModel predicts that the price stays at the last close it saw.
type lastCloseModel struct{ last float64 }

func (m *lastCloseModel) Tick(_ context.Context, input json.RawMessage) error {
	var in struct {
		LastClose float64 `json:"last_close"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return fmt.Errorf("tick input: %w", err)
	}
	m.last = in.LastClose
	return nil
}

func (m *lastCloseModel) Predict(_ context.Context, args []json.RawMessage, _ json.RawMessage) (json.RawMessage, error) {
	var asset string
	if len(args) > 0 {
		_ = json.Unmarshal(args[0], &asset)
	}
	return json.Marshal(map[string]any{"asset": asset, "value": m.last})
}

// A model plugin's main is one line:
//
//	func main() { sdk.ServeModel(&lastCloseModel{}, sdk.ModelInfo{Name: "last-close", Version: "0.1.0"}) }
func Example_model() {
	client, stop, err := sdktest.RunModel(&lastCloseModel{}, sdk.ModelInfo{Name: "last-close", Version: "0.1.0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	desc, _ := client.Describe(ctx)
	fmt.Println(desc.ModelName, desc.Methods)
	if err := client.Tick(ctx, json.RawMessage(`{"last_close":102.5}`)); err != nil {
		fmt.Println(err)
	}
	out, _ := client.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`), json.RawMessage(`60`), json.RawMessage(`60`)}, json.RawMessage(`{}`))
	fmt.Println(string(out))
	// Output:
	// last-close [Tick Predict]
	// {"asset":"BTC","value":102.5}
}
