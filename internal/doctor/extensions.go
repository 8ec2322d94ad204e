package doctor

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/extend/factoryname"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/extbuild"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/suggest"
)

const groupExtensions = "extensions"

// checkExtensions checks the service factories the workspace selects
// (PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY, REPORT_APP_FACTORY):
// it builds the node binary with the workspace's extensions/ like dev and
// serve do (package extbuild, same fingerprint cache), runs its hidden
// `extensions --json` command and checks that each selected factory is
// registered there and was not refused. It also says which services are
// replaced. build=false (--skip-plugins) lists the selection unchecked.
func checkExtensions(ctx context.Context, w *WorkspaceInfo, build bool, progress func(pluginbuild.Event)) []Result {
	ws := w.Workspace
	if ws == nil {
		ws = w.Loaded
	}
	if ws == nil {
		return nil
	}
	sel := ws.Factories().Selected()
	if len(sel) == 0 {
		return []Result{{Group: groupExtensions, Check: "services", Status: Pass,
			Message: "no service factory selected: the built-in predict, score and report services run; no node binary is built"}}
	}
	where := filepath.Join(w.NodeDir, extbuild.ExtensionsDir)
	var listing extbuild.Listing
	switch {
	case !build:
		return []Result{servicesResult(sel), {Group: groupExtensions, Check: "factories", Status: Skip, Where: where,
			Message: "--skip-plugins: the node binary with the extensions is not built, so the factories are not checked"}}
	case extbuild.Linked != "":
		// doctor runs inside a node binary: its own registry is the one.
		listing = extbuild.Self()
	default:
		plan, err := extbuild.Prepare(w.NodeDir)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), extbuild.ErrSetup.Error()+": ")
			return []Result{servicesResult(sel), {Group: groupExtensions, Check: "node binary", Status: Fail, Where: where,
				Message: msg, Fix: "fix the workspace as the message says, or unset " + vars(sel) + " for the built-in services"}}
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		bin, err := extbuild.Build(bctx, plan, false, progress)
		cancel()
		if err != nil {
			return []Result{servicesResult(sel), {Group: groupExtensions, Check: "node binary", Status: Fail, Where: plan.Package,
				Message: "the node binary with " + plan.Package + " does not build: " + firstLine(err.Error()),
				Fix:     fmt.Sprintf("fix the compiler errors (cd %s && go build ./%s), or unset %s for the built-in services", w.NodeDir, extbuild.ExtensionsDir, vars(sel)),
				Detail:  err.Error()}}
		}
		listing, err = extbuild.List(ctx, bin, 30*time.Second)
		if err != nil {
			return []Result{servicesResult(sel), {Group: groupExtensions, Check: "node binary", Status: Fail, Where: bin,
				Message: "the node binary does not list its factories: " + firstLine(err.Error()),
				Fix:     "rebuild it (rm " + bin + " and run `coordinator doctor` again); an init function of " + plan.Package + " may crash it",
				Detail:  err.Error()}}
		}
	}
	return append([]Result{servicesResult(sel)}, factoryResults(sel, listing, where)...)
}

// servicesResult lists which services are replaced and which are built in.
func servicesResult(sel []config.FactoryChoice) Result {
	var replaced []string
	builtin := map[factoryname.Kind]bool{factoryname.Predict: true, factoryname.Score: true, factoryname.Report: true}
	for _, c := range sel {
		replaced = append(replaced, fmt.Sprintf("%s by %s (%s)", c.Kind, c.Name, c.Kind.Var()))
		delete(builtin, c.Kind)
	}
	msg := "replaced: " + strings.Join(replaced, ", ")
	var rest []string
	for _, k := range []factoryname.Kind{factoryname.Predict, factoryname.Score, factoryname.Report} {
		if builtin[k] {
			rest = append(rest, string(k))
		}
	}
	if len(rest) > 0 {
		msg += "; built-in: " + strings.Join(rest, ", ")
	}
	return Result{Group: groupExtensions, Check: "services", Status: Pass, Message: msg}
}

// factoryResults checks each selected factory against the registrations
// of the node binary: one result per selection.
func factoryResults(sel []config.FactoryChoice, l extbuild.Listing, where string) []Result {
	var out []Result
	for _, c := range sel {
		check := c.Kind.Var() + "=" + c.Name
		var names []string
		var found *extendReg
		for _, r := range l.Factories {
			if r.Kind != c.Kind {
				continue
			}
			if r.Error == "" {
				names = append(names, r.Name)
			}
			if r.Name == c.Name {
				found = &extendReg{version: r.APIVersion, err: r.Error}
			}
		}
		sort.Strings(names)
		switch {
		case found == nil:
			have := "none"
			if len(names) > 0 {
				have = strings.Join(names, ", ")
			}
			msg := fmt.Sprintf("no %s factory named %q is registered in %s (registered %s factories: %s)", c.Kind, c.Name, linked(l), c.Kind, have)
			fix := fmt.Sprintf("register it in an init function of the node's extensions/ package (%s(%q, %d, ...)), or unset %s for the built-in %s service",
				c.Kind.RegisterFunc(), c.Name, l.APIVersion, c.Kind.Var(), c.Kind)
			if s := suggest.Nearest(c.Name, names); s != "" {
				fix = fmt.Sprintf("did you mean %q? set %s=%s; or ", s, c.Kind.Var(), s) + fix
			} else if len(names) > 0 {
				fix = fmt.Sprintf("set %s to one of %s; or ", c.Kind.Var(), have) + fix
			}
			out = append(out, Result{Group: groupExtensions, Check: check, Status: Fail, Where: where, Message: msg, Fix: fix})
		case found.err != "":
			out = append(out, Result{Group: groupExtensions, Check: check, Status: Fail, Where: where,
				Message: "registered but refused: " + found.err,
				Fix:     fmt.Sprintf("fix the registration in the node's extensions/ package, or unset %s for the built-in %s service", c.Kind.Var(), c.Kind)})
		default:
			out = append(out, Result{Group: groupExtensions, Check: check, Status: Pass, Where: where,
				Message: fmt.Sprintf("registered in %s (extend API v%d); replaces the built-in %s service", linked(l), found.version, c.Kind)})
		}
	}
	return out
}

type extendReg struct {
	version int
	err     string
}

func linked(l extbuild.Listing) string {
	if l.Linked == "" {
		return "the coordinator binary (no extensions package linked)"
	}
	return l.Linked
}

func vars(sel []config.FactoryChoice) string {
	var v []string
	for _, c := range sel {
		v = append(v, c.Kind.Var())
	}
	return strings.Join(v, " and ")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
