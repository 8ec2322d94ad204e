package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-plugin"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/internal/seam"
)

// NewModelPlugin returns the go-plugin Plugin of the model kind. The
// plugin side (an in-process plugin, see sdk/sdktest) passes impl and info
// and serves them exactly as sdk.ServeModel does; the host side passes nil
// and the zero info. Dispense returns a *ModelClient.
func NewModelPlugin(impl sdk.Model, info sdk.ModelInfo) plugin.Plugin {
	p := &seam.ModelPlugin{Wrap: func(conn *seam.ModelConn) any { return &ModelClient{conn: conn} }}
	if impl != nil {
		p.Impl = seam.ModelServer(impl, info)
	}
	return p
}

// ModelDescription is a model plugin's answer to Describe. Methods lists
// the implemented methods (sdk.MethodTick, sdk.MethodPredict).
type ModelDescription struct {
	ContractVersion string
	ModelName       string
	ModelVersion    string
	Methods         []string
}

// ModelClient is the host's view of a model plugin. It implements sdk.Model
// and adds Describe and Done. RPC errors are returned unchanged as gRPC
// status errors; answers that are not JSON wrap ErrBadOutput.
type ModelClient struct {
	conn *seam.ModelConn
}

var _ sdk.Model = (*ModelClient)(nil)

// Done is closed when the plugin process exits.
func (c *ModelClient) Done() <-chan struct{} { return c.conn.Done() }

// Describe asks the model for its contract version, name, version and
// methods.
func (c *ModelClient) Describe(ctx context.Context) (ModelDescription, error) {
	resp, err := c.conn.RPC.Describe(ctx, &modelv1.DescribeRequest{HostContractVersion: sdk.ContractVersion})
	if err != nil {
		return ModelDescription{}, err
	}
	return ModelDescription{
		ContractVersion: resp.GetContractVersion(),
		ModelName:       resp.GetModelName(),
		ModelVersion:    resp.GetModelVersion(),
		Methods:         append([]string{}, resp.GetMethods()...),
	}, nil
}

// Tick sends the cycle's inference input (a JSON object) to the model.
func (c *ModelClient) Tick(ctx context.Context, input json.RawMessage) error {
	_, err := c.conn.RPC.Tick(ctx, &modelv1.TickRequest{InputJson: input})
	return err
}

// Predict asks the model for one prediction. The answer may be any JSON
// value (empty = null, returned as the literal null); bytes that are not
// JSON give an error wrapping ErrBadOutput.
func (c *ModelClient) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	req := &modelv1.PredictRequest{ArgsJson: make([][]byte, 0, len(args)), KwargsJson: kwargs}
	for _, a := range args {
		req.ArgsJson = append(req.ArgsJson, a)
	}
	resp, err := c.conn.RPC.Predict(ctx, req)
	if err != nil {
		return nil, err
	}
	out := resp.GetResultJson()
	if len(bytes.TrimSpace(out)) == 0 {
		return json.RawMessage("null"), nil
	}
	if !json.Valid(out) {
		return nil, badOutput(sdk.MethodPredict, "a JSON value", fmt.Sprintf("%d bytes that are not JSON (starting %q)", len(out), prefix(out, 32)))
	}
	return json.RawMessage(out), nil
}

func prefix(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
