package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/jsonx"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/pymodel"
	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/sdktest"
)

// pythonModels checks the workspace's Python models: the interpreter and
// its packages once, then each model: the runner starts, Setup finds the
// class, and one tick plus one predict on a sample input (built by the
// challenge from synthetic candles, through the same callables as the
// predict worker) pass the challenge's output validator.
func (p Prober) pythonModels(ctx context.Context, ws *config.Workspace) []Result {
	var models []config.ModelConfig
	for _, m := range ws.Models {
		if m.Runtime == config.RuntimePython {
			models = append(models, m)
		}
	}
	if len(models) == 0 {
		return nil
	}
	envFile := filepath.Join(ws.NodeDir, config.LocalEnvFile)
	rt, err := pymodel.FindRuntime(ctx, ws)
	if err != nil {
		return []Result{{Group: groupPlugins, Check: "python", Status: Fail, Where: envFile + " " + config.PythonVar,
			Message: fmt.Sprintf("%d Python models need an interpreter with grpcio and protobuf: %v", len(models), err),
			Fix:     modelrunner.InstallHint}}
	}
	out := []Result{{Group: groupPlugins, Check: "python", Status: Pass, Where: rt.Python.Path,
		Message: fmt.Sprintf("Python %s with grpcio %s and protobuf %s", rt.Python.Version, rt.Python.GRPC, rt.Python.Protobuf)}}
	sample, sampleErr := p.pythonSample(ctx, ws)
	if sample != nil {
		defer sample.chal.Close()
	}
	for i, m := range ws.Models {
		if m.Runtime == config.RuntimePython {
			out = append(out, p.pythonModel(ctx, ws, rt, i, m, sample, sampleErr)...)
		}
	}
	return out
}

// pySample is one sample predict cycle: the inference input, the first
// schedule row's predict call and scope, and the challenge to validate with.
type pySample struct {
	input json.RawMessage
	call  sdk.PredictCall
	scope sdk.ScopeEnvelope
	chal  *host.Challenge
}

