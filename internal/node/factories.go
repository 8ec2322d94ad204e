package node

import (
	"fmt"
	"maps"

	"github.com/crunch-coordinator/coordinator/extend"
)

// ErrFactory is wrapped by Start's errors about a service factory
// (PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY, REPORT_APP_FACTORY):
// not registered, refused at registration, or failing when called.
var ErrFactory = fmt.Errorf("%w: service factory", ErrConfig)

// applyFactories replaces the built-in services of the node's roles by the
// factories the workspace selects (config.Workspace.Factories), each
// called once with the built-in service to wrap or delegate to. A factory
// of a role the node does not run is ignored (serve score ignores
// REPORT_APP_FACTORY).
func (n *Node) applyFactories() error {
	cfg := n.cfg
	choice := cfg.Workspace.Factories()
	base := func(kind extend.Kind, name string) extend.Env {
		return extend.Env{
			Name: name, NodeDir: cfg.Workspace.NodeDir, Store: cfg.Store, Clock: cfg.Clock, Challenge: n.challenge,
			Logger: cfg.Logger.Named(string(kind) + "." + name), Settings: maps.Clone(cfg.Workspace.Settings.Env),
		}
	}
	if name := choice.Predict; name != "" && n.predictSvc != nil {
		f, err := extend.LookupPredictService(name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrFactory, err)
		}
		env := extend.PredictEnv{Env: base(extend.KindPredict, name), Models: n.models, Builtin: n.predictSvc, Cycle: n.predict.RunOnce}
		svc, err := call(extend.KindPredict, name, func() (extend.Service, error) { return f(env) })
		if err != nil {
			return err
		}
		n.predictSvc = svc
		n.replace(ServicePredict, name)
	}
	if name := choice.Score; name != "" && n.scoreSvc != nil {
		f, err := extend.LookupScoreService(name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrFactory, err)
		}
		env := extend.ScoreEnv{Env: base(extend.KindScore, name), Builtin: n.scoreSvc,
			Score: n.score.Score, RebuildLeaderboard: n.score.RebuildLeaderboard, Checkpoint: n.checkpoint.RunOnce}
		svc, err := call(extend.KindScore, name, func() (extend.Service, error) { return f(env) })
		if err != nil {
			return err
		}
		n.scoreSvc = svc
		n.replace(ServiceScore, name)
	}
	if name := choice.Report; name != "" && n.report != nil {
		f, err := extend.LookupReportApp(name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrFactory, err)
		}
		env := extend.ReportEnv{Env: base(extend.KindReport, name), Builtin: n.report, Handler: n.handler, Addr: cfg.Workspace.Settings.APIAddr}
		var app extend.ReportApp
		_, err = call(extend.KindReport, name, func() (extend.Service, error) {
			var err error
			app, err = f(env)
			return app, err
		})
		if err != nil {
			return err
		}
		n.report = app
		n.replace(ServiceReport, name)
	}
	return nil
}

// call runs a factory, turning an error, a panic or a nil service into an
// error naming the variable, the factory and the fix.
func call(kind extend.Kind, name string, f func() (extend.Service, error)) (svc extend.Service, err error) {
	fail := func(what any) error {
		return fmt.Errorf("%w: %s=%s: the factory failed: %v (fix it in the node's extensions/ package, or unset %s for the built-in %s service)",
			ErrFactory, kind.Var(), name, what, kind.Var(), kind)
	}
	defer func() {
		if r := recover(); r != nil {
			svc, err = nil, fail(fmt.Sprintf("panic: %v", r))
		}
	}()
	svc, err = f()
	if err != nil {
		return nil, fail(err)
	}
	if svc == nil || isNilReportApp(svc) {
		return nil, fail("it returned no service and no error")
	}
	return svc, nil
}

// isNilReportApp reports a typed nil returned as a report app.
func isNilReportApp(s extend.Service) bool {
	a, ok := s.(extend.ReportApp)
	return ok && a == nil
}

func (n *Node) replace(service, factory string) {
	if n.replaced == nil {
		n.replaced = map[string]string{}
	}
	n.replaced[service] = factory
	n.log.Info("service replaced by a factory", "service", service, "factory", factory)
}

// Replaced maps the name of each service replaced by a factory
// (ServicePredict, ServiceScore, ServiceReport) to the factory's name.
func (n *Node) Replaced() map[string]string { return maps.Clone(n.replaced) }

// isReplaced reports whether a factory replaced the service named svc.
func (n *Node) isReplaced(svc string) bool {
	_, ok := n.replaced[svc]
	return ok
}
