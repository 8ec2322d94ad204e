package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// ModelPlugin is the go-plugin Plugin of a participant model. The plugin
// side uses Impl and Info; GRPCClient returns a *ModelClient.
type ModelPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Model
	Info sdk.ModelInfo
}

// GRPCServer registers the model service for Impl (plugin side).
func (p *ModelPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("model plugin %q: Impl: expected an sdk.Model, found nil", p.Info.Name)
	}
	sdk.RegisterModelServer(s, p.Impl, p.Info)
	return nil
}

// GRPCClient returns a *ModelClient (host side). ctx is go-plugin's
// done-context, cancelled when the plugin process exits.
func (p *ModelPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &ModelClient{rpc: modelv1.NewModelClient(conn), done: ctx}, nil
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
	rpc  modelv1.ModelClient
	done context.Context
}

var _ sdk.Model = (*ModelClient)(nil)

// Done is closed when the plugin process exits.
func (c *ModelClient) Done() <-chan struct{} { return c.done.Done() }

// Describe asks the model for its contract version, name, version and
// methods.
func (c *ModelClient) Describe(ctx context.Context) (ModelDescription, error) {
	resp, err := c.rpc.Describe(ctx, &modelv1.DescribeRequest{HostContractVersion: sdk.ContractVersion})
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
	_, err := c.rpc.Tick(ctx, &modelv1.TickRequest{InputJson: input})
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
	resp, err := c.rpc.Predict(ctx, req)
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
