// Package layout names every path of the coordinator's own state in a
// workspace: the .coordinator/ directory of a node workspace (plugin
// binaries, logs, databases, the dev lock) and the .coordinator/ directory
// of the workspace root (the SDK copy `coordinator init` writes). Every
// package that reads or writes one of these paths asks a Layout for it, so
// the layout is decided here and nowhere else:
//
//	<root>/.coordinator/sdk/                    SDK module copy (init)
//	<root>/crunch-node-<name>/.coordinator/
//	    bin/challenge                           challenge plugin binary
//	    bin/models/<model id>                   model plugin binaries
//	    bin/node                                node binary with extensions/
//	    plugins.lock.json                       SHA-256 of every built plugin
//	    build/                                  its generated main file
//	    logs/node.log                           dev's structured node log
//	    coordinator.db                          default SQLite store
//	    replay.db                               SQLite store of a dev replay
//	    dev.lock                                flock held by `coordinator dev`
//
// The workspace root is the parent of the node directory (it holds
// go.work).
package layout

import "path/filepath"

// StateDirName is the name of the coordinator's state directory, in the
// node directory and in the workspace root. Source walks (build
// fingerprints, watch) skip directories of this name.
const StateDirName = ".coordinator"

// Layout locates the state paths of one node workspace. Node is the node
// directory (crunch-node-<name>); the workspace root is its parent. The
// zero Layout yields paths relative to the node directory, and SDKCopy
// relative to the workspace root, for messages and file maps.
type Layout struct {
	// Node is the node directory, absolute in production.
	Node string
}

// Of returns the layout of the node directory nodeDir.
func Of(nodeDir string) Layout { return Layout{Node: nodeDir} }

// Root is the workspace root: the parent of the node directory, or "" for
// the zero Layout.
func (l Layout) Root() string {
	if l.Node == "" {
		return ""
	}
	return filepath.Dir(l.Node)
}

// StateDir is <node>/.coordinator.
func (l Layout) StateDir() string { return filepath.Join(l.Node, StateDirName) }

// BinDir is <node>/.coordinator/bin, the plugin binaries built by dev,
// serve and doctor.
func (l Layout) BinDir() string { return filepath.Join(l.StateDir(), "bin") }

// ChallengeBinary is <node>/.coordinator/bin/challenge.
func (l Layout) ChallengeBinary() string { return filepath.Join(l.BinDir(), "challenge") }

// ModelBinary is <node>/.coordinator/bin/models/<id> for model id (from
// config/models.json, already validated as a safe file name).
func (l Layout) ModelBinary(id string) string { return filepath.Join(l.BinDir(), "models", id) }

// PluginsLock is <node>/.coordinator/plugins.lock.json, the SHA-256 of
// every plugin binary as built (internal/pluginlock): the host refuses to
// launch a binary that differs.
func (l Layout) PluginsLock() string { return filepath.Join(l.StateDir(), "plugins.lock.json") }

// PythonRunnerCache is <node>/.coordinator/python, where the Python model
// runner embedded in the binary is written for the models' PYTHONPATH.
func (l Layout) PythonRunnerCache() string { return filepath.Join(l.StateDir(), "python") }

// NodeBinary is <node>/.coordinator/bin/node, the coordinator binary
// built with the node's extensions/ package when a service factory is
// selected.
func (l Layout) NodeBinary() string { return filepath.Join(l.BinDir(), "node") }

// BuildDir is <node>/.coordinator/build, the generated files of the node
// binary's build (the file linking extensions/, the overlay).
func (l Layout) BuildDir() string { return filepath.Join(l.StateDir(), "build") }

// LogDir is <node>/.coordinator/logs, where dev writes the node's logs
// and doctor reads them.
func (l Layout) LogDir() string { return filepath.Join(l.StateDir(), "logs") }

// NodeLog is <node>/.coordinator/logs/node.log (JSON lines).
func (l Layout) NodeLog() string { return filepath.Join(l.LogDir(), "node.log") }

// Database is <node>/.coordinator/coordinator.db, the SQLite store used
// when DATABASE_URL is empty.
func (l Layout) Database() string { return filepath.Join(l.StateDir(), "coordinator.db") }

// ReplayDatabase is <node>/.coordinator/replay.db, the SQLite store a dev
// replay on the default store recreates at every run.
func (l Layout) ReplayDatabase() string { return filepath.Join(l.StateDir(), "replay.db") }

// DevLock is <node>/.coordinator/dev.lock, the flock(2) `coordinator dev`
// holds while it runs.
func (l Layout) DevLock() string { return filepath.Join(l.StateDir(), "dev.lock") }

// SDKCopy is <root>/.coordinator/sdk, the SDK module copy `coordinator
// init` writes and the workspace's go.work uses.
func (l Layout) SDKCopy() string { return filepath.Join(l.Root(), StateDirName, "sdk") }
