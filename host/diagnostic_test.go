package host

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

const cookieStderr = goPluginCookieBanner + "\nPlease execute the program that consumes these plugins, which will\nload any plugins automatically\n"

// TestCookieRejectedFromFacts: the cookie rejection needs all of go-plugin's
// facts (exit status 1, nothing on stdout, its banner as the first stderr
// line); the same words anywhere else are not enough.
func TestCookieRejectedFromFacts(t *testing.T) {
	exit1 := ExitFacts{Exited: true, Code: 1}
	for _, c := range []struct {
		name   string
		exit   ExitFacts
		stdout string
		stderr string
		want   bool
	}{
		{"go-plugin rejection", exit1, "", cookieStderr, true},
		{"other exit status", ExitFacts{Exited: true, Code: 2}, "", cookieStderr, false},
		{"killed by the host", ExitFacts{Exited: true, Code: -1, Signal: "killed", HostKilled: true}, "", cookieStderr, false},
		{"still running", ExitFacts{}, "", cookieStderr, false},
		{"printed on stdout", exit1, "1|1|unix|/tmp/x|grpc", cookieStderr, false},
		{"banner quoted in a log line", exit1, "", "error: " + goPluginCookieBanner + "\n", false},
		{"banner after other output", exit1, "", "loading weights\n" + cookieStderr, false},
		{"empty stderr", exit1, "", "", false},
	} {
		if got := cookieRejected(c.exit, c.stdout, c.stderr); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStartErrorDiagnostic: each start failure's diagnostic comes from its
// facts, with a code, a summary, the telling detail and a fix.
func TestStartErrorDiagnostic(t *testing.T) {
	base := func(f func(*StartError)) *StartError {
		e := &StartError{Plugin: "m1", Kind: sdk.PluginModel, Path: "/n/.coordinator/bin/models/m1", Stage: StageHandshake,
			Status: StatusBadImplementation, Err: errors.New("plugin exited before we could connect")}
		f(e)
		return e
	}
	for _, c := range []struct {
		name    string
		err     *StartError
		code    string
		summary []string
		detail  []string
		fix     string
	}{
		{"binary missing", base(func(e *StartError) { e.Stage, e.Err = StageCheck, ErrNotFound }), DiagBinaryUnusable,
			[]string{"binary unusable (BAD_IMPLEMENTATION)", "plugin binary not found"}, nil, "delete /n/.coordinator/bin/models/m1"},
		{"cookie", base(func(e *StartError) {
			e.Exit, e.CookieRejected, e.StderrTail = ExitFacts{Exited: true, Code: 1}, true, cookieStderr
		}), DiagCookieRejected,
			[]string{"handshake failed (BAD_IMPLEMENTATION)", "magic cookie " + sdk.MagicCookieKey}, []string{"stderr: " + goPluginCookieBanner}, "sdk.ServeModel"},
		{"panic", base(func(e *StartError) {
			e.Status, e.Exit, e.StderrTail = StatusCrashed, ExitFacts{Exited: true, Code: 2}, "panic: weights missing\n\ngoroutine 1 [running]:\nmain.main()\n\t/x/main.go:9\nexit status 2\n"
		}), DiagCrashedAtStart,
			[]string{"crashed at start, before the handshake (CRASHED, exit status 2)"}, []string{"stderr: panic: weights missing | "}, "go run ."},
		{"signal", base(func(e *StartError) {
			e.Status, e.Exit = StatusCrashed, ExitFacts{Exited: true, Code: -1, Signal: "segmentation fault"}
		}), DiagCrashedAtStart, []string{"(CRASHED, signal: segmentation fault)"}, []string{"stderr: (empty)"}, "reproduce"},
		{"memory limit", base(func(e *StartError) {
			e.Status, e.Exit = StatusCrashed, ExitFacts{Exited: true, Code: -1, Signal: "killed", Limit: "memory limit 2 GiB exceeded"}
		}), DiagLimitExceeded, []string{"signal: killed", "memory limit 2 GiB exceeded"}, nil, "sandbox limits"},
		{"timeout", base(func(e *StartError) {
			e.Status, e.Err = StatusTimeout, errors.New("timeout while waiting for plugin to start")
		}), DiagHandshakeTimeout, []string{"no handshake in time (TIMEOUT)"}, nil, "lazily"},
		{"stdout noise", base(func(e *StartError) { e.FirstStdoutLine = "hello" }), DiagHandshakeFailed,
			[]string{"handshake failed (BAD_IMPLEMENTATION): plugin exited"}, []string{`first stdout line "hello"`}, "print nothing to stdout"},
		{"wrong kind", base(func(e *StartError) { e.Kind, e.Stage = sdk.PluginChallenge, StageDescribe }), DiagDescribeFailed,
			[]string{"challenge plugin handshake ok but Describe failed"}, nil, "CHALLENGE_PLUGIN"},
		{"contract", base(func(e *StartError) {
			e.Stage, e.Problems = StageVerify, VerifyModel(sdkModelDescription("2"))
		}), DiagContract, []string{"fails this host's contract"}, []string{`contract_version: model plugin speaks contract version "2"`}, "rebuild the plugin against the coordinator SDK"},
		{"cancelled", base(func(e *StartError) { e.Status = StatusFailed }), DiagCancelled, []string{"start cancelled by the host"}, nil, "nothing to fix"},
	} {
		d := c.err.Diagnostic()
		if d.Code != c.code || !strings.Contains(d.Fix, c.fix) {
			t.Errorf("%s: code %q fix %q, want %q and %q", c.name, d.Code, d.Fix, c.code, c.fix)
		}
		for _, w := range c.summary {
			if !strings.Contains(d.Summary, w) {
				t.Errorf("%s: summary %q lacks %q", c.name, d.Summary, w)
			}
		}
		for _, w := range c.detail {
			if !strings.Contains(d.Detail, w) {
				t.Errorf("%s: detail %q lacks %q", c.name, d.Detail, w)
			}
		}
	}
}

func TestProblemDiagnostic(t *testing.T) {
	ps := VerifyModel(sdkModelDescription("2"))
	d := ps[0].Diagnostic()
	if d.Code != "contract."+ProblemContractVersion || d.Severity != SeverityError || !strings.Contains(d.Detail, `contract_version "2"`) || d.Fix == "" {
		t.Errorf("contract version diagnostic %+v", d)
	}
	warn := Problem{Code: ProblemUnknownCallable, Message: "unknown", Fix: "check the spelling"}.Diagnostic()
	if warn.Severity != SeverityWarning {
		t.Errorf("non-fatal problem: %+v", warn)
	}
}

func TestStderrExcerptCutsAtRuneStart(t *testing.T) {
	s := stderrExcerpt(strings.Repeat("é", 300), "")
	if !strings.HasSuffix(s, "…") || !utf8.ValidString(s) || len(s) > maxExcerpt+len("…") {
		t.Errorf("excerpt %q", s)
	}
}

// sdkModelDescription is a model's Describe answer with Tick and Predict
// at contract version v.
func sdkModelDescription(v string) wire.ModelDescription {
	return wire.ModelDescription{ContractVersion: v, ModelName: "m", Methods: []string{sdk.MethodTick, sdk.MethodPredict}}
}
