// Package cli holds the cobra commands of the coordinator binary. Commands
// are thin: they parse flags and call the packages that do the work. A
// Factory injects IO streams and the environment, so every command is tested
// with fake IO (the pattern of GitHub's gh CLI).
package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// IOStreams are the standard streams a command writes to. IsTerminal tells
// whether Out is an interactive terminal (live status lines) or not (plain
// log lines).
type IOStreams struct {
	In         io.Reader
	Out        io.Writer
	ErrOut     io.Writer
	IsTerminal bool
}

// Factory carries what commands need from the outside world.
type Factory struct {
	IO IOStreams
	// Getenv reads an environment variable (os.Getenv in production).
	Getenv func(string) string
	// WorkDir is the directory commands resolve relative paths against.
	WorkDir string
	// Args are the command-line arguments Execute runs (without the program
	// name): dev and serve pass them on to the node binary built with the
	// workspace's extensions.
	Args []string
	// SignalContext returns a context cancelled on SIGINT/SIGTERM.
	SignalContext func(parent context.Context) (context.Context, context.CancelFunc)
}

// NewFactory returns the production factory: real stdio, os.Getenv, the
// current directory and a signal-aware context.
func NewFactory() *Factory {
	wd, _ := os.Getwd()
	return &Factory{
		IO:      IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTerminal: isTerminal(os.Stdout)},
		Getenv:  os.Getenv,
		WorkDir: wd,
		SignalContext: func(parent context.Context) (context.Context, context.CancelFunc) {
			return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
		},
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}
