package host

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/crunch-coordinator/coordinator/sdk"
	"github.com/crunch-coordinator/coordinator/sdk/wire"
)

// Problem codes reported by VerifyChallenge and VerifyModel.
const (
	ProblemContractVersion  = "contract_version"
	ProblemMissingCallable  = "missing_callable"
	ProblemMissingMethod    = "missing_method"
	ProblemUnknownCallable  = "unknown_callable"
	ProblemMissingName      = "missing_name"
	ProblemDuplicateListing = "duplicate_listing"
)

// Problem is one defect found in a plugin's Describe answer. Code is one of
// the Problem* constants; Callable names the callable or method concerned
// (empty for plugin-wide problems); Message says what was expected and what
// was found; Detail gives the facts it was decided on (the versions, the
// listing); Fix says how the plugin author fixes it. Fatal problems make the
// host refuse the plugin (BAD_IMPLEMENTATION); the others are warnings.
// Diagnostic renders it.
type Problem struct {
	Code     string
	Callable string
	Message  string
	Detail   string
	Fix      string
	Fatal    bool
}

// String renders "<code> <callable>: <message> (fix: <fix>)".
func (p Problem) String() string {
	s := p.Code
	if p.Callable != "" {
		s += " " + p.Callable
	}
	return s + ": " + p.Message + " (fix: " + p.Fix + ")"
}

// VerifyChallenge checks a challenge plugin's Describe answer against this
// host: the contract version equals sdk.ContractVersion, every callable in
// sdk.RequiredCallables is listed (one Problem per missing callable), and
// listed names are known callables. Callables in sdk.AllCallables that are
// not listed are fine: the host runs sdk.Defaults for them. The host and
// `doctor` both use this function; it returns nil when the plugin is usable.
func VerifyChallenge(d wire.ChallengeDescription) []Problem {
	var ps []Problem
	if d.ContractVersion != sdk.ContractVersion {
		ps = append(ps, contractProblem("challenge", d.ContractVersion))
	}
	if strings.TrimSpace(d.PluginName) == "" {
		ps = append(ps, Problem{Code: ProblemMissingName, Message: "Describe returned an empty plugin name",
			Fix: "pass sdk.ChallengeInfo{Name: ...} to sdk.ServeChallenge"})
	}
	for _, c := range sdk.RequiredCallables {
		if !slices.Contains(d.Callables, c) {
			ps = append(ps, Problem{Code: ProblemMissingCallable, Callable: c, Fatal: true,
				Message: fmt.Sprintf("required callable %s is not implemented (Describe lists %v)", c, d.Callables),
				Detail:  "Describe lists: " + strings.Join(d.Callables, ", "),
				Fix:     fmt.Sprintf("implement %s on your Challenge type (it has no runtime default) and rebuild the plugin", c)})
		}
	}
	ps = append(ps, listingProblems(d.Callables, sdk.AllCallables, "callable")...)
	return ps
}

// VerifyModel checks a model plugin's Describe answer: the contract version
// equals sdk.ContractVersion and every method in sdk.RequiredModelMethods is
// listed (one Problem per missing method). It returns nil when the model is
// usable. Shared by the host and `doctor`.
func VerifyModel(d wire.ModelDescription) []Problem {
	var ps []Problem
	if d.ContractVersion != sdk.ContractVersion {
		ps = append(ps, contractProblem("model", d.ContractVersion))
	}
	if strings.TrimSpace(d.ModelName) == "" {
		ps = append(ps, Problem{Code: ProblemMissingName, Message: "Describe returned an empty model name",
			Fix: "pass sdk.ModelInfo{Name: ...} to sdk.ServeModel"})
	}
	for _, m := range sdk.RequiredModelMethods {
		if !slices.Contains(d.Methods, m) {
			ps = append(ps, Problem{Code: ProblemMissingMethod, Callable: m, Fatal: true,
				Message: fmt.Sprintf("required model method %s is not implemented (Describe lists %v)", m, d.Methods),
				Detail:  "Describe lists: " + strings.Join(d.Methods, ", "),
				Fix:     fmt.Sprintf("implement %s(ctx, ...) on your model (see sdk.Model) and rebuild the plugin", m)})
		}
	}
	ps = append(ps, listingProblems(d.Methods, sdk.RequiredModelMethods, "method")...)
	return ps
}

// FatalProblems returns the problems that make the host refuse a plugin.
func FatalProblems(ps []Problem) []Problem {
	var out []Problem
	for _, p := range ps {
		if p.Fatal {
			out = append(out, p)
		}
	}
	return out
}

func contractProblem(kind, found string) Problem {
	return Problem{Code: ProblemContractVersion, Fatal: true,
		Message: fmt.Sprintf("%s plugin speaks contract version %q, this host speaks %q", kind, found, sdk.ContractVersion),
		Detail:  fmt.Sprintf("Describe.contract_version %q; host contract version %q", found, sdk.ContractVersion),
		Fix:     "rebuild the plugin against the coordinator SDK of this host's version"}
}

func listingProblems(listed, known []string, what string) []Problem {
	var ps []Problem
	seen := map[string]bool{}
	for _, c := range listed {
		if seen[c] {
			ps = append(ps, Problem{Code: ProblemDuplicateListing, Callable: c,
				Message: fmt.Sprintf("%s %s is listed twice in Describe", what, c),
				Fix:     "list each " + what + " once"})
			continue
		}
		seen[c] = true
		if !slices.Contains(known, c) {
			ps = append(ps, Problem{Code: ProblemUnknownCallable, Callable: c,
				Message: fmt.Sprintf("Describe lists unknown %s %q (known: %s)", what, c, strings.Join(known, ", ")),
				Fix:     "check the spelling; the host ignores unknown names"})
		}
	}
	return ps
}

// problemsError joins fatal problems into one error.
func problemsError(ps []Problem) error {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return fmt.Errorf("%w: %s", ErrContract, strings.Join(parts, "; "))
}

// ErrContract: the plugin's Describe answer fails VerifyChallenge/VerifyModel.
var ErrContract = errors.New("plugin contract check failed")
