package host

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	marker := testMarker(t)
	cases := []struct {
		name      string
		kind      string
		spec      PluginSpec
		want      Status
		stage     string
		stderr    string
		problem   string
		missingOK bool
		diag      string // the Diagnostic's code
		exit      string // ExitFacts of the failed start
		cookie    bool   // StartError.CookieRejected
	}{
		{"good model", sdk.PluginModel, mspec(marker, "m", modelBin), StatusSuccess, "", "", "", false, "", "", false},
		{"good challenge", sdk.PluginChallenge, mspec(marker, "c", challengeBin), StatusSuccess, "", "", "", true, "", "", false},
		{"panic at start", sdk.PluginModel, mspec(marker, "p", modelBin, "-mode", "panicstart"), StatusCrashed, StageHandshake, "panic: model panics at start", "", false,
			DiagCrashedAtStart, "exit status 2", false},
		{"exit at start", sdk.PluginModel, mspec(marker, "e", modelBin, "-mode", "exitstart"), StatusBadImplementation, StageHandshake, "model config missing", "", false,
			DiagHandshakeFailed, "exit status 1", false},
		{"wrong cookie", sdk.PluginModel, mspec(marker, "w", rawModelBin, "-mode", "wrongcookie"), StatusBadImplementation, StageHandshake, "This binary is a plugin", "", false,
			DiagCookieRejected, "exit status 1", true},
		{"missing method", sdk.PluginModel, mspec(marker, "mm", rawModelBin, "-mode", "missingmethod"), StatusBadImplementation, StageVerify, "", ProblemMissingMethod, false,
			DiagContract, "", false},
		{"model in the challenge slot", sdk.PluginChallenge, mspec(marker, "x", modelBin), StatusBadImplementation, StageDescribe, "", "", false,
			DiagDescribeFailed, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Probe(ctxT(t, 20*time.Second), tc.spec, tc.kind, testOptions(t))
			if rep.Status != tc.want || rep.Stage != tc.stage || (err == nil) != (tc.want == StatusSuccess) {
				t.Fatalf("got %s at %q (%v), want %s at %q", rep.Status, rep.Stage, err, tc.want, tc.stage)
			}
			if tc.want == StatusSuccess && (!rep.Healthy || rep.NegotiatedVersion != sdk.ProtocolVersion) {
				t.Errorf("report %+v", rep)
			}
			if !strings.Contains(rep.StderrTail, tc.stderr) {
				t.Errorf("stderr tail %q does not contain %q", rep.StderrTail, tc.stderr)
			}
			if tc.problem != "" && !slices.ContainsFunc(rep.Problems, func(p Problem) bool {
				return p.Code == tc.problem && p.Callable == sdk.MethodPredict && p.Fix != ""
			}) {
				t.Errorf("problems %v lack %s for Predict", rep.Problems, tc.problem)
			}
			if tc.missingOK && !slices.Contains(rep.Missing, sdk.CallableBuildPredictionScope) {
				t.Errorf("missing callables %v", rep.Missing)
			}
			d := rep.Diagnostic()
			if d.Code != tc.diag || (tc.diag != "" && (d.Summary == "" || d.Fix == "" || d.Severity != SeverityError)) {
				t.Errorf("diagnostic %+v, want code %q with a summary and a fix", d, tc.diag)
			}
			var se *StartError
			if errors.As(err, &se) && (se.Exit.String() != tc.exit || se.CookieRejected != tc.cookie) {
				t.Errorf("facts: exit %q cookie %v, want %q %v", se.Exit, se.CookieRejected, tc.exit, tc.cookie)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	good := wire.ChallengeDescription{ContractVersion: sdk.ContractVersion, PluginName: "c", Callables: slices.Clone(sdk.RequiredCallables)}
	if ps := VerifyChallenge(good); len(ps) != 0 {
		t.Errorf("good challenge: %v", ps)
	}
	bad := wire.ChallengeDescription{ContractVersion: "2", PluginName: "c", Callables: []string{"Frobnicate"}}
	ps := VerifyChallenge(bad)
	var codes []string
	for _, p := range ps {
		codes = append(codes, p.Code+":"+p.Callable)
	}
	for _, want := range []string{"contract_version:", "missing_callable:" + sdk.CallableBuildInferenceInput, "missing_callable:" + sdk.CallableScorePredictions, "unknown_callable:Frobnicate"} {
		if !slices.Contains(codes, want) {
			t.Errorf("VerifyChallenge(bad) = %v, lacks %s", codes, want)
		}
	}
	if n := len(FatalProblems(ps)); n != 3 {
		t.Errorf("fatal problems %d, want 3", n)
	}
	mps := VerifyModel(wire.ModelDescription{ContractVersion: sdk.ContractVersion, ModelName: "m"})
	if len(mps) != 2 || mps[0].Callable != sdk.MethodTick || mps[1].Callable != sdk.MethodPredict || !mps[1].Fatal {
		t.Errorf("VerifyModel(no methods) = %v", mps)
	}
	if !errors.Is(problemsError(mps), ErrContract) {
		t.Error("problemsError does not wrap ErrContract")
	}
}
