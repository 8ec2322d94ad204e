package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// newTestFactory returns a Factory with in-memory IO and a fixed environment.
func newTestFactory(t *testing.T, env map[string]string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	f := &Factory{
		IO:      IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut},
		Getenv:  func(k string) string { return env[k] },
		WorkDir: t.TempDir(),
		SignalContext: func(parent context.Context) (context.Context, context.CancelFunc) {
			return context.WithCancel(parent)
		},
	}
	return f, out, errOut
}

func TestVersion(t *testing.T) {
	f, out, _ := newTestFactory(t, nil)
	if code := Execute(f, []string{"version"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "plugin contract: 1") {
		t.Fatalf("version output: %q", out.String())
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	f, _, errOut := newTestFactory(t, nil)
	if code := Execute(f, []string{"no-such-command"}); code != 2 {
		t.Fatalf("exit %d, want 2 (stderr %q)", code, errOut.String())
	}
}

// TestUsageErrorsAreTyped: exit code 2 comes from the kind of error (an
// unknown command, a flag or argument-count error, a UsageError), never
// from its text: a runtime error that reads like a usage error exits 1.
func TestUsageErrorsAreTyped(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"no-such-command"}, 2, `unknown command "no-such-command" for "coordinator"`},
		{[]string{"serv"}, 2, "Did you mean this?\n\tserve"},
		{[]string{"version", "extra"}, 2, `unknown command "extra" for "coordinator version"`},
		{[]string{"init", "a", "b"}, 2, "accepts at most 1 arg(s), received 2"},
		{[]string{"version", "--nope"}, 2, "unknown flag: --nope"},
		{[]string{"fail", "usage"}, 2, "--x: expected a number"},
		{[]string{"fail", "runtime"}, 1, "unknown flag invalid argument requires at least accepts"},
		{[]string{"version"}, 0, ""},
		{nil, 0, ""},
	} {
		f, _, errOut := newTestFactory(t, nil)
		root := NewRootCommand(f)
		root.AddCommand(&cobra.Command{Use: "fail", Args: cobra.ExactArgs(1), RunE: func(_ *cobra.Command, args []string) error {
			if args[0] == "usage" {
				return UsageError("--x: expected a number")
			}
			return errors.New("unknown flag invalid argument requires at least accepts")
		}})
		if code := execute(root, errOut, c.args); code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", c.args, code, errOut.String(), c.code, c.want)
		}
	}
}
