package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/crunch-coordinator/coordinator/extend/factoryname"
	"github.com/crunch-coordinator/coordinator/internal/redact"
	"github.com/crunch-coordinator/coordinator/internal/suggest"
)

// Setting is one variable a node reads from .local.env or the process
// environment: its name and what it means (shown by "unknown variable"
// errors and kept next to the name so the two never drift apart).
type Setting struct {
	Name string
	Doc  string
}

// Known is the registry of every setting of .local.env and the process
// environment. A variable in .local.env that is not listed here (nor
// matched by KnownFamilies, nor named in AllowVar) is an error. To add a
// setting, add one line here; the package that reads it keeps its own
// parsing and validation.
var Known = []Setting{
	{"DATABASE_URL", "postgres://… or sqlite://… or a file path; empty: the workspace's SQLite file"},
	{"API_ADDR", "report API listen address host:port (default 127.0.0.1:8000)"},
	{"ADMIN_API_KEY", "key of the models API's state changes (PATCH /models/{id}); unset: state changes are off"},
	{"READ_API_KEY", "key of the models API's reads (GET /models, logs); unset: reads are open"},
	{"CRUNCH_ID", "competition id shown in reports (default local-crunch)"},
	{"CHECKPOINT_INTERVAL_SECONDS", "emission checkpoint cadence, seconds (default 60)"},
	{"SCORE_INTERVAL_SECONDS", "score loop cadence, seconds (default 60)"},
	{"LEADERBOARD_INTERVAL_SECONDS", "leaderboard rebuild cadence, seconds (default 60)"},
	{"MODEL_CALL_TIMEOUT_SECONDS", "deadline of one model call, seconds (default 5)"},
	{"CHALLENGE_CALL_TIMEOUT_SECONDS", "deadline of one challenge callable, seconds (default 10)"},
	{"MODEL_MAX_CONSECUTIVE_FAILURES", "failures in a row that stop a model (default 3)"},
	{"MODEL_MAX_CONSECUTIVE_TIMEOUTS", "timeouts in a row that stop a model (default 3)"},
	{"MODEL_COOLDOWN_MIN_SECONDS", "first pause before a failed model is restarted, seconds (default 60)"},
	{"MODEL_COOLDOWN_MAX_SECONDS", "longest pause before a failed model is restarted, seconds (default 1800)"},
	{"MAX_MODEL_OUTPUT_BYTES", "largest model answer, bytes; a bigger one is a FAILED row \"output N bytes exceeds limit\" (default 65536)"},
	{"GROUND_TRUTH_MAX_WAIT_SECONDS", "after this an unresolvable prediction is UNRESOLVED, seconds (default 3600)"},
	{"SCORE_NON_ANSWER", "score of a non-answer in the default aggregation: a number or window_worst"},
	{"RANKING_KEY", "metric the default leaderboard ranks by (default anchor)"},
	{"RANKING_TIE_BREAKERS", "comma list of metrics that break ranking ties (default none)"},
	{"FLAT_MOVES", "ground truth of a horizon whose price did not move: down, half or exclude (default: the pack's)"},
	{"LOG_FORMAT", "text or json (default text)"},
	{"LOG_LEVEL", "debug, info, warn or error (default info)"},
	{"FEED_PROVIDER", "pyth (default), binance or replay"},
	{"FEED_ASSETS", "comma list of assets (default BTC)"},
	{"FEED_KIND", "tick or candle (default: the provider's)"},
	{"FEED_GRANULARITY", "bar length or tick label such as 1s, 1m (default: the provider's)"},
	{"FEED_POLL_SECONDS", "seconds between polls of a feed (default 5)"},
	{"FEED_BACKFILL_MINUTES", "history fetched at first start, minutes (default 180)"},
	{"FEED_STALE_AFTER_SECONDS", "a feed whose newest record is older is stale, seconds (default 120)"},
	{"FEED_TIMEOUT_SECONDS", "deadline of one provider request, seconds (default 8)"},
	{"FEED_MAX_AGE_SECONDS", "a price published longer ago is dropped and counted, seconds (default 60)"},
	{"FEED_REPLAY_FILE", "CSV of candles for FEED_PROVIDER=replay"},
	{"PYTH_HERMES_URL", "Pyth Hermes endpoint (default https://hermes.pyth.network)"},
	{"BINANCE_API_URL", "Binance REST endpoint (default https://api.binance.com)"},
	{factoryname.PredictServiceVar, "name of the predict service factory registered in the node's extensions/ (default: built-in)"},
	{factoryname.ScoreServiceVar, "name of the score service factory registered in the node's extensions/ (default: built-in)"},
	{factoryname.ReportAppVar, "name of the report app factory registered in the node's extensions/ (default: built-in)"},
	{"MODEL_RUNNER_SECURITY", "how remote models are reached: plain (default), secure (mutual TLS) or gateway (TLS + signed calls)"},
	{"MODEL_RUNNER_CA_FILE", "PEM CA certificates that sign remote model runners' certificates (secure: required; gateway: default system roots)"},
	{"MODEL_RUNNER_CERT_FILE", "PEM client certificate of this node (secure mode)"},
	{"MODEL_RUNNER_KEY_FILE", "PEM private key of MODEL_RUNNER_CERT_FILE (secure mode)"},
	{"MODEL_RUNNER_GATEWAY_KEY_FILE", "PEM RSA private key that signs every call (gateway mode)"},
	{"MODEL_RUNNER_SERVER_NAME", "TLS server name of remote model runners (default secure: model-node-<model id>.crunchdao.internal; gateway: the address host)"},
	{"MODEL_RUNNER_CONNECT_TIMEOUT_SECONDS", "deadline of one connect + Setup of a remote model, seconds (default 10)"},
	{"MODEL_RUNNER_NODE_HOST", "model orchestrator host: with MODEL_RUNNER_NODE_PORT and CRUNCH_ID, models come from its websocket"},
	{"MODEL_RUNNER_NODE_PORT", "model orchestrator websocket port"},
	{ChallengeSHA256Var, "SHA-256 pin of the challenge plugin binary: a binary that differs never starts (default: the checksum recorded at build)"},
	{"REQUIRE_SANDBOX", "true: refuse to start when a plugin sandbox mechanism is missing (default false: one warning)"},
	{"SANDBOX_UID", "uid plugins run as when the node runs as root (default 65534)"},
	{"SANDBOX_GID", "gid plugins run as when the node runs as root (default 65534)"},
	{"PLUGIN_MEMORY_LIMIT_MB", "memory of one plugin process, MiB (default 1024)"},
	{"PLUGIN_MAX_PROCESSES", "processes and threads of one plugin (default 256)"},
	{"PLUGIN_MAX_OPEN_FILES", "open files of one plugin process (default 1024)"},
	{"PLUGIN_MAX_FILE_SIZE_MB", "largest file a plugin may write, MiB (default 256)"},
	{"PLUGIN_CPU_MILLICORES", "CPU of one model, thousandths of a CPU over all its threads: a cpu cgroup quota (default 1000: one CPU; 0: no limit)"},
	{"CHALLENGE_CPU_MILLICORES", "CPU of the challenge plugin, thousandths of a CPU (default 0: no limit)"},
	{"CHALLENGE_ALLOW_NETWORK", "true: the challenge plugin may open TCP connections (default false; models never may)"},
	{PythonVar, "Python interpreter of Python models (default /usr/bin/python3, then python3)"},
	{"COORDINATOR_WORKSPACE", "node workspace of serve and migrate (default: the current directory)"},
	{"COORDINATOR_CPUPROFILE", "file to write a CPU profile of dev to"},
	{AllowVar, "comma list of other tools' and extensions' variables kept in .local.env or the environment and not checked"},
}

