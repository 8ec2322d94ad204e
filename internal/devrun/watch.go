package devrun

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"time"

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
	t := time.NewTicker(WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fp, err := pluginbuild.Fingerprint(opts.Roots)
		if err != nil || fp == last {
			continue
		}
		last = fp
		p.linef("watch     source change detected: rebuilding")
		if err := pluginbuild.Build(ctx, targets, opts); err != nil {
			if ctx.Err() == nil {
				p.linef("watch     build failed; the running plugins are kept:\n%v", err)
			}
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
				rerr = n.ReloadChallenge()
			} else {
				rerr = n.ReloadModel(ws.Models[i-1].ID)
			}
			if rerr != nil {
				p.linef("watch     reload %s failed: %v", tg.Name, rerr)
				continue
			}
			p.linef("watch     reloaded %s", tg.Name)
		}
	}
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
