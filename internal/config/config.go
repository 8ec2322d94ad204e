// Package config reads a node's settings: the environment (and, in a
// workspace, .local.env), config/callables.env and config/models.json.
// Every value is typed and validated; errors name the file, line or
// variable and say what was expected and what was found.
//
// Precedence: process environment > .local.env > built-in defaults (the
// same rule docker compose applies to --env-file).
package config

import (
	"errors"
	"fmt"
	"github.com/crunch-coordinator/coordinator/internal/store/dburl"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"github.com/crunch-coordinator/coordinator/extend/factoryname"
	"github.com/crunch-coordinator/coordinator/internal/fileerr"
	"github.com/crunch-coordinator/coordinator/internal/sandbox"
	"github.com/crunch-coordinator/coordinator/internal/suggest"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// File names inside a node workspace (crunch-node-<name>/).
const (
	LocalEnvFile       = ".local.env"
	LocalEnvExample    = ".local.env.example"
	CallablesFile      = "config/callables.env"
	ModelsFile         = "config/models.json"
	SchedulesFile      = "config/scheduled_prediction_configs.json"
	ChallengePluginVar = "CHALLENGE_PLUGIN"
	// ModelBaseClassVar (callables.env) is the challenge's Python base class,
	// "module.ClassName" (the reference's MODEL_BASE_CLASSNAME), e.g.
	// tracker.TrackerBase; required when a model has "runtime": "python".
	ModelBaseClassVar = "MODEL_BASE_CLASSNAME"
	// ModelBasePathVar (callables.env) is the directory holding the base
	// class module (e.g. ../crunch-<name>/python); relative to the node.
	ModelBasePathVar = "MODEL_BASE_PATH"
	// PythonVar (.local.env) selects the interpreter of Python models; empty
	// means /usr/bin/python3, then python3 (internal/modelrunner.FindPython).
	PythonVar = "PYTHON"
	// OrchestratorHostVar (.local.env) is the model orchestrator's host:
	// with it the node's models may come from the orchestrator alone
	// (internal/orchestrator reads it with MODEL_RUNNER_NODE_PORT).
	OrchestratorHostVar = "MODEL_RUNNER_NODE_HOST"
)

// Model runtimes of config/models.json.
const (
	RuntimeGo     = "go"     // a Go model plugin built from its main package (default)
	RuntimePython = "python" // a Python model directory served by the model runner
	RuntimeRemote = "remote" // a model runner reached at an address (models.json "address")
)

// Routing values of a hook in callables.env.
const (
	RouteChallenge = "challenge" // served by the challenge plugin
	RouteDefault   = "default"   // the coordinator's built-in default
)

// Hook is one callable hook: its env var name and the SDK callable.
type Hook struct {
	EnvVar   string
	Callable string
}

// Hooks lists the ten hooks in canonical order (reference-system.md 2.1).
var Hooks = []Hook{
	{"INFERENCE_INPUT_BUILDER", sdk.CallableBuildInferenceInput},
	{"INFERENCE_OUTPUT_VALIDATOR", sdk.CallableValidateInferenceOutput},
	{"SCORING_FUNCTION", sdk.CallableScorePredictions},
	{"MODEL_SCORE_AGGREGATOR", sdk.CallableAggregateModelScores},
	{"REPORT_SCHEMA_PROVIDER", sdk.CallableReportSchema},
	{"LEADERBOARD_RANKER", sdk.CallableRankLeaderboard},
	{"RAW_INPUT_PROVIDER", sdk.CallableProvideRawInput},
	{"GROUND_TRUTH_RESOLVER", sdk.CallableResolveGroundTruth},
	{"PREDICTION_SCOPE_BUILDER", sdk.CallableBuildPredictionScope},
	{"PREDICT_CALL_BUILDER", sdk.CallableBuildPredictCall},
}

// Settings are a node's runtime settings. Durations are whole seconds in
// the environment.
type Settings struct {
	// DatabaseURL: postgres://… or sqlite://… or a file path. Empty in a
	// workspace means the SQLite file layout.Layout.Database of the node.
	DatabaseURL string
	// APIAddr is the report API listen address (host:port).
	APIAddr  string
	CrunchID string
	// CheckpointInterval: emission checkpoints cadence (CHECKPOINT_INTERVAL_SECONDS).
	CheckpointInterval time.Duration
	// ScoreInterval: score loop cadence (SCORE_INTERVAL_SECONDS).
	ScoreInterval time.Duration
	// LeaderboardInterval: leaderboard rebuild cadence (LEADERBOARD_INTERVAL_SECONDS).
	LeaderboardInterval time.Duration
	// ModelCallTimeout: deadline of one Tick/Predict call (MODEL_CALL_TIMEOUT_SECONDS).
	ModelCallTimeout time.Duration
	// ChallengeCallTimeout: deadline of one challenge callable (CHALLENGE_CALL_TIMEOUT_SECONDS).
	ChallengeCallTimeout time.Duration
	// MaxConsecutiveFailures / MaxConsecutiveTimeouts: model stop rules.
	MaxConsecutiveFailures int
	MaxConsecutiveTimeouts int
	// ModelCooldownMin / ModelCooldownMax: a model taken out by
	// MULTIPLE_FAILED or MULTIPLE_TIMEOUT is re-admitted after a cool-down
	// of min*2^(n-1) capped at max for its n-th in a row
	// (MODEL_COOLDOWN_MIN_SECONDS, MODEL_COOLDOWN_MAX_SECONDS).
	ModelCooldownMin time.Duration
	ModelCooldownMax time.Duration
	// MaxModelOutputBytes bounds one model answer (MAX_MODEL_OUTPUT_BYTES,
	// default 64 KiB): a bigger one is a FAILED row (host.Options.MaxOutputBytes).
	MaxModelOutputBytes int
	// GroundTruthMaxWait: after this, an unresolvable prediction becomes UNRESOLVED.
	GroundTruthMaxWait time.Duration
	// Aggregation is the default aggregation's non-answer rule
	// (SCORE_NON_ANSWER: a number or window_worst; default window_worst),
	// ranking key (RANKING_KEY, default anchor) and tie-breakers
	// (RANKING_TIE_BREAKERS, comma-separated, default none). The key and
	// tie-breakers must be metrics of the default aggregation
	// (sdk.DefaultMetricNames); a challenge that aggregates itself declares
	// them in its score envelopes instead.
	Aggregation sdk.Aggregation
	// FlatMoves is the flat-move rule of the pack's ground truth
	// (FLAT_MOVES: down, half or exclude, sdk.FlatMoves); empty means the
	// challenge's own default. The node passes it to the challenge
	// plugin's environment.
	FlatMoves sdk.FlatMoves
	// LogFormat is "text" or "json"; LogLevel an hclog level name.
	LogFormat string
	LogLevel  string
	// Factories names the service factories selected in .local.env or
	// the environment (they win over config/callables.env's).
	Factories Factories
	// ChallengeSHA256 pins the challenge plugin binary (CHALLENGE_SHA256,
	// lowercase hex; empty: the checksum recorded at build time is used).
	ChallengeSHA256 string
	// Python is the configured interpreter of Python models (PYTHON);
	// empty means the default search of modelrunner.FindPython.
	Python string
	// Sandbox is the plugin sandbox (REQUIRE_SANDBOX, SANDBOX_UID,
	// SANDBOX_GID, PLUGIN_MEMORY_LIMIT_MB, PLUGIN_MAX_PROCESSES,
	// PLUGIN_MAX_OPEN_FILES, PLUGIN_MAX_FILE_SIZE_MB, PLUGIN_CPU_MILLICORES,
	// CHALLENGE_CPU_MILLICORES, CHALLENGE_ALLOW_NETWORK; see sandbox.go).
	Sandbox sandbox.Config
	// Env is the merged environment (for packages that parse their own
	// variables, e.g. feeds).
	Env map[string]string
}

// Factories names the registered service factories that replace a
// built-in service (PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY,
// REPORT_APP_FACTORY; see package extend). Empty means the built-in
// service.
type Factories struct {
	Predict, Score, Report string
}

// Any reports whether a factory is named.
func (f Factories) Any() bool { return f.Predict != "" || f.Score != "" || f.Report != "" }

// Over returns f with the names set in over replacing f's.
func (f Factories) Over(over Factories) Factories {
	for _, p := range []struct {
		dst *string
		v   string
	}{{&f.Predict, over.Predict}, {&f.Score, over.Score}, {&f.Report, over.Report}} {
		if p.v != "" {
			*p.dst = p.v
		}
	}
	return f
}

// Selected lists the named factories as (kind, name) pairs, in the order
// predict, score, report.
func (f Factories) Selected() []FactoryChoice {
	var out []FactoryChoice
	for _, c := range []FactoryChoice{{factoryname.Predict, f.Predict}, {factoryname.Score, f.Score}, {factoryname.Report, f.Report}} {
		if c.Name != "" {
			out = append(out, c)
		}
	}
	return out
}

// FactoryChoice is one selected factory: the service it replaces and its
// registered name.
type FactoryChoice struct {
	Kind factoryname.Kind
	Name string
}

// parseFactories reads the three factory variables of env (source names
// the file or "environment"); a value must be a valid factory name
// (factoryname.Check).
func parseFactories(env map[string]string, source string) (Factories, []error) {
	var f Factories
	var errs []error
	for _, p := range []struct {
		key string
		dst *string
	}{{factoryname.PredictServiceVar, &f.Predict}, {factoryname.ScoreServiceVar, &f.Score}, {factoryname.ReportAppVar, &f.Report}} {
		v := strings.TrimSpace(env[p.key])
		if v == "" {
			continue
		}
		if err := factoryname.Check(v); err != nil {
			errs = append(errs, &VarError{Source: source, Var: p.key, Msg: err.Error() + " (the name a factory in the node's extensions/ package registers; unset it for the built-in service)"})
			continue
		}
		*p.dst = v
	}
	return f, errs
}

type intVar struct {
	name string
	def  int
	min  int
	dst  func(*Settings, int)
}

var intVars = []intVar{
	{"CHECKPOINT_INTERVAL_SECONDS", 60, 1, func(s *Settings, v int) { s.CheckpointInterval = time.Duration(v) * time.Second }},
	{"SCORE_INTERVAL_SECONDS", 60, 1, func(s *Settings, v int) { s.ScoreInterval = time.Duration(v) * time.Second }},
	{"LEADERBOARD_INTERVAL_SECONDS", 60, 1, func(s *Settings, v int) { s.LeaderboardInterval = time.Duration(v) * time.Second }},
	{"MODEL_CALL_TIMEOUT_SECONDS", 5, 1, func(s *Settings, v int) { s.ModelCallTimeout = time.Duration(v) * time.Second }},
	{"CHALLENGE_CALL_TIMEOUT_SECONDS", 10, 1, func(s *Settings, v int) { s.ChallengeCallTimeout = time.Duration(v) * time.Second }},
	{"MODEL_MAX_CONSECUTIVE_FAILURES", 3, 1, func(s *Settings, v int) { s.MaxConsecutiveFailures = v }},
	{"MODEL_MAX_CONSECUTIVE_TIMEOUTS", 3, 1, func(s *Settings, v int) { s.MaxConsecutiveTimeouts = v }},
	{"MODEL_COOLDOWN_MIN_SECONDS", 60, 1, func(s *Settings, v int) { s.ModelCooldownMin = time.Duration(v) * time.Second }},
	{"MODEL_COOLDOWN_MAX_SECONDS", 1800, 1, func(s *Settings, v int) { s.ModelCooldownMax = time.Duration(v) * time.Second }},
	{"GROUND_TRUTH_MAX_WAIT_SECONDS", 3600, 1, func(s *Settings, v int) { s.GroundTruthMaxWait = time.Duration(v) * time.Second }},
	{"MAX_MODEL_OUTPUT_BYTES", 64 << 10, 1, func(s *Settings, v int) { s.MaxModelOutputBytes = v }},
}

// IntVarNames lists the integer variables ParseSettings validates.
func IntVarNames() []string {
	out := make([]string, len(intVars))
	for i, v := range intVars {
		out[i] = v.name
	}
	return out
}

// VarError is a problem with one variable.
type VarError struct {
	Source string // file path or "environment"
	Var    string
	Msg    string
	// Fix says how to correct it ("" = set the variable to a valid value).
	Fix string
}

func (e *VarError) Error() string { return fmt.Sprintf("%s: %s: %s", e.Source, e.Var, e.Msg) }

// ParseSettings validates env (merged variables) into Settings. source names
// where the variables came from, for messages. All problems are returned
// joined (errors.Join of *VarError).
func ParseSettings(env map[string]string, source string) (Settings, error) {
	s := Settings{
		DatabaseURL: strings.TrimSpace(env["DATABASE_URL"]),
		APIAddr:     valueOr(env, "API_ADDR", "127.0.0.1:8000"),
		CrunchID:    valueOr(env, "CRUNCH_ID", "local-crunch"),
		LogFormat:   valueOr(env, "LOG_FORMAT", "text"),
		LogLevel:    valueOr(env, "LOG_LEVEL", "info"),
		Python:      strings.TrimSpace(env[PythonVar]),
		Env:         env,
	}
	var errs []error
	for _, v := range intVars {
		raw, ok := env[v.name]
		n := v.def
		if ok && strings.TrimSpace(raw) != "" {
			parsed, err := strconv.Atoi(strings.TrimSpace(raw))
			if err != nil {
				errs = append(errs, &VarError{Source: source, Var: v.name, Msg: fmt.Sprintf("expected a whole number of seconds or a count, found %q", raw)})
				continue
			}
			if parsed < v.min {
				errs = append(errs, &VarError{Source: source, Var: v.name, Msg: fmt.Sprintf("expected an integer >= %d, found %d", v.min, parsed)})
				continue
			}
			n = parsed
		}
		v.dst(&s, n)
	}
	if rule, err := sdk.ParseNonAnswerRule(env["SCORE_NON_ANSWER"]); err != nil {
		errs = append(errs, &VarError{Source: source, Var: "SCORE_NON_ANSWER", Msg: err.Error()})
	} else {
		s.Aggregation.NonAnswer = rule
	}
	if raw := strings.TrimSpace(env[sdk.EnvFlatMoves]); raw != "" {
		if f, err := sdk.ParseFlatMoves(raw); err != nil {
			_, msg, _ := strings.Cut(err.Error(), ": ")
			errs = append(errs, &VarError{Source: source, Var: sdk.EnvFlatMoves, Msg: msg})
		} else {
			s.FlatMoves = f
		}
	}
	s.Aggregation.RankingKey = strings.TrimSpace(env["RANKING_KEY"])
	s.Aggregation.TieBreakers = SplitList(env["RANKING_TIE_BREAKERS"])
	if err := s.Aggregation.Check(); err != nil {
		name, msg, _ := strings.Cut(err.Error(), ": ")
		errs = append(errs, &VarError{Source: source, Var: name, Msg: msg})
	}
	var ferrs []error
	s.Factories, ferrs = parseFactories(env, source)
	errs = append(errs, ferrs...)
	s.Sandbox, ferrs = parseSandbox(env, source)
	errs = append(errs, ferrs...)
	if s.LogFormat != "text" && s.LogFormat != "json" {
		errs = append(errs, &VarError{Source: source, Var: "LOG_FORMAT", Msg: fmt.Sprintf("expected text or json, found %q", s.LogFormat)})
	}
	if err := checkAddr(s.APIAddr); err != nil {
		errs = append(errs, &VarError{Source: source, Var: "API_ADDR", Msg: err.Error()})
	}
	if pin, err := NormalizeSHA256(env[ChallengeSHA256Var]); err != nil {
		errs = append(errs, &VarError{Source: source, Var: ChallengeSHA256Var, Msg: err.Error()})
	} else {
		s.ChallengeSHA256 = pin
	}
	if s.DatabaseURL != "" {
		if err := checkDatabaseURL(s.DatabaseURL); err != nil {
			errs = append(errs, &VarError{Source: source, Var: "DATABASE_URL", Msg: err.Error()})
		}
	}
	for _, k := range []string{"PYTH_HERMES_URL", "BINANCE_API_URL"} {
		if v := strings.TrimSpace(env[k]); v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, &VarError{Source: source, Var: k, Msg: fmt.Sprintf("expected an http(s) URL, found %q", v)})
			}
		}
	}
	return s, errors.Join(errs...)
}

