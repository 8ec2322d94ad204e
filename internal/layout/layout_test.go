package layout

import (
	"path/filepath"
	"testing"
)

func TestLayoutPaths(t *testing.T) {
	abs := Of("/ws/crunch-node-btc-up")
	for _, c := range []struct{ got, abs string }{
		{abs.StateDir(), "/ws/crunch-node-btc-up/.coordinator"},
		{abs.BinDir(), "/ws/crunch-node-btc-up/.coordinator/bin"},
		{abs.ChallengeBinary(), "/ws/crunch-node-btc-up/.coordinator/bin/challenge"},
		{abs.ModelBinary("m1"), "/ws/crunch-node-btc-up/.coordinator/bin/models/m1"},
		{abs.LogDir(), "/ws/crunch-node-btc-up/.coordinator/logs"},
		{abs.NodeBinary(), "/ws/crunch-node-btc-up/.coordinator/bin/node"},
		{abs.BuildDir(), "/ws/crunch-node-btc-up/.coordinator/build"},
		{abs.NodeLog(), "/ws/crunch-node-btc-up/.coordinator/logs/node.log"},
		{abs.Database(), "/ws/crunch-node-btc-up/.coordinator/coordinator.db"},
		{abs.ReplayDatabase(), "/ws/crunch-node-btc-up/.coordinator/replay.db"},
		{abs.DevLock(), "/ws/crunch-node-btc-up/.coordinator/dev.lock"},
		{abs.SDKCopy(), "/ws/.coordinator/sdk"},
	} {
		if c.got != filepath.FromSlash(c.abs) {
			t.Errorf("got %q, want %q", c.got, c.abs)
		}
	}
	var zero Layout
	for _, c := range []struct{ got, want string }{
		{zero.StateDir(), ".coordinator"},
		{zero.BinDir(), ".coordinator/bin"},
		{zero.ModelBinary("m1"), ".coordinator/bin/models/m1"},
		{zero.NodeLog(), ".coordinator/logs/node.log"},
		{zero.Database(), ".coordinator/coordinator.db"},
		{zero.ReplayDatabase(), ".coordinator/replay.db"},
		{zero.DevLock(), ".coordinator/dev.lock"},
		{zero.SDKCopy(), ".coordinator/sdk"},
	} {
		if c.got != filepath.FromSlash(c.want) {
			t.Errorf("zero layout: got %q, want %q", c.got, c.want)
		}
	}
	if Of("/ws/node").Root() != "/ws" || zero.Root() != "" {
		t.Errorf("Root: %q, %q", Of("/ws/node").Root(), zero.Root())
	}
}
