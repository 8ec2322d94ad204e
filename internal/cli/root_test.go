package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
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
