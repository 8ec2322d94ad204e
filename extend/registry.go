package extend

import (
	"fmt"
	"sort"
	"sync"

	"github.com/crunch-coordinator/coordinator/extend/factoryname"
)

// Kind is the service a factory replaces (defined in package factoryname,
// which configuration parsing uses without depending on this package).
type Kind = factoryname.Kind

// Kinds of factories; Kind.Var names the variable that selects each.
const (
	KindPredict = factoryname.Predict
	KindScore   = factoryname.Score
	KindReport  = factoryname.Report
)

// Registration is one registered factory, as RegisterPredictService,
// RegisterScoreService or RegisterReportApp recorded it. Err is set when
// the registration was refused (bad name, duplicate, nil factory, other
// API version); a refused factory cannot be selected.
type Registration struct {
	Kind       Kind   `json:"kind"`
	Name       string `json:"name"`
	APIVersion int    `json:"api_version"`
	Err        error  `json:"-"`
	// Error is Err's message, for JSON listings.
	Error string `json:"error,omitempty"`
}

var (
	mu      sync.Mutex
	entries = map[Kind]map[string]*entry{}
)

type entry struct {
	reg     Registration
	factory any
}

// CheckName validates a factory name (see factoryname.Check, the one
// rule for names).
func CheckName(name string) error { return factoryname.Check(name) }

// RegisterPredictService registers a predict service factory under name.
// apiVersion is the APIVersion the factory was written for (write the
// number, e.g. 1, not the constant: the constant always matches). Call it
// from an init function of the workspace's extensions/ package. A refused
// registration (see Registration) does not panic: selecting the factory
// fails with the reason.
func RegisterPredictService(name string, apiVersion int, f PredictFactory) {
	register(KindPredict, name, apiVersion, f, f == nil)
}

// RegisterScoreService registers a score service factory under name (see
// RegisterPredictService).
func RegisterScoreService(name string, apiVersion int, f ScoreFactory) {
	register(KindScore, name, apiVersion, f, f == nil)
}

// RegisterReportApp registers a report app factory under name (see
// RegisterPredictService).
func RegisterReportApp(name string, apiVersion int, f ReportFactory) {
	register(KindReport, name, apiVersion, f, f == nil)
}

func register(k Kind, name string, apiVersion int, f any, isNil bool) {
	mu.Lock()
	defer mu.Unlock()
	reg := Registration{Kind: k, Name: name, APIVersion: apiVersion}
	switch {
	case CheckName(name) != nil:
		reg.Err = fmt.Errorf("register %s factory: %w", k, CheckName(name))
	case isNil:
		reg.Err = fmt.Errorf("register %s factory %q: the factory function is nil", k, name)
	case apiVersion != APIVersion:
		reg.Err = fmt.Errorf("%s factory %q was written for extend API v%d, but this coordinator provides v%d: update the factory to v%d (see the extend package docs) or use a coordinator that provides v%d", k, name, apiVersion, APIVersion, APIVersion, apiVersion)
	}
	if entries[k] == nil {
		entries[k] = map[string]*entry{}
	}
	if prev, ok := entries[k][name]; ok && reg.Err == nil {
		if prev.reg.Err == nil {
			prev.reg.Err = fmt.Errorf("%s factory %q is registered twice: rename one of them", k, name)
			prev.reg.Error = prev.reg.Err.Error()
		}
		return
	}
	if reg.Err != nil {
		reg.Error = reg.Err.Error()
	}
	entries[k][name] = &entry{reg: reg, factory: f}
}

// Registered lists every registration, sorted by kind and name.
func Registered() []Registration {
	mu.Lock()
	defer mu.Unlock()
	var out []Registration
	for _, m := range entries {
		for _, e := range m {
			out = append(out, e.reg)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// lookup returns the factory of kind k named name, or an error naming the
// variable, the factory and the fix.
func lookup(k Kind, name string) (any, error) {
	mu.Lock()
	defer mu.Unlock()
	e, ok := entries[k][name]
	if !ok {
		var names []string
		for n, e := range entries[k] {
			if e.reg.Err == nil {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		have := "none"
		if len(names) > 0 {
			have = fmt.Sprint(names)
		}
		return nil, fmt.Errorf("%s=%s: no %s factory of that name is registered (registered: %s): register it in the node's extensions/ package with %s(%q, %d, ...), or unset %s for the built-in service",
			k.Var(), name, k, have, k.RegisterFunc(), name, APIVersion, k.Var())
	}
	if e.reg.Err != nil {
		return nil, fmt.Errorf("%s=%s: %w", k.Var(), name, e.reg.Err)
	}
	return e.factory, nil
}

// LookupPredictService returns the predict service factory registered
// under name; the error names PREDICT_SERVICE_FACTORY, the registered
// names and the fix.
func LookupPredictService(name string) (PredictFactory, error) {
	f, err := lookup(KindPredict, name)
	if err != nil {
		return nil, err
	}
	return f.(PredictFactory), nil
}

// LookupScoreService returns the score service factory registered under
// name (see LookupPredictService).
func LookupScoreService(name string) (ScoreFactory, error) {
	f, err := lookup(KindScore, name)
	if err != nil {
		return nil, err
	}
	return f.(ScoreFactory), nil
}

// LookupReportApp returns the report app factory registered under name
// (see LookupPredictService).
func LookupReportApp(name string) (ReportFactory, error) {
	f, err := lookup(KindReport, name)
	if err != nil {
		return nil, err
	}
	return f.(ReportFactory), nil
}
