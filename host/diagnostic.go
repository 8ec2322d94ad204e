package host

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// Severity says whether a Diagnostic makes the plugin unusable.
type Severity string

// Severities of a Diagnostic.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic explains one problem with a plugin to the person who can fix
// it, in the style of terraform-plugin-go's diagnostics: it is built from
// the structured facts the host observed (start stage, status, exit code or
// signal, go-plugin's cookie rejection, contract version, Describe answer),
// never by parsing an error's text, so `doctor`, dev and serve only render
// it.
type Diagnostic struct {
	Severity Severity
	// Code is stable and machine-readable: one of the Diag* constants, or
	// "contract." followed by a Problem code.
	Code string
	// Summary is one line: what went wrong, with the status.
	Summary string
	// Detail is the supporting facts: the first stdout line, the telling
	// lines of stderr (a panic, the last lines), the Describe listing.
	// It may be empty.
	Detail string
	// Fix says what the plugin author does about it.
	Fix string
}

// Diagnostic codes of start failures (StartError.Diagnostic).
const (
	// DiagBinaryUnusable: StageCheck: missing, not executable, checksum.
	DiagBinaryUnusable = "start.binary_unusable"
	// DiagCookieRejected: the plugin rejected the host's magic cookie
	// (built with another handshake).
	DiagCookieRejected = "handshake.cookie_rejected"
	// DiagCrashedAtStart: the process died before the handshake on its
	// own (a panic, a runtime fatal error, a signal).
	DiagCrashedAtStart = "start.crashed"
	// DiagLimitExceeded: the process was ended by a sandbox limit
	// (ExitFacts.Limit).
	DiagLimitExceeded = "start.limit_exceeded"
	// DiagHandshakeTimeout: no handshake line within the start timeout.
	DiagHandshakeTimeout = "handshake.timeout"
	// DiagHandshakeFailed: another handshake failure (noise on stdout,
	// wrong protocol version, an exit before the handshake).
	DiagHandshakeFailed = "handshake.failed"
	// DiagNotServing: the handshake passed but the gRPC health check did
	// not answer SERVING.
	DiagNotServing = "handshake.not_serving"
	// DiagDescribeFailed: the handshake passed, Describe (or dispensing
	// the plugin kind) failed: often a plugin of the other kind.
	DiagDescribeFailed = "describe.failed"
	// DiagContract: Describe's answer fails VerifyChallenge/VerifyModel;
	// the Problems say how.
	DiagContract = "contract.failed"
	// DiagCancelled: the host cancelled the start (shutdown); not the
	// plugin's fault.
	DiagCancelled = "start.cancelled"
)

// ExitFacts say how a plugin process ended.
type ExitFacts struct {
	// Exited: the process has ended (by itself or by the host's kill).
	Exited bool
	// Code is the exit status of a process that exited by itself; -1
	// when a signal ended it.
	Code int
	// Signal is the signal that ended it ("killed", "segmentation
	// fault"), "" when it exited by itself.
	Signal string
	// HostKilled: a signal ended it after the host sent its kill (a start
	// timeout, a stop).
	HostKilled bool
	// Limit names the sandbox limit that ended it ("memory limit 2 GiB
	// exceeded"), "" when none did.
	Limit string
}