func valueOr(env map[string]string, k, def string) string {
	if v := strings.TrimSpace(env[k]); v != "" {
		return v
	}
	return def
}

func checkAddr(addr string) error {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return fmt.Errorf("expected host:port, found %q", addr)
	}
	_ = host
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("expected a port 0-65535, found %q", port)
	}
	return nil
}

func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", fmt.Errorf("missing port")
	}
	return addr[:i], addr[i+1:], nil
}

// checkDatabaseURL classifies raw the way the store opens it
// (dburl.Parse, the one rule) and checks a postgres:// URL parses.
func checkDatabaseURL(raw string) error {
	t, err := dburl.Parse(raw)
	if err != nil {
		return err
	}
	if t.Backend == dburl.BackendPostgres && strings.Contains(raw, "://") {
		if _, err := url.Parse(raw); err != nil {
			return fmt.Errorf("expected a postgres:// URL: %v", redactErr(err))
		}
	}
	return nil
}

func redactErr(err error) string {
	// url.Parse errors quote the URL; do not echo a password.
	msg := err.Error()
	if i := strings.Index(msg, "\""); i >= 0 {
		return "malformed URL"
	}
	return msg
}

// ReadEnvFile parses a KEY=value file (dotenv syntax: comments, quotes,
// export prefixes). A line that does not parse is reported with the file
// path.
func ReadEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := godotenv.Parse(f)
	if err != nil {
		return nil, fileerr.In(path, err)
	}
	return m, nil
}

