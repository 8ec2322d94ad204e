// Command panicmodel is a broken model plugin for the doctor tests: it
// panics before sdk.ServeModel, so it dies before the handshake.
package main

import (
	"context"
	"encoding/json"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type model struct{}

func (model) Tick(context.Context, json.RawMessage) error { return nil }

func (model) Predict(context.Context, []json.RawMessage, json.RawMessage) (json.RawMessage, error) {
	return json.RawMessage(`{"p_up":0.5}`), nil
}

func main() {
	var weights map[string]float64
	if weights["lookback"] == 0 {
		panic("model weights not loaded: lookback is 0")
	}
	sdk.ServeModel(model{}, sdk.ModelInfo{Name: "panicmodel", Version: "0.0.1"})
}
