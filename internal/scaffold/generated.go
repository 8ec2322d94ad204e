package scaffold

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	coordinator "github.com/crunch-coordinator/coordinator"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/packs"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// callableFile says where each challenge callable lives in the generated
// challenge package (for the TODO comments of callables.env).
var callableFile = map[string]string{
	sdk.CallableBuildInferenceInput:     "inference.go",
	sdk.CallableProvideRawInput:         "inference.go",
	sdk.CallableValidateInferenceOutput: "validation.go",
	sdk.CallableScorePredictions:        "scoring.go",
	sdk.CallableResolveGroundTruth:      "groundtruth.go",
	sdk.CallableReportSchema:            "reporting.go",
}

// ModelEntry is one row of config/models.json (the one definition is
// config.ModelConfig).
type ModelEntry = config.ModelConfig

// exampleModels are the example model plugins of the challenge package.
var exampleModels = []struct{ id, dir string }{
	{"constant", "constant"},
	{"mean-reversion", "mean_reversion"},
	{"trend-following", "trend_following"},
	{"volatility-regime", "volatility_regime"},
}

// PythonBaseClass is the Python base class the generated challenge declares
// (callables.env MODEL_BASE_CLASSNAME), defined in python/tracker.py.
const PythonBaseClass = "tracker.TrackerBase"

// generatedFiles returns the files init writes from code rather than
// templates: go.work, the node's .local.env(.example), config/callables.env,
// config/models.json, config/scheduled_prediction_configs.json and, with
// --spec, spec.json.
func generatedFiles(cfg Config, d Data) (map[string][]byte, error) {
	out := map[string][]byte{}
	var uses strings.Builder
	for _, m := range coordinator.SDKModules {
		use := "./" + SDKCopyDir + "/" + m
		if d.SourceDir != "" {
			use = filepath.Join(d.SourceDir, m)
		}
		fmt.Fprintf(&uses, "\t%s\n", quoteWorkPath(use))
	}
	if cfg.Extension != "" {
		// The node's extensions/ imports the coordinator's extend package:
		// the node binary is built from the checkout's root module.
		if d.SourceDir == "" {
			return nil, inputErr(fmt.Errorf("--with-extension %s: a node with service factories is built from the coordinator's source, but this workspace would use the SDK copy: set %s to a coordinator checkout", cfg.Extension, EnvSourceDir))
		}
		fmt.Fprintf(&uses, "\t%s\n", quoteWorkPath(d.SourceDir))
	}
	out["go.work"] = normalize([]byte(fmt.Sprintf(`// Go workspace of the %q Crunch: the public challenge package, the private
// node and the coordinator SDK modules (%s).
go %s

use (
	./%s
	./%s
%s)
`, d.Name, sdkNote(d.SourceDir), d.GoVersion, d.ChallengeModule, d.NodeModule, uses.String())))

	env := localEnv(cfg, d)
	node := d.NodeModule + "/"
	out[node+".local.env"] = env
	out[node+".local.env.example"] = env

	var b strings.Builder
	fmt.Fprintf(&b, "# Callable wiring of the %q node (read by coordinator dev, doctor and serve).\n", d.Name)
	b.WriteString("#\n# CHALLENGE_PLUGIN is the challenge plugin: a Go main package folder, relative\n")
	b.WriteString("# to this node folder. The coordinator builds it and launches it as a plugin.\n")
	fmt.Fprintf(&b, "CHALLENGE_PLUGIN=../%s/cmd/challenge\n\n", d.ChallengeModule)
	b.WriteString("# Each hook below is `challenge` (served by the challenge plugin, whose Describe\n")
	b.WriteString("# must list the callable) or `default` (the coordinator's built-in default,\n")
	b.WriteString("# computed in-process). Keep this file and the challenge package in sync:\n")
	fmt.Fprintf(&b, "# `go test ./...` in ../%s checks that Describe lists every `challenge` hook.\n", d.ChallengeModule)
	for _, h := range packs.Hooks {
		v := cfg.Callables[h.EnvVar]
		b.WriteString("\n")
		if v == packs.WiringChallenge {
			file := callableFile[h.Callable]
			if file == "" {
				file = "challenge.go (a method on *Challenge overriding sdk.Defaults)"
			}
			fmt.Fprintf(&b, "# TODO(%s): %s is yours: edit it in ../%s/%s.\n", d.Name, h.Callable, d.ChallengeModule, file)
		} else {
			fmt.Fprintf(&b, "# TODO(%s): %s uses the coordinator default. To customise it, implement\n", d.Name, h.Callable)
			fmt.Fprintf(&b, "# (*Challenge).%s in ../%s and set this to `challenge`.\n", h.Callable, d.ChallengeModule)
		}
		fmt.Fprintf(&b, "%s=%s\n", h.EnvVar, v)
	}
	b.WriteString("\n# Python models (\"runtime\": \"python\" in config/models.json) subclass this base\n")
	b.WriteString("# class (module.ClassName, the reference's MODEL_BASE_CLASSNAME); its module lives\n")
	b.WriteString("# in MODEL_BASE_PATH (relative to this node folder), which goes on sys.path.\n")
	fmt.Fprintf(&b, "MODEL_BASE_CLASSNAME=%s\nMODEL_BASE_PATH=../%s/python\n", PythonBaseClass, d.ChallengeModule)
	out[node+"config/callables.env"] = []byte(b.String())

	models := make([]ModelEntry, 0, 2*len(exampleModels))
	if cfg.Models != ModelsPython {
		for _, m := range exampleModels {
			models = append(models, ModelEntry{ID: m.id, Path: "../" + d.ChallengeModule + "/examples/" + m.dir, Name: m.id, PlayerID: "local-0001", PlayerName: "local-dev"})
		}
	}
	if cfg.Models != ModelsGo {
		for _, m := range exampleModels {
			id := "py-" + m.id
			models = append(models, ModelEntry{ID: id, Path: "../" + d.ChallengeModule + "/python/examples/" + m.dir, Runtime: config.RuntimePython, Name: id, PlayerID: "local-0001", PlayerName: "local-dev"})
		}
	}
	mj, err := json.MarshalIndent(models, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode config/models.json: %w", err)
	}
	out[node+"config/models.json"] = normalize(mj)

	sj, err := jsonIndent(cfg.Schedules)
	if err != nil {
		return nil, fmt.Errorf("encode config/scheduled_prediction_configs.json: %w", err)
	}
	out[node+"config/scheduled_prediction_configs.json"] = sj

	if cfg.Spec != nil {
		spec, err := json.MarshalIndent(cfg.Spec, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode spec.json: %w", err)
		}
		out["spec.json"] = normalize(spec)
	}
	return out, nil
}