// MergeEnv returns file values overridden by the non-empty process
// variables (getenv) of the same names, plus the process variables listed in
// extra and in COORDINATOR_ALLOW_VARS (AllowVar, from the process or the
// file): the variables of other tools and of the node's extensions, which
// reach a service factory through extend.Env.Settings.
func MergeEnv(file map[string]string, getenv func(string) string, extra ...string) map[string]string {
	out := make(map[string]string, len(file))
	for k, v := range file {
		out[k] = v
	}
	keys := append(append([]string{}, extra...), knownVars()...)
	for k := range file {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if v := getenv(k); v != "" {
			out[k] = v
		}
	}
	for _, k := range SplitList(out[AllowVar]) {
		if v := getenv(k); v != "" {
			out[k] = v
		}
	}
	return out
}

// Callables is the parsed config/callables.env: the challenge plugin's Go
// main package directory (absolute) and the route of every hook.
type Callables struct {
	// ChallengePlugin is the absolute directory of the challenge plugin's
	// main package.
	ChallengePlugin string
	// Routes maps SDK callable name → RouteChallenge or RouteDefault.
	Routes map[string]string
	// Factories names the service factories selected in callables.env.
	Factories Factories
	// ModelBaseClass is the challenge's Python base class
	// (MODEL_BASE_CLASSNAME, "module.ClassName"); empty without Python models.
	ModelBaseClass string
	// ModelBasePath is the absolute directory of the base class module
	// (MODEL_BASE_PATH); empty means the model's own directory.
	ModelBasePath string
}

