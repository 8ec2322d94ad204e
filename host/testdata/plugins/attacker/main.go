// Command attacker is a hostile test model plugin built by the host tests
// (sandbox_attack_test.go). Every Predict call tries one attack, chosen by
// -attack, and answers {"attack":..., "won": true, "got": ...} when it
// worked; when the sandbox stopped it, Predict returns the error (FAILED),
// or the process is killed at a limit (CRASHED).
//
//	-attack environ   read /proc/<parent pid>/environ (the host's)
//	-attack read      read each -target file (.local.env, the database)
//	-attack write     create -target (a file outside the scratch directory)
//	-attack connect   TCP connect to each -target host:port
//	-attack fork      start -count processes (sleep 60)
//	-attack alloc     allocate and touch -bytes of memory
//	-attack bigfile   write -bytes to a file in $TMPDIR (its scratch directory)
//	-attack spin      keep every core busy (2 goroutines per CPU, at least
//	                  4) for -duration and answer {"cpu_seconds", "wall_seconds"}:
//	                  its own CPU time (getrusage, all threads) over that wall
//	                  interval; answered normally, the quota is the check
//	-attack net       try UDP sendto and TCP connect to each -target host:port,
//	                  and AF_INET6 UDP, AF_PACKET and AF_NETLINK sockets, and
//	                  answer normally {"attempts": {name: "ok" or the error}}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type attacker struct {
	attack   string
	targets  []string
	count    int
	bytes    int64
	duration time.Duration
}

func (a *attacker) Tick(context.Context, json.RawMessage) error { return nil }

func (a *attacker) Predict(ctx context.Context, _ []json.RawMessage, _ json.RawMessage) (json.RawMessage, error) {
	switch a.attack {
	case "spin":
		return json.Marshal(a.spin())
	case "net":
		return json.Marshal(map[string]any{"attack": a.attack, "attempts": a.network()})
	}
	got, err := a.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("attack %s failed: %w", a.attack, err)
	}
	return json.Marshal(map[string]any{"attack": a.attack, "won": true, "got": got})
}

func (a *attacker) run(ctx context.Context) (string, error) {
	switch a.attack {
	case "environ":
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getppid()))
		return string(b), err
	case "read":
		var out []string
		for _, t := range a.targets {
			b, err := os.ReadFile(t)
			if err != nil {
				return strings.Join(out, "\n"), err
			}
			out = append(out, string(b))
		}
		return strings.Join(out, "\n"), nil
	case "write":
		return a.targets[0], os.WriteFile(a.targets[0], []byte("owned"), 0o644)
	case "connect":
		for _, t := range a.targets {
			c, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", t)
			if err != nil {
				return "", err
			}
			_ = c.Close()
		}
		return "connected", nil
	case "fork":
		for i := 0; i < a.count; i++ {
			if err := exec.Command("sleep", "60").Start(); err != nil {
				return fmt.Sprint(i), fmt.Errorf("started %d processes, then: %w", i, err)
			}
		}
		return fmt.Sprint(a.count), nil
	case "alloc":
		var keep [][]byte
		for n := int64(0); n < a.bytes; n += 64 << 20 {
			b := make([]byte, 64<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		return fmt.Sprint(len(keep)), nil
	case "bigfile":
		f, err := os.Create(filepath.Join(os.TempDir(), "big"))
		if err != nil {
			return "", err
		}
		defer f.Close()
		chunk := make([]byte, 1<<20)
		for n := int64(0); n < a.bytes; n += int64(len(chunk)) {
			if _, err := f.Write(chunk); err != nil {
				return fmt.Sprint(n), fmt.Errorf("wrote %d bytes, then: %w", n, err)
			}
		}
		return fmt.Sprint(a.bytes), nil
	}
	return "", errors.New("unknown attack " + a.attack)
}

// spin keeps every core busy for a.duration and returns its own CPU time
// over that wall interval.
func (a *attacker) spin() map[string]float64 {
	n := max(2*runtime.NumCPU(), 4)
	before, start := cpuTime(), time.Now()
	deadline := start.Add(a.duration)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for time.Now().Before(deadline) {
				for j := 0; j < 100000; j++ {
					x += j
				}
			}
			_ = x
		}()
	}
	wg.Wait()
	return map[string]float64{"cpu_seconds": (cpuTime() - before).Seconds(), "wall_seconds": time.Since(start).Seconds()}
}

// cpuTime is the process's user + system CPU time, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// network tries each way out and says what happened: "ok" or the error.
func (a *attacker) network() map[string]string {
	out := map[string]string{}
	res := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	for _, t := range a.targets {
		c, err := net.Dial("udp", t)
		if err == nil {
			_, err = c.Write([]byte("exfiltrated"))
			_ = c.Close()
		}
		out["udp "+t] = res(err)
		tc, err := net.DialTimeout("tcp", t, 2*time.Second)
		if err == nil {
			_ = tc.Close()
		}
		out["tcp "+t] = res(err)
	}
	for name, f := range map[string][3]int{
		"socket AF_INET6 UDP":   {syscall.AF_INET6, syscall.SOCK_DGRAM, 0},
		"socket AF_INET raw":    {syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP},
		"socket AF_PACKET":      {syscall.AF_PACKET, syscall.SOCK_RAW, 0x0300}, // htons(ETH_P_ALL)
		"socket AF_NETLINK raw": {syscall.AF_NETLINK, syscall.SOCK_RAW, syscall.NETLINK_ROUTE},
	} {
		fd, err := syscall.Socket(f[0], f[1], f[2])
		if err == nil {
			_ = syscall.Close(fd)
		}
		out[name] = res(err)
	}
	return out
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	a := &attacker{}
	var targets list
	flag.StringVar(&a.attack, "attack", "", "attack to try")
	flag.Var(&targets, "target", "file or host:port (repeatable)")
	flag.IntVar(&a.count, "count", 10000, "processes (fork)")
	flag.Int64Var(&a.bytes, "bytes", 8<<30, "bytes (alloc, bigfile)")
	flag.DurationVar(&a.duration, "duration", 2*time.Second, "how long to spin (spin)")
	flag.Parse()
	a.targets = targets
	sdk.ServeModel(a, sdk.ModelInfo{Name: "attacker-" + a.attack, Version: "1.0.0"})
}
