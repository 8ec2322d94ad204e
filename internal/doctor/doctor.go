// Package doctor finds miswiring in a node workspace fast and says how to
// fix it: one result per check (pass, fail, warn, skip) naming the exact
// file, variable, callable, plugin or log line, with a fix for every
// failure. The CLI prints them as lines or as a JSON array.
package doctor

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Result statuses.
const (
	Pass = "pass"
	Fail = "fail"
	Warn = "warn"
	Skip = "skip"
)

// Result is the outcome of one check. Where names the file, variable,
// plugin, URL or log line concerned; Fix says what to do on failure.
type Result struct {
	Group   string `json:"group"`
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Where   string `json:"where,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Code is the diagnostic code of a plugin failure (host.Diagnostic),
	// stable for tools; JSON only.
	Code string `json:"code,omitempty"`
	// Detail is supporting text too long for one line (a plugin's stderr
	// tail, full compiler output); JSON only.
	Detail string `json:"detail,omitempty"`
}

// Options select what to check.
type Options struct {
	// NodeDir is the node workspace (crunch-node-<name>); empty skips the
	// workspace, plugin, model, storage and log checks.
	NodeDir string
	// SpecFile and Pack: validate an init spec and/or pack (check 1) when
	// either is set.
	SpecFile string
	Pack     string
	// Getenv reads process variables that override .local.env.
	Getenv func(string) string
	// APIURL is the running node's base URL. When set explicitly
	// (APIExplicit), a node that does not answer is a failure; otherwise it
	// is reported as not running and the ports check runs instead.
	APIURL      string
	APIExplicit bool
	// HTTPClient for API probes (default: 3 s timeout).
	HTTPClient *http.Client
	// SkipPlugins skips building and handshaking plugins (checks 3-4).
	SkipPlugins bool
	// Probe builds and launches plugins for checks 3-4 (Prober is the
	// implementation; set by the CLI). Nil skips those checks with a note.
	Probe PluginProber
	// SpecCheck validates a spec file and pack for check 1 (CheckSpec is
	// the implementation; set by the CLI). Nil skips check 1.
	SpecCheck func(specFile, pack string) []Result
	// ProbeFeed fetches one record from the configured live feed (Pyth or
	// Binance); the CLI turns it off with --offline.
	ProbeFeed bool
	// LogTail is how many trailing lines of each log file are scanned.
	LogTail int
}

// PluginProber builds and handshakes the workspace's plugins.
type PluginProber interface {
	ProbePlugins(ctx context.Context, w *WorkspaceInfo) []Result
}

// Run performs every applicable check in order and returns the results.
func Run(ctx context.Context, opts Options) []Result {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 3 * time.Second}
	}
	if opts.LogTail <= 0 {
		opts.LogTail = 2000
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	var out []Result
	if (opts.SpecFile != "" || opts.Pack != "") && opts.SpecCheck != nil {
		out = append(out, opts.SpecCheck(opts.SpecFile, opts.Pack)...)
	}
	var ws *WorkspaceInfo
	if opts.NodeDir != "" {
		var res []Result
		ws, res = checkWorkspace(opts)
		out = append(out, res...)
		if ws != nil && !opts.SkipPlugins {
			if opts.Probe != nil {
				out = append(out, opts.Probe.ProbePlugins(ctx, ws)...)
			} else {
				out = append(out, Result{Group: groupPlugins, Check: "plugins", Status: Skip, Message: "no plugin prober configured; plugin and model handshakes not checked"})
			}
		}
		if ws != nil {
			out = append(out, checkExtensions(ctx, ws, !opts.SkipPlugins, nil)...)
			out = append(out, checkSandbox(ws)...)
			out = append(out, checkStorage(ctx, ws)...)
			if opts.ProbeFeed && ws.Loaded != nil {
				out = append(out, checkFeed(ctx, ws.Loaded.Settings.Env)...)
			}
		}
	}
	apiURL := opts.APIURL
	if apiURL == "" && ws != nil {
		apiURL = "http://" + ws.APIAddr
	}
	running := false
	if apiURL != "" {
		var res []Result
		running, res = checkAPI(ctx, opts, apiURL)
		out = append(out, res...)
	}
	if opts.NodeDir != "" {
		out = append(out, checkLogs(opts)...)
	}
	if !running && ws != nil {
		out = append(out, checkPorts(ws)...)
	}
	return out
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// statusLabels are the text labels of the statuses; failures stand out.
var statusLabels = map[string]string{Pass: "[pass]", Fail: "[FAIL]", Warn: "[warn]", Skip: "[skip]"}

// Line renders one result as the single text line `coordinator doctor`
// prints: "[status] group  check  message", then for a failure or warning
// "  at <where>" (when Where is set and not already in the message) and
// "  fix: <fix>". Line breaks inside fields are folded to " | ".
func Line(r Result) string {
	label, ok := statusLabels[r.Status]
	if !ok {
		label = "[" + r.Status + "]"
	}
	s := fmt.Sprintf("%s %-9s  %s  %s", label, r.Group, oneLine(r.Check), oneLine(r.Message))
	if r.Status == Fail || r.Status == Warn {
		if r.Where != "" && !strings.Contains(r.Message, r.Where) {
			s += "  at " + oneLine(r.Where)
		}
		if r.Fix != "" {
			s += "  fix: " + oneLine(r.Fix)
		}
	}
	return s
}

// Summary renders the closing line: counts per status and the verdict.
func Summary(rs []Result) string {
	n := map[string]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	verdict := "all checks passed"
	if n[Warn] > 0 {
		verdict = "passed with warnings: read the [warn] lines"
	}
	if n[Fail] > 0 {
		verdict = "FAILED: fix the [FAIL] lines above, then run `coordinator doctor` again"
	}
	return fmt.Sprintf("doctor: %d passed, %d failed, %d warning%s, %d skipped; %s", n[Pass], n[Fail], n[Warn], plural(n[Warn]), n[Skip], verdict)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var parts []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " | ")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
