package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/pluginbin"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Prober is the PluginProber of checks 3 and 4. For the challenge plugin
// and every model plugin of the workspace it builds the binary with
// internal/pluginbuild into the layout `coordinator dev` uses
// (internal/pluginbin: <node>/.coordinator/bin), so dev and doctor share
// builds, then launches it once with host.Probe: the same checks,
// handshake, Describe and host.VerifyChallenge / host.VerifyModel as the
// node's plugin host. Beyond the host's own verification it checks that
// every hook routed "challenge" in config/callables.env is listed by the
// challenge's Describe, naming each missing callable with its variable.
//
// Results use Group "plugins" and Check "challenge" or "model <id>".
// The zero value is ready to use.
type Prober struct {
	// Host are the plugin host options of each probe (StartTimeout,
	// DescribeTimeout, KillTimeout, Logger); zero fields take the host
	// defaults.
	Host host.Options
	// BuildTimeout bounds one plugin build (default 5 minutes).
	BuildTimeout time.Duration
	// ProbeTimeout bounds one probe: launch, handshake, Describe, health
	// check and stop (default 30 s).
	ProbeTimeout time.Duration
	// Progress, when set, receives build progress events.
	Progress func(pluginbuild.Event)
}

const groupPlugins = "plugins"

// ProbePlugins builds and probes the challenge plugin, then each model
// plugin in config/models.json order, and returns one or more results per
// plugin. Plugins whose configuration did not load (CHALLENGE_PLUGIN unset,
// models.json invalid) are skipped: the workspace checks already report
// why.
func (p Prober) ProbePlugins(ctx context.Context, w *WorkspaceInfo) []Result {
	if p.BuildTimeout <= 0 {
		p.BuildTimeout = 5 * time.Minute
	}
	if p.ProbeTimeout <= 0 {
		p.ProbeTimeout = 30 * time.Second
	}
	ws := w.Workspace
	if ws == nil {
		ws = w.Loaded
	}
	if ws == nil {
		return []Result{{Group: groupPlugins, Check: "plugins", Status: Skip, Message: "the workspace configuration did not load; fix the workspace failures first"}}
	}
	bopts := pluginbin.BuildOptions(ws.NodeDir, p.Progress)
	var out []Result
	if ws.Callables.ChallengePlugin == "" {
		out = append(out, Result{Group: groupPlugins, Check: "challenge", Status: Skip,
			Message: config.ChallengePluginVar + " is not set in " + config.CallablesFile + "; see the workspace failure"})
	} else {
		out = append(out, p.challenge(ctx, ws, bopts)...)
	}
	if len(ws.Models) == 0 {
		out = append(out, Result{Group: groupPlugins, Check: "models", Status: Skip,
			Message: config.ModelsFile + " did not load; see the workspace failure"})
	}
	for i, m := range ws.Models {
		if m.Runtime != config.RuntimeGo {
			continue // Python models are checked below, after the challenge plugin was built; remote ones after them
		}
		out = append(out, p.model(ctx, ws, i, m, bopts)...)
	}
	out = append(out, p.pythonModels(ctx, ws)...)
	out = append(out, remoteModels(ctx, ws)...)
	return out
}

// build builds one target, with its own deadline. It returns a failing
// result (nil on success).
// ref names the setting that points at the plugin, for messages.
func (p Prober) build(ctx context.Context, t pluginbuild.Target, bopts pluginbuild.Options, check, ref, where, dirFix string) *Result {
	if st, err := os.Stat(t.Dir); err != nil || !st.IsDir() {
		found := "a missing directory"
		if err == nil {
			found = "a file"
		}
		return &Result{Group: groupPlugins, Check: check, Status: Fail, Where: where,
			Message: fmt.Sprintf("%s points at %s, %s (expected the plugin's Go main package directory)", ref, found, t.Dir),
			Fix:     dirFix}
	}
	bctx, cancel := context.WithTimeout(ctx, p.BuildTimeout)
	defer cancel()
	if err := pluginbuild.Build(bctx, []pluginbuild.Target{t}, bopts); err != nil {
		return &Result{Group: groupPlugins, Check: check, Status: Fail, Where: where,
			Message: fmt.Sprintf("does not build (go build in %s): %s", t.Dir, compilerLines(err, 3)),
			Fix:     fmt.Sprintf("fix the compile errors (run `go build .` in %s to see them all)", t.Dir),
			Detail:  err.Error()}
	}
	return nil
}

