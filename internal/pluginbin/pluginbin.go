// Package pluginbin is the layout and build of a node workspace's plugin
// binaries, shared by `coordinator dev` and `coordinator doctor` so that one
// command reuses what the other built:
//
//	<node>/.coordinator/bin/challenge          the challenge plugin
//	<node>/.coordinator/bin/models/<model id>  one binary per model plugin
//
// Builds run `go build` through internal/pluginbuild from the workspace
// root (the parent of the node directory, which holds go.work), with the
// workspace modules and every module go.work uses outside it (e.g. the
// coordinator checkout) fingerprinted, so an unchanged plugin is not
// rebuilt.
package pluginbin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
	"github.com/crunch-coordinator/coordinator/internal/pluginlock"
)

// Binaries are the absolute paths of a workspace's plugin binaries (in the
// layout of internal/layout).
type Binaries struct {
	// Challenge is <node>/.coordinator/bin/challenge.
	Challenge string
	// Models maps model id → <node>/.coordinator/bin/models/<id> (Go
	// models only; Python models run from their directory).
	Models map[string]string
	// ChallengeSHA256 and ModelSHA256 (by model id) are the checksums the
	// host must verify before every launch (host.PluginSpec.SHA256): the
	// operator's pin (CHALLENGE_SHA256, models.json "sha256") when set,
	// else the checksum recorded in the lock file when the binary was
	// built (internal/pluginlock).
	ChallengeSHA256 string
	ModelSHA256     map[string]string
}

// ChallengeTarget is the build target of the challenge plugin: the main
// package directory named by CHALLENGE_PLUGIN (absolute, from
// ws.Callables) and its binary path.
func ChallengeTarget(ws *config.Workspace) pluginbuild.Target {
	return pluginbuild.Target{Name: "challenge", Dir: ws.Callables.ChallengePlugin,
		Out: layout.Of(ws.NodeDir).ChallengeBinary()}
}

// ModelTarget is the build target of model plugin m (m.Path absolute, as
// config.ParseModels returns it).
func ModelTarget(ws *config.Workspace, m config.ModelConfig) pluginbuild.Target {
	return pluginbuild.Target{Name: "model " + m.ID, Dir: m.Path,
		Out: layout.Of(ws.NodeDir).ModelBinary(m.ID)}
}

// Targets returns every plugin's build target (challenge first, then the
// models in config order) and the resulting binary paths.
func Targets(ws *config.Workspace) (Binaries, []pluginbuild.Target) {
	ct := ChallengeTarget(ws)
	bins := Binaries{Challenge: ct.Out, Models: map[string]string{}}
	targets := []pluginbuild.Target{ct}
	for _, m := range ws.GoModels() { // Python models are not built
		t := ModelTarget(ws, m)
		bins.Models[m.ID] = t.Out
		targets = append(targets, t)
	}
	return bins, targets
}

