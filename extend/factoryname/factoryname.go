// Package factoryname holds the names that select a service factory: the
// kinds of replaceable services, the variables that select each and the
// rule for a factory's name. It has no dependencies, so configuration
// parsing (internal/config) can check a selection without importing the
// service API of package extend, which depends on the plugin host.
package factoryname

import (
	"fmt"
	"regexp"
)

// Kind is the service a factory replaces.
type Kind string

// Kinds of factories, with the variable that selects each.
const (
	Predict Kind = "predict"
	Score   Kind = "score"
	Report  Kind = "report"
)

// Variables that select a factory by name (config/callables.env,
// .local.env or the environment; the environment wins, then .local.env,
// then callables.env).
const (
	PredictServiceVar = "PREDICT_SERVICE_FACTORY"
	ScoreServiceVar   = "SCORE_SERVICE_FACTORY"
	ReportAppVar      = "REPORT_APP_FACTORY"
)

// Var returns the variable that selects a factory of kind k ("" for an
// unknown kind).
func (k Kind) Var() string {
	switch k {
	case Predict:
		return PredictServiceVar
	case Score:
		return ScoreServiceVar
	case Report:
		return ReportAppVar
	}
	return ""
}

// RegisterFunc names the function of package extend that registers a
// factory of kind k ("extend.RegisterReportApp"), for error messages.
func (k Kind) RegisterFunc() string {
	switch k {
	case Predict:
		return "extend.RegisterPredictService"
	case Score:
		return "extend.RegisterScoreService"
	}
	return "extend.RegisterReportApp"
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Check validates a factory name: 1 to 64 characters of lower-case
// letters, digits, '.', '_' and '-', starting with a letter or digit. It
// is the one rule for names, used at registration and when a variable
// selects a factory.
func Check(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("expected a factory name of lower-case letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit), found %q", name)
	}
	return nil
}
