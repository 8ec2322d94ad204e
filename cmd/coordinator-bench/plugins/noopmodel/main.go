// Command noopmodel is the benchmark harness's no-op model plugin: Tick
// does nothing and Predict answers the constant baseline answer
// {"p_up":0.5}, so a measured call is the plugin round trip and nothing
// else (gRPC over the go-plugin Unix socket with mTLS, the SDK's envelope
// checks, the host's classification).
package main

import (
	"context"
	"encoding/json"
	"flag"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type model struct{}

// answer is the constant Predict output.
var answer = json.RawMessage(`{"p_up":0.5}`)

// Tick implements sdk.Model and ignores the input.
func (model) Tick(context.Context, json.RawMessage) error { return nil }

// Predict implements sdk.Model with a constant answer.
func (model) Predict(context.Context, []json.RawMessage, json.RawMessage) (json.RawMessage, error) {
	return answer, nil
}

func main() {
	name := flag.String("name", "noopmodel", "model name reported in Describe")
	flag.Parse()
	sdk.ServeModel(model{}, sdk.ModelInfo{Name: *name, Version: "1.0.0"})
}