func (p Prober) probe(ctx context.Context, bin, id, kind string) (host.ProbeReport, error) {
	pctx, cancel := context.WithTimeout(ctx, p.ProbeTimeout)
	defer cancel()
	return host.Probe(pctx, host.PluginSpec{ID: id, Path: bin}, kind, p.Host)
}

func (p Prober) challenge(ctx context.Context, ws *config.Workspace, bopts pluginbuild.Options) []Result {
	callables := filepath.Join(ws.NodeDir, config.CallablesFile)
	rel := relTo(ws.NodeDir, ws.Callables.ChallengePlugin)
	where := fmt.Sprintf("%s %s=%s", callables, config.ChallengePluginVar, rel)
	t := pluginbin.ChallengeTarget(ws)
	dirFix := fmt.Sprintf("set %s in %s to the challenge plugin's Go main package directory, relative to the node directory%s",
		config.ChallengePluginVar, config.CallablesFile, candidates(ws.NodeDir, "cmd/challenge"))
	ref := fmt.Sprintf("%s %s=%s", config.CallablesFile, config.ChallengePluginVar, rel)
	if r := p.build(ctx, t, bopts, "challenge", ref, where, dirFix); r != nil {
		return []Result{*r}
	}
	rep, err := p.probe(ctx, t.Out, "challenge", sdk.PluginChallenge)
	var out []Result
	if err != nil && rep.Stage != host.StageVerify {
		return []Result{startFailure("challenge", t.Out, rep)}
	}
	reported := map[string]bool{}
	var listed []string
	if rep.Challenge != nil {
		listed = rep.Challenge.Callables
	}
	for _, pr := range rep.Problems {
		r := problemResult("challenge", t.Out, pr)
		if pr.Code == host.ProblemMissingCallable {
			env := hookVar(pr.Callable)
			reported[pr.Callable] = true
			r.Where = callables + " " + env
			r.Message = fmt.Sprintf("%s not implemented (%s %s=%s); Describe lists %s",
				pr.Callable, config.CallablesFile, env, ws.Callables.Routes[pr.Callable], listOrNone(listed))
		}
		out = append(out, r)
	}
	if rep.Challenge == nil {
		return out
	}
	d := rep.Challenge
	routedOK := 0
	for _, h := range config.Hooks {
		route, listed := ws.Callables.Routes[h.Callable], slices.Contains(d.Callables, h.Callable)
		switch {
		case route == config.RouteChallenge && !listed && !reported[h.Callable]:
			out = append(out, Result{Group: groupPlugins, Check: "challenge", Status: Fail, Where: callables + " " + h.EnvVar,
				Message: fmt.Sprintf("%s not implemented (%s %s=challenge); Describe lists %s", h.Callable, config.CallablesFile, h.EnvVar, listOrNone(d.Callables)),
				Fix: fmt.Sprintf("implement (*Challenge).%s in the challenge package (%s) and rebuild, or set %s=default in %s to use the coordinator's default",
					h.Callable, filepath.Dir(filepath.Dir(ws.Callables.ChallengePlugin)), h.EnvVar, config.CallablesFile)})
		case route == config.RouteDefault && listed:
			out = append(out, Result{Group: groupPlugins, Check: "challenge", Status: Warn, Where: callables + " " + h.EnvVar,
				Message: fmt.Sprintf("the plugin implements %s but %s %s=default, so the node ignores it and uses the coordinator's default", h.Callable, config.CallablesFile, h.EnvVar),
				Fix:     fmt.Sprintf("set %s=challenge to use the plugin's %s, or delete the method to silence this warning", h.EnvVar, h.Callable)})
		case route == config.RouteChallenge:
			routedOK++
		}
	}
	if err != nil {
		return out
	}
	out = append([]Result{{Group: groupPlugins, Check: "challenge", Status: Pass, Where: t.Out,
		Message: fmt.Sprintf("%s %s: built, handshake ok, contract %s, implements %s", d.PluginName, d.PluginVersion, d.ContractVersion, listOrNone(d.Callables))}}, out...)
	if !Failed(out) {
		out = append(out, Result{Group: groupPlugins, Check: "challenge callables", Status: Pass, Where: callables,
			Message: fmt.Sprintf("all %d hooks routed to the challenge in %s are implemented", routedOK, config.CallablesFile)})
	}
	return out
}

