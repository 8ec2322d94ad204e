package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the benchmarks ran.
type Machine struct {
	CPU        string // model name from /proc/cpuinfo
	Cores      int    // logical CPUs usable by this process
	MemoryGiB  float64
	OS         string // PRETTY_NAME of /etc/os-release and the kernel release
	GoVersion  string
	Date       time.Time // UTC start of the run
	PostgreSQL string    // "PostgreSQL 15.20 ..." or why it is missing
	SQLite     string
	Commit     string // git describe of the working tree, "unknown" without git
	// LoadStart is the 1-minute load average when the run started: other
	// work on the machine skews every number.
	LoadStart string
}

// loadAvg returns the 1-minute load average from /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// describeMachine reads /proc/cpuinfo, /proc/meminfo, /etc/os-release and
// /proc/sys/kernel/osrelease; fields that cannot be read say "unknown".
func describeMachine(ctx context.Context, root string) Machine {
	m := Machine{CPU: "unknown", OS: "unknown", GoVersion: runtime.Version(), Cores: runtime.NumCPU(), Date: time.Now().UTC(), Commit: "unknown", LoadStart: loadAvg()}
	if v := procField("/proc/cpuinfo", "model name", ":"); v != "" {
		m.CPU = v
	}
	if v := procField("/proc/meminfo", "MemTotal", ":"); v != "" {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	osName := strings.Trim(procField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	if osName != "" || len(kernel) > 0 {
		m.OS = strings.TrimSpace(fmt.Sprintf("%s, Linux %s %s", osName, strings.TrimSpace(string(kernel)), runtime.GOARCH))
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// procField returns the value of the first line "key<sep>value" of file.
func procField(file, key, sep string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or any parent: run the harness from the coordinator checkout", dir)
		}
	}
}

// Plugins are the plugin binaries the harness launches.
type Plugins struct {
	Model     string // cmd/coordinator-bench/plugins/noopmodel
	Challenge string // cmd/coordinator-bench/plugins/noopchallenge
	Fleet     string // cmd/coordinator-bench/plugins/mrserver (remote models)
}

// buildPlugins builds the harness's plugin mains into dir the way the host
// tests do (go build, CGO_ENABLED=0).
func buildPlugins(ctx context.Context, root, dir string) (Plugins, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "go", "build", "-o", dir+string(os.PathSeparator),
		"./cmd/coordinator-bench/plugins/noopmodel", "./cmd/coordinator-bench/plugins/noopchallenge", "./cmd/coordinator-bench/plugins/mrserver")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Plugins{}, fmt.Errorf("build benchmark plugins in %s: %w\n%s", root, err, out)
	}
	return Plugins{Model: filepath.Join(dir, "noopmodel"), Challenge: filepath.Join(dir, "noopchallenge"), Fleet: filepath.Join(dir, "mrserver")}, nil
}

// Proc is one process seen in /proc.
type Proc struct {
	PID  int
	Exe  string // argv[0]
	PPID int
}

// children lists the live (non-zombie) child processes of pid.
func children(pid int) []Proc {
	ents, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if ppid != pid {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out = append(out, Proc{PID: p, PPID: ppid, Exe: string(bytes.SplitN(cmdline, []byte{0}, 2)[0])})
	}
	return out
}

// peakRSS returns VmHWM (peak resident set size) of pid in MB (10^6
// bytes; the kernel reports KiB).
func peakRSS(pid int) (float64, error) {
	file := fmt.Sprintf("/proc/%d/status", pid)
	v := procField(file, "VmHWM", ":")
	if v == "" {
		return 0, fmt.Errorf("%s: expected a VmHWM line, found none (process gone?)", file)
	}
	kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: VmHWM %q: expected '<n> kB': %w", file, v, err)
	}
	return kb * 1024 / 1e6, nil
}

// resetPeakRSS resets pid's VmHWM to its current RSS (writing 5 to
// /proc/<pid>/clear_refs, Linux >= 4.0), so the next peakRSS covers only
// what runs after it.
func resetPeakRSS(pid int) error {
	file := fmt.Sprintf("/proc/%d/clear_refs", pid)
	if err := os.WriteFile(file, []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS of pid %d (%s): %w", pid, file, err)
	}
	return nil
}

// clockTicks is USER_HZ on Linux (the unit of utime/stime in /proc/<pid>/stat).
const clockTicks = 100

// cpuTime returns the user+system CPU time pid has used.
func cpuTime(pid int) (time.Duration, error) {
	file := fmt.Sprintf("/proc/%d/stat", pid)
	stat, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", file, err)
	}
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, errors.New(file + ": expected at least 15 fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: utime %q stime %q: expected integers", file, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// findCSV returns the shared BTC CSV: ../shared/data next to the module root.
func findCSV(root string) string {
	return filepath.Join(filepath.Dir(root), "shared", "data", "binance-us-BTCUSDT-1m-2023-03-01..21.csv")
}