// pythonSample starts the built challenge plugin and runs the predict
// worker's callables on 3 hours of synthetic one-minute candles.
func (p Prober) pythonSample(ctx context.Context, ws *config.Workspace) (*pySample, error) {
	if len(ws.Schedules) == 0 {
		return nil, fmt.Errorf("no schedule in %s", config.SchedulesFile)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	data := sdktest.NewMemoryHostData()
	data.SetNow(now)
	assets := map[string]bool{"BTC": true}
	for _, s := range ws.Schedules {
		var tmpl map[string]any
		if json.Unmarshal(s.ScopeTemplate, &tmpl) == nil {
			if a, ok := tmpl["asset"].(string); ok && a != "" {
				assets[a] = true
			}
		}
	}
	for a := range assets {
		price := 20000.0
		for i := 180; i >= 1; i-- {
			price *= 1 + 0.001*math.Sin(float64(i)/7)
			ts := now.Add(-time.Duration(i) * time.Minute)
			v, _ := json.Marshal(map[string]any{"open": price, "high": price * 1.001, "low": price * 0.999, "close": price, "volume": 1.0})
			data.Add(sdk.FeedRecord{Asset: a, Kind: "candle", Granularity: "1m", TsEvent: ts, Values: v})
		}
	}
	pctx, cancel := context.WithTimeout(ctx, p.ProbeTimeout)
	defer cancel()
	chal, err := host.StartChallenge(pctx, host.PluginSpec{ID: "challenge", Path: layout.Of(ws.NodeDir).ChallengeBinary()}, data, p.Host)
	if err != nil {
		return nil, fmt.Errorf("start the challenge plugin: %w", err)
	}
	s := &pySample{chal: chal}
	fail := func(err error) (*pySample, error) { _ = chal.Close(); return nil, err }
	raw, err := chal.ProvideRawInput(pctx, now, data)
	if err != nil {
		return fail(fmt.Errorf("ProvideRawInput on synthetic candles: %w", err))
	}
	if s.input, err = chal.BuildInferenceInput(pctx, raw); err != nil {
		return fail(fmt.Errorf("BuildInferenceInput: %w", err))
	}
	row := ws.Schedules[0]
	if s.scope, err = chal.BuildPredictionScope(pctx, row, s.input); err != nil {
		return fail(fmt.Errorf("BuildPredictionScope: %w", err))
	}
	if s.call, err = chal.BuildPredictCall(pctx, row, s.input, s.scope); err != nil {
		return fail(fmt.Errorf("BuildPredictCall: %w", err))
	}
	return s, nil
}

func (p Prober) pythonModel(ctx context.Context, ws *config.Workspace, rt pymodel.Runtime, i int, m config.ModelConfig, s *pySample, sampleErr error) []Result {
	check := "model " + m.ID
	where := fmt.Sprintf("%s models[%d] (id %q, path %q, runtime python)", filepath.Join(ws.NodeDir, config.ModelsFile), i, m.ID, relTo(ws.NodeDir, m.Path))
	opts := p.Host
	opts.MaxConsecutiveFailures, opts.MaxConsecutiveTimeouts = -1, -1
	pctx, cancel := context.WithTimeout(ctx, p.ProbeTimeout+pymodel.StartTimeout)
	defer cancel()
	spec := pymodel.Spec(ws, m, rt, nil)
	ms, err := host.StartModels(pctx, []host.PluginSpec{spec}, opts)
	if err != nil {
		return []Result{{Group: groupPlugins, Check: check, Status: Fail, Where: where, Message: err.Error()}}
	}
	defer ms.Close()
	if err := ms.WaitReady(pctx, m.ID); err != nil {
		st := ms.States()[0]
		return []Result{{Group: groupPlugins, Check: check, Status: Fail, Where: m.Path,
			Message: fmt.Sprintf("the model runner could not start the model: %s", st.LastError),
			Fix:     fmt.Sprintf("fix the file named above; the folder must define exactly one subclass of %s (%s)", ws.Callables.ModelBaseClass, config.CallablesFile)}}
	}
	started := Result{Group: groupPlugins, Check: check, Status: Pass, Where: m.Path,
		Message: fmt.Sprintf("runner started, Setup found the subclass of %s", ws.Callables.ModelBaseClass)}
	if s == nil {
		return []Result{started, {Group: groupPlugins, Check: check, Status: Warn, Where: where,
			Message: fmt.Sprintf("sample tick/predict skipped: %v", sampleErr)}}
	}
	tick := ms.Tick(pctx, s.input)[m.ID]
	if tick.Status != host.StatusSuccess {
		return []Result{started, {Group: groupPlugins, Check: check, Status: Fail, Where: m.Path,
			Message: fmt.Sprintf("tick on a sample input: %s: %v", tick.Status, tick.Err)}}
	}
	res := ms.Predict(pctx, s.call.Args, s.call.Kwargs)[m.ID]
	if res.Status != host.StatusSuccess {
		return []Result{started, {Group: groupPlugins, Check: check, Status: Fail, Where: m.Path,
			Message: fmt.Sprintf("predict%s: %s: %v", argsText(s.call.Args), res.Status, res.Err)}}
	}
	output := res.Output
	if !sdk.IsJSONObject(output) {
		output, _ = json.Marshal(map[string]json.RawMessage{"result": output})
	}
	vr, err := s.chal.ValidateInferenceOutput(pctx, []sdk.ValidationItem{{ModelID: m.ID, ScopeKey: s.scope.ScopeKey, InferenceOutput: output}})
	switch {
	case err != nil:
		return []Result{started, {Group: groupPlugins, Check: check, Status: Warn, Where: where, Message: fmt.Sprintf("output validator failed: %v", err)}}
	case len(vr) == 1 && vr[0].Error != "":
		return []Result{started, {Group: groupPlugins, Check: check, Status: Fail, Where: m.Path,
			Message: fmt.Sprintf("predict%s answered %s, which the challenge's validator rejects: %s", argsText(s.call.Args), jsonx.Abbreviate(res.Output), vr[0].Error)}}
	}
	return []Result{{Group: groupPlugins, Check: check, Status: Pass, Where: m.Path,
		Message: fmt.Sprintf("runner started, Setup found the subclass of %s; sample tick and predict%s → %s pass the validator (%s)",
			ws.Callables.ModelBaseClass, argsText(s.call.Args), jsonx.Abbreviate(res.Output), res.Duration.Round(time.Microsecond))}}
}

func argsText(args []json.RawMessage) string {
	b, _ := json.Marshal(args)
	return "(" + string(b[1:len(b)-1]) + ")"
}