// String renders "exit status 2" or "signal: killed", "" before the end.
func (e ExitFacts) String() string {
	switch {
	case !e.Exited:
		return ""
	case e.Signal != "":
		return "signal: " + e.Signal
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

// exitFactsOf reads the facts of a reaped process state (nil: running).
func exitFactsOf(st *os.ProcessState, hostKilled bool) ExitFacts {
	if st == nil {
		return ExitFacts{}
	}
	f := ExitFacts{Exited: true, Code: st.ExitCode()}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		// A process that exited with a status ended by itself, even when
		// the host's kill came after; only a signal can be the host's.
		f.Signal, f.HostKilled = ws.Signal().String(), hostKilled
	}
	return f
}

// exitFacts says how the plugin process ended (zero while it runs).
func (r *procRunner) exitFacts() ExitFacts {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := exitFactsOf(r.state, r.hostKilled)
	f.Limit = r.limit
	return f
}

// goPluginCookieBanner is the first line go-plugin's plugin.Serve writes to
// stderr, before exiting with status 1 and writing nothing to stdout, when
// the magic cookie in its environment is not its own
// (hashicorp/go-plugin server.go). It is fixed protocol output; the host
// compares it whole, together with the exit status and the empty stdout.
const goPluginCookieBanner = "This binary is a plugin. These are not meant to be executed directly."

// cookieRejected reports go-plugin's cookie rejection from the facts of a
// failed handshake.
func cookieRejected(exit ExitFacts, firstStdout, stderrTail string) bool {
	if !exit.Exited || exit.HostKilled || exit.Code != 1 || firstStdout != "" {
		return false
	}
	lines := stderrLines(stderrTail)
	return len(lines) > 0 && lines[0] == goPluginCookieBanner
}

// stderrLines returns the non-empty, trimmed lines of a stderr tail.
func stderrLines(tail string) []string {
	var out []string
	for _, l := range strings.Split(tail, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// maxExcerpt bounds a stderr excerpt in a Detail (bytes).
const maxExcerpt = 400

// stderrExcerpt keeps the telling lines of a stderr tail on one line: the
// Go runtime's panic or fatal error line, or lead when set, then the last
// three lines; "(empty)" for none.
func stderrExcerpt(tail, lead string) string {
	lines := stderrLines(tail)
	if len(lines) == 0 {
		return "(empty)"
	}
	var keep []string
	if lead != "" {
		keep = append(keep, lead)
	} else {
		for _, l := range lines {
			if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
				keep = append(keep, l)
				break
			}
		}
	}
	for _, l := range lines[max(0, len(lines)-3):] {
		if !slices.Contains(keep, l) {
			keep = append(keep, l)
		}
	}
	s := strings.Join(keep, " | ")
	if len(s) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// serveFunc names the SDK function that serves a plugin of kind.
func serveFunc(kind string) string {
	if kind == sdk.PluginChallenge {
		return "sdk.ServeChallenge"
	}
	return "sdk.ServeModel"
}

// Diagnostic explains the failed start from its facts: Stage, Status,
// Exit, CookieRejected, FirstStdoutLine, StderrTail and Problems.
func (e *StartError) Diagnostic() Diagnostic {
	d := Diagnostic{Severity: SeverityError}
	serve := serveFunc(e.Kind)
	cause := "unknown cause"
	if e.Err != nil {
		cause = e.Err.Error()
	}
	stderr := "stderr: " + stderrExcerpt(e.StderrTail, "")
	switch {
	case e.Status == StatusFailed && e.Stage != StageCheck:
		d.Code, d.Severity = DiagCancelled, SeverityWarning
		d.Summary = fmt.Sprintf("start cancelled by the host at %s (%s)", e.Stage, e.Status)
		d.Fix = "nothing to fix in the plugin: the host was shutting down"
	case e.Stage == StageCheck:
		d.Code = DiagBinaryUnusable
		d.Summary = fmt.Sprintf("binary unusable (%s): %s", e.Status, cause)
		d.Fix = fmt.Sprintf("rebuild it: delete %s and build it again (dev, serve and doctor rebuild a missing binary)", e.Path)
	case e.Exit.Limit != "":
		d.Code = DiagLimitExceeded
		d.Summary = fmt.Sprintf("ended at start by the sandbox (%s, %s): %s", e.Status, e.Exit, e.Exit.Limit)
		d.Detail = stderr
		d.Fix = "make the plugin's start-up fit the sandbox limits (load less at start, lazily), or raise the limit in the node's settings"
	case e.CookieRejected:
		d.Code = DiagCookieRejected
		d.Summary = fmt.Sprintf("handshake failed (%s): the plugin rejected the host's magic cookie %s (it was built with another cookie or protocol)",
			e.Status, sdk.MagicCookieKey)
		d.Detail = "stderr: " + stderrExcerpt(e.StderrTail, goPluginCookieBanner)
		d.Fix = fmt.Sprintf("serve the plugin with %s from the coordinator SDK (github.com/crunch-coordinator/coordinator/sdk) instead of a hand-written go-plugin handshake, and rebuild", serve)
	case e.Stage == StageHandshake && e.Status == StatusCrashed:
		d.Code = DiagCrashedAtStart
		exit := ""
		if s := e.Exit.String(); s != "" {
			exit = ", " + s
		}
		d.Summary = fmt.Sprintf("crashed at start, before the handshake (%s%s)", e.Status, exit)
		d.Detail = stderr
		d.Fix = fmt.Sprintf("the plugin's main exits or panics before %s: run `go run .` in its directory to reproduce, and fix the code the stderr points at", serve)
	case e.Stage == StageHandshake && e.Status == StatusTimeout:
		d.Code = DiagHandshakeTimeout
		d.Summary = fmt.Sprintf("no handshake in time (%s): %s", e.Status, cause)
		d.Detail = stderr
		d.Fix = fmt.Sprintf("call %s at the start of main; do slow set-up lazily, after the handshake", serve)
	case e.Stage == StageHandshake:
		d.Code = DiagHandshakeFailed
		d.Summary = fmt.Sprintf("handshake failed (%s): %s", e.Status, cause)
		var facts []string
		if e.FirstStdoutLine != "" {
			facts = append(facts, fmt.Sprintf("first stdout line %q", e.FirstStdoutLine))
		}
		if len(stderrLines(e.StderrTail)) > 0 {
			facts = append(facts, stderr)
		}
		d.Detail = strings.Join(facts, "; ")
		d.Fix = fmt.Sprintf("the plugin must call %s (built against this coordinator's SDK) and print nothing to stdout before it", serve)
	case e.Stage == StageDescribe || e.Stage == StageDispense:
		d.Code = DiagDescribeFailed
		d.Summary = fmt.Sprintf("%s plugin handshake ok but Describe failed (%s): %s", e.Kind, e.Status, cause)
		if e.Kind == sdk.PluginChallenge {
			d.Fix = "CHALLENGE_PLUGIN must name a challenge plugin served with sdk.ServeChallenge (is it a model?)"
		} else {
			d.Fix = "the model must be served with sdk.ServeModel (is this path the challenge plugin?)"
		}
	case e.Stage == StageVerify:
		d.Code = DiagContract
		d.Summary = fmt.Sprintf("the plugin's Describe answer fails this host's contract (%s)", e.Status)
		var parts, fixes []string
		for _, p := range FatalProblems(e.Problems) {
			parts = append(parts, p.Code+": "+p.Message)
			fixes = append(fixes, p.Fix)
		}
		d.Detail = strings.Join(parts, "; ")
		d.Fix = strings.Join(slices.Compact(fixes), "; ")
	default:
		d.Code = DiagHandshakeFailed
		d.Summary = fmt.Sprintf("%s at %s: %s", e.Status, e.Stage, cause)
		d.Fix = fmt.Sprintf("serve the plugin with %s from this coordinator's SDK and rebuild", serve)
	}
	return d
}

// Diagnostic explains a verification problem: Code "contract." + p.Code,
// an error when the problem is fatal, else a warning.
func (p Problem) Diagnostic() Diagnostic {
	d := Diagnostic{Severity: SeverityWarning, Code: "contract." + p.Code, Summary: p.Message, Detail: p.Detail, Fix: p.Fix}
	if p.Fatal {
		d.Severity = SeverityError
	}
	return d
}

// Diagnostic explains why the probed plugin is unusable: the start error's
// diagnostic, or DiagNotServing for a failed health check. It returns the
// zero Diagnostic for a usable plugin.
func (rep ProbeReport) Diagnostic() Diagnostic {
	var se *StartError
	switch {
	case rep.Err == nil:
		return Diagnostic{}
	case errors.As(rep.Err, &se):
		return se.Diagnostic()
	}
	return Diagnostic{Severity: SeverityError, Code: DiagNotServing,
		Summary: fmt.Sprintf("handshake ok but the plugin is not serving (%s): %v", rep.Status, rep.Err),
		Fix:     fmt.Sprintf("serve the plugin with %s from this coordinator's SDK and rebuild", serveFunc(rep.Kind))}
}
