package cli

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/modelsapi"
)

// fleet is a model set for the models API (the host's Disable and Enable
// run on real plugins in host.TestDisableEnable).
type fleet struct {
	mu     sync.Mutex
	states []host.ModelState
}

func (f *fleet) States() []host.ModelState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]host.ModelState(nil), f.states...)
}

func (f *fleet) set(id string, stopped bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.states {
		if f.states[i].ID == id {
			f.states[i].Running, f.states[i].Stopped, f.states[i].Reason = !stopped, stopped, ""
			if stopped {
				f.states[i].Reason = host.StopDisabled
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown model id %q", host.ErrInvalidSpec, id)
}

func (f *fleet) Disable(id string) error { return f.set(id, true) }
func (f *fleet) Enable(id string) error  { return f.set(id, false) }
func (f *fleet) Stderr(id string) (string, error) {
	return "panic: boom in " + id + "\n", nil
}

// TestModelsCommand runs `coordinator models ...` with fake IO against the
// models API: list, disable and enable with the admin key, logs; the
// read key cannot disable; no admin key configured means no state change.
func TestModelsCommand(t *testing.T) {
	fl := &fleet{states: []host.ModelState{{ID: "m1", Name: "mean-reversion", Running: true, Generation: 1}}}
	srv := httptest.NewServer(modelsapi.New(modelsapi.Options{Fleet: fl, AdminKey: "adm", ReadKey: "rd"}))
	defer srv.Close()
	api := []string{"--api", srv.URL}
	run := func(env map[string]string, args ...string) (int, string, string) {
		f, out, errOut := newTestFactory(t, env)
		code := Execute(f, append(append([]string{"models"}, args...), api...))
		return code, out.String(), errOut.String()
	}
	admin := map[string]string{"ADMIN_API_KEY": "adm"}
	read := map[string]string{"READ_API_KEY": "rd"}

	if code, out, errOut := run(read, "list"); code != 0 || !strings.Contains(out, "m1") || !strings.Contains(out, "RUNNER_RUNNING") || !strings.Contains(out, "mean-reversion") {
		t.Fatalf("list: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(nil, "list"); code != 1 || !strings.Contains(errOut, "401 Unauthorized: a read key is required") {
		t.Errorf("list without a key: %d %q", code, errOut)
	}
	if code, _, errOut := run(map[string]string{"ADMIN_API_KEY": "rd"}, "disable", "m1"); code != 1 || !strings.Contains(errOut, "403 Forbidden: the read key cannot change state") {
		t.Errorf("disable with the read key: %d %q", code, errOut)
	}
	if code, _, errOut := run(read, "disable", "m1"); code != 2 || !strings.Contains(errOut, "ADMIN_API_KEY is not set") {
		t.Errorf("disable without ADMIN_API_KEY: %d %q", code, errOut)
	}
	if code, out, errOut := run(admin, "disable", "m1"); code != 0 || out != "model m1: desired state STOPPED, status RUNNER_STOPPED\n" {
		t.Fatalf("disable: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run(admin, "list", "--json"); code != 0 || !strings.Contains(out, `"desired_state":"STOPPED"`) {
		t.Errorf("list --json after disable: %d %q", code, out)
	}
	if code, out, errOut := run(admin, "enable", "m1"); code != 0 || out != "model m1: desired state RUNNING, status RUNNER_RUNNING\n" {
		t.Errorf("enable: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run(read, "logs", "m1"); code != 0 || out != "panic: boom in m1\n" {
		t.Errorf("logs: %d %q", code, out)
	}
	if code, _, errOut := run(admin, "disable", "nope"); code != 1 || !strings.Contains(errOut, `404 Not Found: no model "nope"`) {
		t.Errorf("disable an unknown model: %d %q", code, errOut)
	}

	off := httptest.NewServer(modelsapi.New(modelsapi.Options{Fleet: fl}))
	defer off.Close()
	f, _, errOut := newTestFactory(t, admin)
	if code := Execute(f, []string{"models", "disable", "m1", "--api", off.URL}); code != 1 || !strings.Contains(errOut.String(), "state changes are off on this node") {
		t.Errorf("disable on a node without ADMIN_API_KEY: %d %q", code, errOut)
	}
}

// TestModelsOptions: the API defaults to http://API_ADDR, the admin key
// goes with disable/enable and the read key (else the admin key) with list
// and logs; bad usage exits 2.
func TestModelsOptions(t *testing.T) {
	tests := []struct {
		args      []string
		env       map[string]string
		api, key  string
		action    string
		wantUsage bool
	}{
		{[]string{"list"}, nil, "http://127.0.0.1:8000", "", "list", false},
		{[]string{"list"}, map[string]string{"API_ADDR": "127.0.0.1:9100", "READ_API_KEY": "r", "ADMIN_API_KEY": "a"}, "http://127.0.0.1:9100", "r", "list", false},
		{[]string{"logs", "m1"}, map[string]string{"ADMIN_API_KEY": "a"}, "http://127.0.0.1:8000", "a", "logs", false},
		{[]string{"disable", "m1"}, map[string]string{"READ_API_KEY": "r", "ADMIN_API_KEY": "a"}, "http://127.0.0.1:8000", "a", "disable", false},
		{[]string{"enable"}, nil, "", "", "", true},
		{[]string{"list", "--api", "127.0.0.1:8000"}, nil, "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f, _, _ := newTestFactory(t, tt.env)
			var got *ModelsOptions
			cmd := NewCmdModels(f, func(o *ModelsOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			err := cmd.Execute()
			if tt.wantUsage {
				if err == nil {
					t.Fatalf("expected a usage error, ran with %+v", got)
				}
				return
			}
			if err != nil || got == nil || got.API != tt.api || got.Key != tt.key || got.Action != tt.action {
				t.Fatalf("options %+v, err %v; want api %s key %q action %s", got, err, tt.api, tt.key, tt.action)
			}
		})
	}
}
