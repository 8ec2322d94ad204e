package devrun

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// ProfileEnv names a hidden environment variable: when set to a file path,
// `coordinator dev` writes a CPU profile (pprof format) of the replay to it.
// It is a tuning aid for developers, not a documented flag.
const ProfileEnv = "COORDINATOR_CPUPROFILE"

// startCPUProfile starts a CPU profile into the file named by ProfileEnv
// (read with getenv) and returns the function that stops it and closes the
// file. It returns a no-op when the variable is empty, and an error naming
// the file when it cannot be created or profiling cannot start.
func startCPUProfile(getenv func(string) string) (stop func(), err error) {
	path := getenv(ProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: create CPU profile file %s: %w", ProfileEnv, path, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start CPU profile into %s: %w", ProfileEnv, path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
