package sdk

import (
	"context"
	"encoding/json"
	"fmt"

	modelv1 "github.com/crunch-coordinator/coordinator/proto/model/v1"
)

// newModelServer returns the coordinator.model.v1.Model service for m.
// Error, size and panic rules are those of challengeServerFor. Predict
// receives empty args as JSON null and empty kwargs as {}; its result is
// sent as is (nil = JSON null).
func newModelServer(m Model, info ModelInfo) modelv1.ModelServer {
	return &modelServer{impl: m, info: info}
}

type modelServer struct {
	modelv1.UnimplementedModelServer
	impl Model
	info ModelInfo
}

func (s *modelServer) Describe(_ context.Context, req *modelv1.DescribeRequest) (*modelv1.DescribeResponse, error) {
	if v := req.GetHostContractVersion(); v != "" && v != ContractVersion {
		Logger().Warn("host speaks another contract version", "host_contract_version", v, "plugin_contract_version", ContractVersion)
	}
	return &modelv1.DescribeResponse{
		ContractVersion: ContractVersion,
		ModelName:       s.info.Name,
		ModelVersion:    s.info.Version,
		Methods:         append([]string(nil), RequiredModelMethods...),
	}, nil
}

func (s *modelServer) Tick(ctx context.Context, req *modelv1.TickRequest) (*modelv1.TickResponse, error) {
	input, err := requestJSON(MethodTick, "input_json", req.GetInputJson())
	if err != nil {
		return nil, err
	}
	if err := s.impl.Tick(ctx, input); err != nil {
		return nil, callableStatus(ctx, MethodTick, err)
	}
	return &modelv1.TickResponse{}, nil
}

func (s *modelServer) Predict(ctx context.Context, req *modelv1.PredictRequest) (*modelv1.PredictResponse, error) {
	args := make([]json.RawMessage, 0, len(req.GetArgsJson()))
	for i, a := range req.GetArgsJson() {
		v, err := requestJSON(MethodPredict, fmt.Sprintf("args_json[%d]", i), a)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	kwargs := json.RawMessage("{}")
	if len(req.GetKwargsJson()) > 0 {
		v, err := requestJSON(MethodPredict, "kwargs_json", req.GetKwargsJson())
		if err != nil {
			return nil, err
		}
		kwargs = v
	}
	out, err := s.impl.Predict(ctx, args, kwargs)
	if err != nil {
		return nil, callableStatus(ctx, MethodPredict, err)
	}
	return &modelv1.PredictResponse{ResultJson: out}, nil
}