// BuildOptions returns the pluginbuild options for the workspace of
// nodeDir: `go build` runs from the workspace root (filepath.Dir(nodeDir)),
// the fingerprint covers that root plus the modules its go.work uses
// outside it, and GOFLAGS is cleared so a caller's flags (e.g. -race from
// `go test`) do not leak into plugin builds. progress may be nil.
func BuildOptions(nodeDir string, progress func(pluginbuild.Event)) pluginbuild.Options {
	root := filepath.Dir(nodeDir)
	roots := append([]string{root}, WorkUses(root)...)
	// The SDK copy lives under .coordinator/, which the fingerprint walk
	// skips (it also holds binaries and the database): add it explicitly so
	// a refreshed copy triggers a rebuild.
	if sdkCopy := layout.Of(nodeDir).SDKCopy(); isDir(sdkCopy) {
		roots = append(roots, sdkCopy)
	}
	return pluginbuild.Options{
		WorkDir:  root,
		Roots:    roots,
		OutDir:   layout.Of(nodeDir).BinDir(),
		Env:      []string{"GOFLAGS="},
		Progress: progress,
	}
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// WorkUses returns the absolute module directories the go.work in root
// uses that lie outside root (e.g. the coordinator checkout). A missing or
// unparsable go.work yields nil: `go build` then reports the problem itself.
func WorkUses(root string) []string {
	path := filepath.Join(root, "go.work")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	wf, err := modfile.ParseWork(path, b, nil)
	if err != nil {
		return nil
	}
	var out []string
	for _, u := range wf.Use {
		d := u.Path
		if !filepath.IsAbs(d) {
			d = filepath.Join(root, d)
		}
		d = filepath.Clean(d)
		if rel, err := filepath.Rel(root, d); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Build builds the plugins of ws into the shared layout: the challenge
// plugin always, the model plugins when withModels; unchanged plugins are
// not rebuilt. With skip nothing is built and every binary must already
// exist (the error names the plugin and the path). progress may be nil.
//
// The SHA-256 of every binary built is recorded in the lock file
// (layout.PluginsLock); a binary not rebuilt keeps its recorded checksum
// (one with no record yet is recorded as found). The returned Binaries
// carry the checksums the host verifies (see Binaries).
func Build(ctx context.Context, ws *config.Workspace, withModels, skip bool, progress func(pluginbuild.Event)) (Binaries, error) {
	bins, targets := Targets(ws)
	if !withModels {
		bins.Models = map[string]string{}
		targets = targets[:1]
	}
	built := map[string]bool{}
	if skip {
		for _, t := range targets {
			if _, err := os.Stat(t.Out); err != nil {
				return bins, fmt.Errorf("--skip-build: %s has no built binary at %s; run once without --skip-build", t.Name, t.Out)
			}
		}
	} else {
		err := pluginbuild.Build(ctx, targets, BuildOptions(ws.NodeDir, func(e pluginbuild.Event) {
			if e.Phase == "done" {
				built[e.Target.Out] = true
			}
			if progress != nil {
				progress(e)
			}
		}))
		if err != nil {
			return bins, err
		}
	}
	sums, err := Record(ws.NodeDir, targets, built)
	if err != nil {
		return bins, err
	}
	bins.ChallengeSHA256 = Expected(ws.Settings.ChallengeSHA256, sums[bins.Challenge])
	bins.ModelSHA256 = map[string]string{}
	for _, m := range ws.GoModels() {
		if out, ok := bins.Models[m.ID]; ok {
			bins.ModelSHA256[m.ID] = Expected(m.SHA256, sums[out])
		}
	}
	return bins, nil
}

// Expected is the checksum the host verifies: the operator's pin when set,
// else the recorded one.
func Expected(pin, recorded string) string {
	if pin != "" {
		return pin
	}
	return recorded
}

// Record updates the lock file of the node nodeDir for targets: a target
// whose binary was just built (built[t.Out]) or has no record yet gets the
// SHA-256 of its binary; the others keep theirs. It returns the recorded
// checksum of every target by binary path. Errors name the lock file or
// the binary.
func Record(nodeDir string, targets []pluginbuild.Target, built map[string]bool) (map[string]string, error) {
	path := layout.Of(nodeDir).PluginsLock()
	lock, err := pluginlock.Load(path)
	if err != nil {
		return nil, err
	}
	sums := map[string]string{}
	changed := false
	for _, t := range targets {
		e, ok := lock.Plugins[t.Name]
		rel, _ := filepath.Rel(nodeDir, t.Out)
		if !ok || built[t.Out] || e.Path != filepath.ToSlash(rel) {
			sum, err := host.FileSHA256(t.Out)
			if err != nil {
				return nil, fmt.Errorf("record the checksum of %s: %w", t.Name, err)
			}
			e = pluginlock.Entry{Path: filepath.ToSlash(rel), SHA256: sum}
			lock.Plugins[t.Name] = e
			changed = true
		}
		sums[t.Out] = e.SHA256
	}
	if changed {
		if err := lock.Save(path); err != nil {
			return nil, err
		}
	}
	return sums, nil
}
