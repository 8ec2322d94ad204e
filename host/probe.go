package host

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// ProbeReport is what Probe found out about one plugin binary, for `doctor`.
//
//   - Status is SUCCESS when the plugin is usable; otherwise the class of the
//     first failure (BAD_IMPLEMENTATION, TIMEOUT, CRASHED), with Stage one
//     of the Stage* constants and Err the cause (a *StartError).
//   - Challenge / Model hold the Describe answer when Describe succeeded.
//   - Problems are all VerifyChallenge/VerifyModel problems, fatal or not.
//   - Missing lists the callables the plugin does not implement, for which
//     the runtime default is used (challenge only).
//   - Healthy: the gRPC health service answered SERVING within 1 s.
//   - StartTime is the wall time of launch + handshake + Describe;
//     ShutdownTime of the graceful stop.
//   - FirstStdoutLine is what the binary printed instead of the handshake;
//     StderrTail the last lines of its stderr (a panic trace, the cookie
//     message of a binary started for the wrong slot, ...).
type ProbeReport struct {
	Kind              string
	Path              string
	Status            Status
	Stage             string
	Err               error
	Challenge         *wire.ChallengeDescription
	Model             *wire.ModelDescription
	Problems          []Problem
	Missing           []string
	Healthy           bool
	NegotiatedVersion int
	StartTime         time.Duration
	ShutdownTime      time.Duration
	FirstStdoutLine   string
	StderrTail        string
}

// Probe launches one plugin of kind (sdk.PluginChallenge or sdk.PluginModel)
// exactly as the host does (same checks, handshake, Describe, VerifyChallenge
// / VerifyModel), runs a health check, stops it, and reports. It never
// restarts. The returned error is nil only when the plugin is usable; it is
// a *StartError, a health-check error, or ErrUnsupportedKind. No process is
// left when Probe returns.
func Probe(ctx context.Context, spec PluginSpec, kind string, opts Options) (ProbeReport, error) {
	opts = opts.withDefaults()
	rep := ProbeReport{Kind: kind, Path: spec.Path}
	if kind != sdk.PluginChallenge && kind != sdk.PluginModel {
		rep.Status, rep.Stage = StatusBadImplementation, StageCheck
		rep.Err = fmt.Errorf("%w %q (expected %q or %q)", ErrUnsupportedKind, kind, sdk.PluginChallenge, sdk.PluginModel)
		return rep, rep.Err
	}
	if spec.ID == "" {
		spec.ID = kind
	}
	start := time.Now()
	in, se := launch(ctx, kind, spec, 1, nil, opts)
	rep.StartTime = time.Since(start)
	if in != nil {
		rep.fill(in)
	}
	if se != nil {
		rep.Status, rep.Stage, rep.Err = se.Status, se.Stage, se
		rep.FirstStdoutLine, rep.StderrTail = se.FirstStdoutLine, se.StderrTail
		if len(se.Problems) > 0 {
			rep.Problems = se.Problems
		}
		return rep, se
	}
	if in.cl != nil {
		rep.NegotiatedVersion = in.cl.NegotiatedVersion()
	}
	herr := in.health(ctx, time.Second)
	rep.Healthy = herr == nil
	t := time.Now()
	in.stop(opts.KillTimeout, true)
	rep.ShutdownTime = time.Since(t)
	rep.StderrTail = in.ring.Tail(4096)
	if herr != nil {
		rep.Status, rep.Stage, rep.Err = StatusBadImplementation, StageHandshake, herr
		return rep, herr
	}
	rep.Status = StatusSuccess
	return rep, nil
}

func (rep *ProbeReport) fill(in *instance) {
	rep.Problems = in.probs
	if in.chal != nil {
		d := in.cdesc
		rep.Challenge = &d
		for _, c := range sdk.AllCallables {
			if !slices.Contains(d.Callables, c) {
				rep.Missing = append(rep.Missing, c)
			}
		}
	}
	if in.model != nil {
		d := in.mdesc
		rep.Model = &d
	}
}