// Secrets names the settings of Known whose values are secret: the host's
// logger hides them (SecretValues, redact.Writer) in everything it writes,
// plugin output included. To mark a setting secret, add its name here.
var Secrets = []string{"DATABASE_URL", "ADMIN_API_KEY", "READ_API_KEY"}

// SecretValues returns the values to hide from logs given the merged
// settings env: each secret setting's value and, for a database URL, its
// password (redact.Password).
func SecretValues(env map[string]string) []string {
	var out []string
	for _, name := range Secrets {
		v := strings.TrimSpace(env[name])
		if v == "" {
			continue
		}
		if p := redact.Password(v); p != "" {
			out = append(out, p)
			continue // the URL itself is logged redacted (redact.URL), never whole
		}
		if name != "DATABASE_URL" {
			out = append(out, v)
		}
	}
	return out
}

// KnownFamilies are settings named per asset: the prefix followed by an
// upper-case asset name (PYTH_FEED_ID_BTC).
var KnownFamilies = []Setting{
	{"PYTH_FEED_ID_", "Pyth feed id of an asset (64 hex digits)"},
	{"BINANCE_SYMBOL_", "Binance symbol of an asset (e.g. BTCUSDT)"},
}

// AllowVar names the .local.env variable listing other tools' variables
// that .local.env may hold (e.g. POSTGRES_PASSWORD for docker compose) and
// the node's extensions' own settings (e.g. TOURNAMENT_API_TOKEN): the
// coordinator neither checks nor uses them; they are read from the process
// environment too (MergeEnv) and reach service factories in
// extend.Env.Settings.
const AllowVar = "COORDINATOR_ALLOW_VARS"

// knownVars lists the names of Known (for MergeEnv).
func knownVars() []string {
	out := make([]string, 0, len(Known))
	for _, s := range Known {
		out = append(out, s.Name)
	}
	return out
}

// IsKnownVar reports whether name is a registered setting or a member of a
// registered family.
func IsKnownVar(name string) bool {
	for _, s := range Known {
		if s.Name == name {
			return true
		}
	}
	for _, f := range KnownFamilies {
		if rest, ok := strings.CutPrefix(name, f.Name); ok && rest != "" && rest == strings.ToUpper(rest) {
			return true
		}
	}
	return false
}

// CheckVarNames returns one *VarError per variable of env (read from
// source) that is not a known setting, each with a "did you mean" for the
// nearest known name when one is close. Names listed in env[AllowVar]
// (comma list) are skipped. Errors are sorted by name.
func CheckVarNames(env map[string]string, source string) []error {
	allowed := map[string]bool{}
	for _, n := range SplitList(env[AllowVar]) {
		allowed[n] = true
	}
	var names []string
	for k := range env {
		if !IsKnownVar(k) && !allowed[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	candidates := knownVars()
	for _, f := range KnownFamilies {
		candidates = append(candidates, f.Name+"<ASSET>")
	}
	var errs []error
	for _, k := range names {
		msg := "unknown variable"
		fix := fmt.Sprintf("remove %s from %s, or list it in %s if another tool reads it", k, source, AllowVar)
		if s := suggest.Nearest(k, candidates); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
			fix = fmt.Sprintf("rename %s to %s in %s", k, s, source)
		}
		if !strings.Contains(msg, "did you mean") {
			msg += fmt.Sprintf("; a variable for another tool goes in %s=%s", AllowVar, k)
		}
		errs = append(errs, &VarError{Source: source, Var: k, Msg: msg, Fix: fix})
	}
	return errs
}