// FromPlugin lists the callables routed to the challenge plugin, in
// canonical order.
func (c Callables) FromPlugin() []string {
	var out []string
	for _, h := range Hooks {
		if c.Routes[h.Callable] == RouteChallenge {
			out = append(out, h.Callable)
		}
	}
	return out
}

// ParseCallables validates callables.env values (env, read from path;
// relative plugin paths resolve against nodeDir). Every hook must be
// present with value "challenge" or "default"; required callables
// (sdk.RequiredCallables) must be "challenge"; CHALLENGE_PLUGIN must be set.
func ParseCallables(env map[string]string, path, nodeDir string) (Callables, error) {
	var errs []error
	c := Callables{Routes: map[string]string{}}
	plug := strings.TrimSpace(env[ChallengePluginVar])
	if plug == "" {
		errs = append(errs, &VarError{Source: path, Var: ChallengePluginVar, Msg: "required: the directory of the challenge plugin's main package, e.g. ../crunch-<name>/cmd/challenge"})
	} else {
		if !filepath.IsAbs(plug) {
			plug = filepath.Join(nodeDir, plug)
		}
		c.ChallengePlugin = filepath.Clean(plug)
	}
	required := map[string]bool{}
	for _, r := range sdk.RequiredCallables {
		required[r] = true
	}
	known := map[string]bool{ChallengePluginVar: true, factoryname.PredictServiceVar: true, factoryname.ScoreServiceVar: true, factoryname.ReportAppVar: true,
		ModelBaseClassVar: true, ModelBasePathVar: true}
	var ferrs []error
	c.Factories, ferrs = parseFactories(env, path)
	errs = append(errs, ferrs...)
	if bc := strings.TrimSpace(env[ModelBaseClassVar]); bc != "" {
		if i := strings.LastIndex(bc, "."); i <= 0 || i == len(bc)-1 {
			errs = append(errs, &VarError{Source: path, Var: ModelBaseClassVar, Msg: fmt.Sprintf("expected module.ClassName (e.g. tracker.TrackerBase), found %q", bc)})
		}
		c.ModelBaseClass = bc
	}
	if bp := strings.TrimSpace(env[ModelBasePathVar]); bp != "" {
		if !filepath.IsAbs(bp) {
			bp = filepath.Join(nodeDir, bp)
		}
		c.ModelBasePath = filepath.Clean(bp)
	}
	for _, h := range Hooks {
		known[h.EnvVar] = true
		v, ok := env[h.EnvVar]
		v = strings.TrimSpace(v)
		switch {
		case !ok || v == "":
			errs = append(errs, &VarError{Source: path, Var: h.EnvVar, Msg: fmt.Sprintf("missing: set it to %q (the challenge plugin implements %s) or %q (built-in default)", RouteChallenge, h.Callable, RouteDefault)})
		case v != RouteChallenge && v != RouteDefault:
			errs = append(errs, &VarError{Source: path, Var: h.EnvVar, Msg: fmt.Sprintf("expected %q or %q, found %q", RouteChallenge, RouteDefault, v)})
		case v == RouteDefault && required[h.Callable]:
			errs = append(errs, &VarError{Source: path, Var: h.EnvVar, Msg: fmt.Sprintf("%s is required: it must be %q and implemented by the challenge plugin", h.Callable, RouteChallenge)})
		default:
			c.Routes[h.Callable] = v
		}
	}
	var unknown, names []string
	for k := range env {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		msg := "unknown variable"
		if s := suggest.Nearest(k, names); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		errs = append(errs, &VarError{Source: path, Var: k, Msg: msg + "; allowed: CHALLENGE_PLUGIN, MODEL_BASE_CLASSNAME, MODEL_BASE_PATH, the ten hook variables and the service factories PREDICT_SERVICE_FACTORY, SCORE_SERVICE_FACTORY, REPORT_APP_FACTORY"})
	}
	return c, errors.Join(errs...)
}

// FindNodeDir returns the node workspace directory for start: start itself
// or its nearest ancestor containing config/callables.env; or, when start
// is a workspace root, its single crunch-node-* child.
func FindNodeDir(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if fileExists(filepath.Join(d, CallablesFile)) {
			return d, nil
		}
		if matches, _ := filepath.Glob(filepath.Join(d, "crunch-node-*", CallablesFile)); len(matches) == 1 {
			return filepath.Dir(filepath.Dir(matches[0])), nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("no node workspace found at or above %s (expected a directory containing %s; create one with `coordinator init <name>`)", dir, CallablesFile)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
