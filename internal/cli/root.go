package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
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
// by field, file or flag). Exit code 2 comes only from such typed errors,
// never from an error's text: unknown commands, flag errors and argument
// count errors are turned into them where cobra reports them (see
// NewRootCommand).
func UsageError(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// usageErr wraps err as a usage error (exit code 2).
func usageErr(err error) error {
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: 2, Err: err}
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
		//lint:ignore ST1005 the help hint is the last line the user reads, as in cobra's own usage errors
		return &ExitError{Code: 2, Err: fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())}
	})
	// With Args set, cobra hands an unknown subcommand to the root's Args
	// instead of returning its own untyped error; a runnable root prints
	// the help when called alone, as cobra does for a command group.
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return UsageError("%s\nRun '%s --help' for usage.", msg, c.CommandPath())
	}
	root.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	// --require-sandbox is REQUIRE_SANDBOX=true for this run (the process
	// environment wins over .local.env; node binaries started by dev
	// inherit it).
	var requireSandbox bool
	root.PersistentFlags().BoolVar(&requireSandbox, "require-sandbox", false, "refuse to start plugins when this machine lacks a sandbox mechanism (REQUIRE_SANDBOX=true)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if requireSandbox {
			return os.Setenv("REQUIRE_SANDBOX", "true")
		}
		return nil
	}
	names := make([]string, 0, len(commandBuilders))
	for n := range commandBuilders {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		root.AddCommand(commandBuilders[n](f))
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	typeArgErrors(root)
	return root
}

// typeArgErrors makes the argument validators of cmd's subcommands
// (cobra.NoArgs, MaximumNArgs, ...) return usage errors.
func typeArgErrors(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		if check := c.Args; check != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				if err := check(c, args); err != nil {
					return usageErr(err)
				}
				return nil
			}
		}
		typeArgErrors(c)
	}
}

// Execute runs the root command with args and returns the process exit
// code, printing any error to f.IO.ErrOut: an ExitError's code (2 for
// usage errors), else 1.
func Execute(f *Factory, args []string) int {
	if f.Args == nil {
		f.Args = args
	}
	return execute(NewRootCommand(f), f.IO.ErrOut, args)
}

func execute(root *cobra.Command, errOut io.Writer, args []string) int {
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(errOut, "Error:", ee.Err)
		}
		return ee.Code
	}
	fmt.Fprintln(errOut, "Error:", err)
	return 1
}
