package devrun

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/node"
	"github.com/crunch-coordinator/coordinator/internal/pluginbin"
	"github.com/crunch-coordinator/coordinator/internal/pluginbuild"
)

// WatchInterval is how often --watch checks the sources for changes.
const WatchInterval = time.Second

// watch rebuilds the plugins when a source file of the workspace (or of
// the coordinator checkout it uses) changes, and reloads only the plugins
// whose binary changed: Go builds are reproducible, so an untouched plugin
// gets a byte-identical binary. A failed build keeps the running plugins.
// It returns when ctx is done.
func watch(ctx context.Context, n *node.Node, ws *config.Workspace, p printer) {
	opts := pluginbin.BuildOptions(ws.NodeDir, nil)
	_, targets := pluginbin.Targets(ws)
	last, _ := pluginbuild.Fingerprint(opts.Roots)
	sums := map[string][32]byte{}
	for _, t := range targets {
		sums[t.Out] = fileSum(t.Out)
	}
	goModels := ws.GoModels()
	pySums := map[string][32]byte{}
	for _, m := range ws.Models {
		if m.Runtime == config.RuntimePython {
			pySums[m.ID] = pythonModelSum(m.Path, ws.Callables.ModelBasePath)
		}
	}
	t := time.NewTicker(WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reloadPython(n, ws, pySums, p)
		fp, err := pluginbuild.Fingerprint(opts.Roots)
		if err != nil || fp == last {
			continue
		}
		last = fp
		p.linef("watch     source change detected: rebuilding")
		built := map[string]bool{}
		bopts := opts
		bopts.Progress = func(e pluginbuild.Event) {
			if e.Phase == "done" {
				built[e.Target.Out] = true
			}
		}
		if err := pluginbuild.Build(ctx, targets, bopts); err != nil {
			if ctx.Err() == nil {
				p.linef("watch     build failed; the running plugins are kept:\n%v", err)
			}
			continue
		}
		recorded, err := pluginbin.Record(ws.NodeDir, targets, built)
		if err != nil {
			p.linef("watch     %v; the running plugins are kept", err)
			continue
		}
		for i, tg := range targets {
			sum := fileSum(tg.Out)
			if sum == sums[tg.Out] {
				continue
			}
			sums[tg.Out] = sum
			var rerr error
			if i == 0 {
				rerr = n.ReloadChallenge(pluginbin.Expected(ws.Settings.ChallengeSHA256, recorded[tg.Out]))
			} else {
				m := goModels[i-1]
				rerr = n.ReloadModel(m.ID, pluginbin.Expected(m.SHA256, recorded[tg.Out]))
			}
			if rerr != nil {
				p.linef("watch     reload %s failed: %v", tg.Name, rerr)
				continue
			}
			p.linef("watch     reloaded %s", tg.Name)
		}
	}
}

// reloadPython reloads every Python model whose .py files (in its
// directory or the challenge's base class directory) changed since the last
// check; the runner imports the new code at its next Setup.
func reloadPython(n *node.Node, ws *config.Workspace, sums map[string][32]byte, p printer) {
	for _, m := range ws.Models {
		if m.Runtime != config.RuntimePython {
			continue
		}
		sum := pythonModelSum(m.Path, ws.Callables.ModelBasePath)
		if sum == sums[m.ID] {
			continue
		}
		sums[m.ID] = sum
		code := m.SHA256 // a pinned model keeps its pin; else the code as edited
		if code == "" {
			var err error
			if code, err = host.PythonCodeSHA256(m.Path); err != nil {
				p.linef("watch     reload python model %s failed: %v", m.ID, err)
				continue
			}
		}
		if err := n.ReloadModel(m.ID, code); err != nil {
			p.linef("watch     reload python model %s failed: %v", m.ID, err)
			continue
		}
		p.linef("watch     reloaded python model %s", m.ID)
	}
}

// maxWatchedPythonFiles bounds the walk of one Python model directory.
const maxWatchedPythonFiles = 10000

// pythonModelSum fingerprints a Python model: the .py files under its
// directory (recursively) and the .py files directly in the base class
// directory (not its subdirectories, which may hold other models).
func pythonModelSum(modelDir, baseDir string) [32]byte {
	h := sha256.New()
	n := 0
	for _, dir := range []string{modelDir, baseDir} {
		if dir == "" {
			continue
		}
		recursive := dir == modelDir
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if path != dir && (!recursive || d.Name() == "__pycache__" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(d.Name(), ".py") {
				return nil
			}
			if n++; n > maxWatchedPythonFiles {
				return filepath.SkipAll
			}
			if fi, err := d.Info(); err == nil {
				fmt.Fprintf(h, "%s\x00%d\x00%d\n", path, fi.Size(), fi.ModTime().UnixNano())
			}
			return nil
		})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func fileSum(path string) [32]byte {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}
	}
	defer f.Close()
	h := sha256.New()
	_, _ = io.Copy(h, f)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
