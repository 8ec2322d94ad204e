package cli

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// ExitError carries a process exit code out of a command. Commands return
// it for "ran fine but the answer is no" (doctor: 1) and usage errors (2).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// UsageError returns an ExitError with code 2 (bad usage or bad input named
// by field, file or flag).
func UsageError(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// commandBuilders are registered by each command's file (init functions), so
// adding a command never edits this file.
var commandBuilders = map[string]func(*Factory) *cobra.Command{}

// register adds a top-level command builder under name.
func register(name string, build func(*Factory) *cobra.Command) {
	if _, dup := commandBuilders[name]; dup {
		panic("cli: command registered twice: " + name)
	}
	commandBuilders[name] = build
}

// NewRootCommand builds the coordinator root command with every registered
// subcommand.
func NewRootCommand(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "coordinator",
		Short: "Run prediction competitions (Crunches): scaffold, check and run a competition node",
		Long: `coordinator runs a prediction competition node: feeds bring market data in,
participant models (plugins) predict, predictions are scored against what really
happened, and a ranked leaderboard is served over a JSON API.

Start a new competition:   coordinator init <name>
Check a workspace:         coordinator doctor
Run it locally:            coordinator dev
Run it in production:      coordinator migrate && coordinator serve all`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &ExitError{Code: 2, Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	names := make([]string, 0, len(commandBuilders))
	for n := range commandBuilders {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		root.AddCommand(commandBuilders[n](f))
	}
	return root
}

// Execute runs the root command with args and returns the process exit
// code, printing any error to f.IO.ErrOut.
func Execute(f *Factory, args []string) int {
	root := NewRootCommand(f)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(f.IO.ErrOut, "Error:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(f.IO.ErrOut, "Error:", err)
	// Unknown commands and flag errors are usage errors.
	if isUsageErr(err) {
		return 2
	}
	return 1
}

func isUsageErr(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
