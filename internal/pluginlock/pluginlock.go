// Package pluginlock is the plugin lock file of a node workspace,
// <node>/.coordinator/plugins.lock.json (internal/layout): the SHA-256 of
// every plugin binary recorded when it was built, as Terraform's dependency
// lock records provider checksums. dev and serve hand the recorded
// checksum (or the operator's pin, which wins) to the host, which verifies
// the binary before every launch and restart (host.PluginSpec.SHA256).
//
//	{
//	  "version": 1,
//	  "plugins": {
//	    "challenge":     {"path": ".coordinator/bin/challenge", "sha256": "…"},
//	    "model m1":      {"path": ".coordinator/bin/models/m1", "sha256": "…"}
//	  }
//	}
//
// Keys are plugin names (pluginbuild.Target.Name); paths are relative to
// the node directory. The file is rewritten atomically (temp file and
// rename).
package pluginlock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Version is the lock file format this package writes and reads.
const Version = 1

// Entry is one plugin's record.
type Entry struct {
	// Path is the binary, relative to the node directory.
	Path string `json:"path"`
	// SHA256 is the lowercase hex SHA-256 of the binary as built.
	SHA256 string `json:"sha256"`
}

// Lock is the content of the lock file.
type Lock struct {
	Version int              `json:"version"`
	Plugins map[string]Entry `json:"plugins"`
}

// Load reads the lock file at path; a missing file is an empty Lock.
// Errors name the file.
func Load(path string) (*Lock, error) {
	l := &Lock{Version: Version, Plugins: map[string]Entry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read plugin lock %s: %w", path, err)
	}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("plugin lock %s: expected {\"version\": %d, \"plugins\": {…}}: %w (delete it to rebuild every plugin and record them again)", path, Version, err)
	}
	if l.Version != Version {
		return nil, fmt.Errorf("plugin lock %s: expected version %d, found %d", path, Version, l.Version)
	}
	if l.Plugins == nil {
		l.Plugins = map[string]Entry{}
	}
	return l, nil
}

// Save writes l to path atomically (mode 0644; the directory must exist).
func (l *Lock) Save(path string) error {
	l.Version = Version
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plugins.lock-*")
	if err != nil {
		return fmt.Errorf("write plugin lock %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write plugin lock %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write plugin lock %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write plugin lock %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write plugin lock %s: %w", path, err)
	}
	return nil
}
