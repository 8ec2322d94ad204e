// Command model is a test model plugin built by the host tests. Its
// behaviour is chosen by flags:
//
//	-mode ok          answer Predict with {"model":NAME,"n":len(args),"tick":lastTickInput}
//	-mode fail        Predict returns an error (FAILED)
//	-mode panic       Predict panics (CRASHED)
//	-mode exit        Predict calls os.Exit(3) (CRASHED)
//	-mode sleep       Predict sleeps -sleep ignoring its context (TIMEOUT)
//	-mode exitsignal  Predict waits for SIGUSR1, then calls os.Exit(3) (CRASHED; a
//	                  test sends the signal where it orders the exit)
//	-mode garbage     prints a line to stdout before the handshake
//	-mode panicstart  panics before serving
//	-mode bigout      Predict answers a JSON string of -size bytes
//	-mode noisy       each Predict writes -size bytes to stderr in 1 KiB lines,
//	                  the first one holding $NOISY_SECRET, then answers like ok
//	-tick-mode fail|panic|exit|sleep  the same failure modes in Tick (sleep: -sleep)
//	-crash-once FILE  with -mode exit/panic/sleep: misbehave only while FILE does not exist
//	                  (it is created first), then answer like ok
//	-after N          with -mode fail/panic/exit/sleep: answer like ok for the first N
//	                  Predict calls of the process, misbehave from then on
//	-spawn            start a grandchild (sleep 300) that shares stdout/stderr
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

type model struct {
	name      string
	mode      string
	tickMode  string
	sleep     time.Duration
	size      int
	crashOnce string
	after     int

	mu    sync.Mutex
	tick  json.RawMessage
	calls int
	// exitSig receives SIGUSR1 (mode exitsignal).
	exitSig chan os.Signal
}

func (m *model) Tick(_ context.Context, input json.RawMessage) error {
	switch m.tickMode {
	case "fail":
		return errors.New("model refuses the tick")
	case "panic":
		panic("model panics in Tick")
	case "exit":
		os.Exit(4)
	case "sleep":
		time.Sleep(m.sleep)
	}
	m.mu.Lock()
	m.tick = append(json.RawMessage(nil), input...)
	m.mu.Unlock()
	return nil
}

// misbehave reports whether this call should run the failure mode.
func (m *model) misbehave() bool {
	m.mu.Lock()
	m.calls++
	early := m.calls <= m.after
	m.mu.Unlock()
	if early {
		return false
	}
	if m.crashOnce == "" {
		return true
	}
	f, err := os.OpenFile(m.crashOnce, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return false // already crashed once
	}
	_ = f.Close()
	return true
}

func (m *model) Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) (json.RawMessage, error) {
	switch m.mode {
	case "fail":
		if m.misbehave() {
			return nil, errors.New("model refuses to predict")
		}
	case "panic":
		if m.misbehave() {
			panic("model panics in Predict")
		}
	case "exit":
		if m.misbehave() {
			os.Exit(3)
		}
	case "sleep":
		if m.misbehave() {
			time.Sleep(m.sleep)
		}
	case "exitsignal":
		select {
		case <-m.exitSig:
			os.Exit(3)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case "bigout":
		return json.Marshal(strings.Repeat("x", m.size))
	case "noisy":
		fmt.Fprintf(os.Stderr, "leaking %s\n", os.Getenv("NOISY_SECRET"))
		line := strings.Repeat("n", 1023) + "\n"
		for i := 0; i < m.size/len(line); i++ {
			fmt.Fprint(os.Stderr, line)
		}
	}
	m.mu.Lock()
	tick := m.tick
	m.mu.Unlock()
	if len(tick) == 0 {
		tick = json.RawMessage("null")
	}
	return json.Marshal(map[string]any{"model": m.name, "n": len(args), "tick": tick, "kwargs": kwargs})
}

func main() {
	m := &model{}
	flag.StringVar(&m.name, "name", "testmodel", "model name")
	flag.StringVar(&m.mode, "mode", "ok", "behaviour")
	flag.StringVar(&m.tickMode, "tick-mode", "", "behaviour of Tick")
	flag.DurationVar(&m.sleep, "sleep", 30*time.Second, "sleep in Predict (mode sleep)")
	flag.IntVar(&m.size, "size", 0, "answer size (mode bigout)")
	flag.StringVar(&m.crashOnce, "crash-once", "", "marker file")
	flag.IntVar(&m.after, "after", 0, "Predict calls answered like ok before the failure mode")
	spawn := flag.Bool("spawn", false, "start a grandchild holding the pipes")
	flag.Parse()
	switch m.mode {
	case "garbage":
		fmt.Println("hello from a model that prints before the handshake")
	case "panicstart":
		panic("model panics at start")
	case "exitstart":
		fmt.Fprintln(os.Stderr, "model config missing")
		os.Exit(1)
	case "exitsignal": // before serving: the signal may come at any time after
		m.exitSig = make(chan os.Signal, 1)
		signal.Notify(m.exitSig, syscall.SIGUSR1)
	}
	if *spawn {
		c := exec.Command("sleep", "300")
		c.Stdout, c.Stderr = os.Stdout, os.Stderr
		if err := c.Start(); err != nil {
			panic(err)
		}
	}
	sdk.ServeModel(m, sdk.ModelInfo{Name: m.name, Version: "1.0.0"})
}