func sdkNote(sourceDir string) string {
	if sourceDir != "" {
		return "the coordinator source checkout this workspace was created from"
	}
	return "the copy in " + SDKCopyDir + ", pinned to the coordinator that ran init"
}

// quoteWorkPath quotes a go.work path when it holds spaces or quotes.
func quoteWorkPath(p string) string {
	if strings.ContainsAny(p, " \t\"'`") {
		return fmt.Sprintf("%q", p)
	}
	return p
}

// localEnv renders the node's .local.env (identical to .local.env.example
// at init): every key the coordinator reads, with its default.
func localEnv(cfg Config, d Data) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `# Local settings of the %q node, read by coordinator dev/serve/doctor.
# .local.env is the operator's copy (keep secrets here, never commit it);
# .local.env.example is the documented template. All keys are optional.

# Storage: empty DATABASE_URL = SQLite file .coordinator/coordinator.db in this
# folder. For PostgreSQL: postgres://USER:PASSWORD@HOST:5432/DB?sslmode=disable
DATABASE_URL=
# Report API listen address (keep it on 127.0.0.1 unless behind a proxy).
API_ADDR=127.0.0.1:8000

# Competition and loop cadence (seconds).
CRUNCH_ID=%s
CHECKPOINT_INTERVAL_SECONDS=%d
SCORE_INTERVAL_SECONDS=60
LEADERBOARD_INTERVAL_SECONDS=60

# Plugin calls: deadlines (seconds) and when a model is taken out. More
# than MAX_CONSECUTIVE failures (invalid outputs included) or timeouts in a
# row take a model out for a cool-down (MIN doubling up to MAX seconds),
# then it is re-admitted with a fresh process.
MODEL_CALL_TIMEOUT_SECONDS=5
CHALLENGE_CALL_TIMEOUT_SECONDS=10
MODEL_MAX_CONSECUTIVE_FAILURES=3
MODEL_MAX_CONSECUTIVE_TIMEOUTS=3
MODEL_COOLDOWN_MIN_SECONDS=60
MODEL_COOLDOWN_MAX_SECONDS=1800
# A prediction whose ground truth is still missing after this long fails.
GROUND_TRUTH_MAX_WAIT_SECONDS=3600

# Scoring (docs/scoring.md). A prediction a model was expected to make and
# did not make validly (failed, timed out, crashed, absent, invalid output)
# is a non-answer and scores SCORE_NON_ANSWER: a number (0 is the worst
# Brier skill this pack's scorer gives) or window_worst (the worst answered
# score of the window). The leaderboard ranks by RANKING_KEY; models equal
# on it and on every RANKING_TIE_BREAKERS metric (comma-separated) share a
# rank. Metrics: recent, steady, anchor, coverage_recent, coverage_steady,
# coverage_anchor.
SCORE_NON_ANSWER=0
RANKING_KEY=anchor
RANKING_TIE_BREAKERS=

# Ground truth of a horizon whose price did not move (entry price = resolved
# price): down (y = 0), half (y = 0.5) or exclude (UNRESOLVED, scored for no
# one). The %[4]s pack's choice and why: its README and docs/scoring.md.
FLAT_MOVES=%[5]s

# Market data feed.
FEED_PROVIDER=pyth
FEED_ASSETS=BTC
FEED_KIND=tick
FEED_GRANULARITY=1s
FEED_POLL_SECONDS=5
FEED_BACKFILL_MINUTES=180
FEED_STALE_AFTER_SECONDS=120
# A price published longer ago than this when polled is dropped and counted.
FEED_MAX_AGE_SECONDS=60
# Provider endpoints (coordinator defaults when unset):
# PYTH_HERMES_URL=https://hermes.pyth.network
# BINANCE_API_URL=https://api.binance.com

# Logging: text or json; debug, info, warn or error.
LOG_FORMAT=text
LOG_LEVEL=info
`, d.Name, cfg.CrunchID, cfg.CheckpointIntervalSeconds, d.Pack.ID, d.Pack.FlatMoves)
	return []byte(b.String())
}