func (p Prober) model(ctx context.Context, ws *config.Workspace, i int, m config.ModelConfig, bopts pluginbuild.Options) []Result {
	check := "model " + m.ID
	where := fmt.Sprintf("%s models[%d] (id %q, path %q)", filepath.Join(ws.NodeDir, config.ModelsFile), i, m.ID, relTo(ws.NodeDir, m.Path))
	t := pluginbin.ModelTarget(ws, m)
	dirFix := fmt.Sprintf("set models[%d].path in %s to the model plugin's Go main package directory, relative to the node directory%s",
		i, config.ModelsFile, candidates(ws.NodeDir, "examples/*"))
	ref := fmt.Sprintf("%s models[%d].path %q", config.ModelsFile, i, relTo(ws.NodeDir, m.Path))
	if r := p.build(ctx, t, bopts, check, ref, where, dirFix); r != nil {
		return []Result{*r}
	}
	rep, err := p.probe(ctx, t.Out, m.ID, sdk.PluginModel)
	if err != nil && rep.Stage != host.StageVerify {
		return []Result{startFailure(check, t.Out, rep)}
	}
	var out []Result
	var methods []string
	if rep.Model != nil {
		methods = rep.Model.Methods
	}
	for _, pr := range rep.Problems {
		r := problemResult(check, t.Out, pr)
		if pr.Code == host.ProblemMissingMethod {
			r.Message = fmt.Sprintf("%s not implemented; Describe lists %s", pr.Callable, listOrNone(methods))
			r.Where = m.Path
		}
		out = append(out, r)
	}
	if err != nil || rep.Model == nil {
		return out
	}
	d := rep.Model
	return append([]Result{{Group: groupPlugins, Check: check, Status: Pass, Where: t.Out,
		Message: fmt.Sprintf("%s %s: built, handshake ok, contract %s, implements %s", d.ModelName, d.ModelVersion, d.ContractVersion, listOrNone(d.Methods))}}, out...)
}

// startFailure renders a launch that failed before a Describe answer was
// verified (bad binary, handshake, crash at start, timeout, Describe
// failure) from the host's diagnostic: summary and detail as the message,
// its fix and code; the whole stderr tail goes into Detail.
func startFailure(check, bin string, rep host.ProbeReport) Result {
	d := rep.Diagnostic()
	msg := d.Summary
	if d.Detail != "" {
		msg += "; " + d.Detail
	}
	return Result{Group: groupPlugins, Check: check, Status: Fail, Where: bin, Message: msg, Fix: d.Fix, Code: d.Code, Detail: rep.StderrTail}
}

// problemResult renders a verification problem's diagnostic: a failure
// when it is an error, else a warning.
func problemResult(check, where string, p host.Problem) Result {
	d := p.Diagnostic()
	r := Result{Group: groupPlugins, Check: check, Status: Warn, Where: where, Message: d.Summary, Fix: d.Fix, Code: d.Code, Detail: d.Detail}
	if d.Severity == host.SeverityError {
		r.Status = Fail
	}
	return r
}

// compilerLines returns the first n lines of go build output in a build
// error, joined on one line.
func compilerLines(err error, n int) string {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if len(lines) == 1 {
		return lines[0]
	}
	var out []string
	for _, l := range lines[1:] {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
		if len(out) == n {
			break
		}
	}
	if len(out) == 0 {
		return lines[0]
	}
	return strings.Join(out, "; ")
}

// hookVar is the callables.env variable of callable.
func hookVar(callable string) string {
	for _, h := range config.Hooks {
		if h.Callable == callable {
			return h.EnvVar
		}
	}
	return callable
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// relTo renders path relative to the node directory when it can.
func relTo(nodeDir, path string) string {
	if rel, err := filepath.Rel(nodeDir, path); err == nil {
		return rel
	}
	return path
}

// candidates suggests directories matching crunch-*/<pattern> in the
// workspace root that hold a main.go, as "; e.g. a, b".
func candidates(nodeDir, pattern string) string {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(nodeDir), "crunch-*", pattern, "main.go"))
	var rels []string
	for _, m := range matches {
		rels = append(rels, relTo(nodeDir, filepath.Dir(m)))
		if len(rels) == 3 {
			break
		}
	}
	if len(rels) == 0 {
		return ""
	}
	return "; e.g. " + strings.Join(rels, ", ")
}
