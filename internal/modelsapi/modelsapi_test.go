package modelsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
)

// fakeFleet records Disable/Enable like the host's model set (the host's
// own test runs them on real plugins: host.TestDisableEnable).
type fakeFleet struct {
	mu     sync.Mutex
	states []host.ModelState
}

func (f *fakeFleet) States() []host.ModelState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.states)
}

func (f *fakeFleet) set(id string, fn func(*host.ModelState)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.states {
		if f.states[i].ID == id {
			fn(&f.states[i])
			return nil
		}
	}
	return fmt.Errorf("%w: unknown model id %q", host.ErrInvalidSpec, id)
}

func (f *fakeFleet) Disable(id string) error {
	return f.set(id, func(s *host.ModelState) { s.Running, s.Stopped, s.Reason = false, true, host.StopDisabled })
}

func (f *fakeFleet) Enable(id string) error {
	return f.set(id, func(s *host.ModelState) { s.Running, s.Stopped, s.Reason = true, false, "" })
}

func (f *fakeFleet) Stderr(id string) (string, error) {
	if err := f.set(id, func(*host.ModelState) {}); err != nil {
		return "", err
	}
	return "2026-12-06T03:00:00Z coordinator: generation 1 starting\nTraceback: boom in " + id + "\n", nil
}

func newFleet() *fakeFleet {
	return &fakeFleet{states: []host.ModelState{
		{ID: "m1", Name: "mean-reversion", Running: true, Generation: 1},
		{ID: "m2", Stopped: true, Reason: host.StopBadImplementation, LastError: "no subclass of TrackerBase", Generation: 1},
		{ID: "m3", CoolingDown: true, Reason: host.StopMultipleTimeout, NextRetry: time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC), Generation: 3},
		{ID: "m4", Generation: 0},
	}}
}

func server(t *testing.T, admin, read string) (*httptest.Server, *fakeFleet) {
	t.Helper()
	f := newFleet()
	srv := httptest.NewServer(New(Options{Fleet: f, CrunchID: "btc-up", AdminKey: admin, ReadKey: read,
		Models: []config.ModelConfig{{ID: "m1", PlayerID: "p1", PlayerName: "alice"}, {ID: "m2", Name: "trend", PlayerID: "p2"}}}))
	t.Cleanup(srv.Close)
	return srv, f
}

func do(t *testing.T, method, url, key, contentType string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// uiForm is the body the UI's Models page sends for its switch: a
// multipart form with desired_state only.
func uiForm(t *testing.T, fields map[string]string) (string, io.Reader) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.FormDataContentType(), &buf
}

// TestAuth: state changes are off without ADMIN_API_KEY and need the admin
// key (no key and a wrong key: 401, the read key: 403); reads are open
// without READ_API_KEY, else need the read or the admin key.
func TestAuth(t *testing.T) {
	patch := func(t *testing.T, base, key string) int {
		ct, body := uiForm(t, map[string]string{"desired_state": "STOPPED"})
		code, _ := do(t, http.MethodPatch, base+"/models/m1", key, ct, body)
		return code
	}
	t.Run("no key configured", func(t *testing.T) {
		srv, f := server(t, "", "")
		for _, key := range []string{"", "anything"} {
			if code := patch(t, srv.URL, key); code != http.StatusForbidden {
				t.Errorf("PATCH with key %q and no ADMIN_API_KEY: %d, want 403", key, code)
			}
		}
		if f.States()[0].Stopped {
			t.Error("a state change went through with no admin key configured")
		}
		if code, _ := do(t, http.MethodGet, srv.URL+"/models", "", "", nil); code != http.StatusOK {
			t.Errorf("GET /models without READ_API_KEY: %d, want 200 (open)", code)
		}
	})
	t.Run("keys configured", func(t *testing.T) {
		srv, f := server(t, "admin-secret", "read-secret")
		for _, c := range []struct {
			name, key string
			want      int
		}{{"no key", "", 401}, {"wrong key", "nope", 401}, {"read key on an admin route", "read-secret", 403}} {
			if code := patch(t, srv.URL, c.key); code != c.want {
				t.Errorf("PATCH, %s: %d, want %d", c.name, code, c.want)
			}
		}
		if f.States()[0].Stopped {
			t.Fatal("a refused state change went through")
		}
		if code := patch(t, srv.URL, "admin-secret"); code != http.StatusOK || !f.States()[0].Stopped {
			t.Errorf("PATCH with the admin key: %d, stopped %v", code, f.States()[0].Stopped)
		}
		for _, c := range []struct {
			key  string
			want int
		}{{"", 401}, {"nope", 401}, {"read-secret", 200}, {"admin-secret", 200}} {
			for _, path := range []string{"/models", "/models/m1/logs"} {
				if code, _ := do(t, http.MethodGet, srv.URL+path, c.key, "", nil); code != c.want {
					t.Errorf("GET %s with key %q: %d, want %d", path, c.key, code, c.want)
				}
			}
		}
		// A bearer token works like X-API-Key.
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/models", nil)
		req.Header.Set("Authorization", "Bearer read-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("bearer read key: %v %v", resp, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	})
}

// uiModelFields are the fields of the UI's Model type
// (apps/starter/src/modules/model/domain/types.ts) and uiStatuses its
// Status values.
var (
	uiModelFields = []string{"builder_log_uri", "crunch_id", "cruncher_id", "cruncher_name", "deployment_id",
		"desired_state", "id", "model_name", "runner_log_uri", "status", "statusMessage"}
	uiStatuses = []string{"RUNNER_INITIALIZING", "RUNNER_RUNNING", "RUNNER_STOPPING", "RUNNER_STOPPED", "RUNNER_FAILED",
		"BUILDER_BUILDING", "BUILDER_FAILED", "BUILDER_SUCCESS", "CREATED"}
)

// TestContract checks GET /models against the UI's Model type: a JSON
// array (an object crashes the page), no null element, exactly the UI's
// fields, string ids, a status and desired state from the UI's enums;
// then the UI's switch (multipart PATCH) stops and starts a model and the
// runner log URI serves its stderr.
func TestContract(t *testing.T) {
	srv, _ := server(t, "admin-secret", "")
	code, body := do(t, http.MethodGet, srv.URL+"/models", "", "", nil)
	var rows []map[string]any
	if code != http.StatusOK || json.Unmarshal([]byte(body), &rows) != nil || len(rows) != 4 {
		t.Fatalf("GET /models: %d %s; expected a JSON array of 4 models", code, body)
	}
	want := map[string][2]string{ // id → status, desired_state
		"m1": {"RUNNER_RUNNING", "RUNNING"}, "m2": {"RUNNER_FAILED", "RUNNING"},
		"m3": {"RUNNER_FAILED", "RUNNING"}, "m4": {"RUNNER_INITIALIZING", "RUNNING"},
	}
	for _, row := range rows {
		if row == nil {
			t.Fatal("a null element in /models")
		}
		var keys []string
		for k := range row {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !slices.Equal(keys, uiModelFields) {
			t.Errorf("fields %v, want the UI's %v", keys, uiModelFields)
		}
		id, _ := row["id"].(string)
		if !slices.Contains(uiStatuses, fmt.Sprint(row["status"])) {
			t.Errorf("%s: status %v is not one of the UI's", id, row["status"])
		}
		if w := want[id]; row["status"] != w[0] || row["desired_state"] != w[1] {
			t.Errorf("%s: status %v, desired_state %v; want %v", id, row["status"], row["desired_state"], w)
		}
		for _, k := range []string{"id", "deployment_id", "crunch_id", "cruncher_id"} {
			if _, ok := row[k].(string); !ok {
				t.Errorf("%s: %s is %T, want a string", id, k, row[k])
			}
		}
		if uri, _ := row["runner_log_uri"].(string); uri != srv.URL+"/models/"+id+"/logs" {
			t.Errorf("%s: runner_log_uri %q", id, row["runner_log_uri"])
		}
	}
	if rows[0]["model_name"] != "mean-reversion" || rows[0]["cruncher_name"] != "alice" || rows[1]["model_name"] != "trend" || rows[0]["crunch_id"] != "btc-up" {
		t.Errorf("names: %v / %v", rows[0], rows[1])
	}
	if msg, _ := rows[1]["statusMessage"].(string); !strings.Contains(msg, "BAD_IMPLEMENTATION: no subclass of TrackerBase") {
		t.Errorf("m2 statusMessage %q", msg)
	}
	if msg, _ := rows[2]["statusMessage"].(string); !strings.Contains(msg, "MULTIPLE_TIMEOUT: cooling down until 2026-12-06T04:00:00Z") {
		t.Errorf("m3 statusMessage %q", msg)
	}

	for _, desired := range []string{"STOPPED", "RUNNING"} {
		ct, b := uiForm(t, map[string]string{"desired_state": desired})
		code, body := do(t, http.MethodPatch, srv.URL+"/models/m1", "admin-secret", ct, b)
		var m Model
		if code != http.StatusOK || json.Unmarshal([]byte(body), &m) != nil || m.DesiredState != desired {
			t.Errorf("PATCH desired_state=%s: %d %s", desired, code, body)
		}
	}
	// The UI's logs fetch adds follow=false&from_start=true.
	code, body = do(t, http.MethodGet, srv.URL+"/models/m2/logs?follow=false&from_start=true", "", "", nil)
	if code != http.StatusOK || !strings.Contains(body, "Traceback: boom in m2") {
		t.Errorf("logs: %d %q", code, body)
	}
}

// TestPatchErrors: bad or unsupported fields answer 400 with fieldErrors
// (the UI's toast reads them), an unknown model 404; JSON and URL-encoded
// bodies work too.
func TestPatchErrors(t *testing.T) {
	srv, f := server(t, "k", "")
	for _, c := range []struct {
		name, ct, body string
		want           int
		field          string
	}{
		{"bad state", "application/json", `{"desired_state":"PAUSED"}`, 400, "desired_state"},
		{"rename", "application/json", `{"desired_state":"STOPPED","model_name":"x"}`, 400, "model_name"},
		{"missing", "application/json", `{}`, 400, "desired_state"},
		{"not JSON", "application/json", `[`, 400, ""},
		{"other content type", "text/plain", `STOPPED`, 400, ""},
		{"url-encoded", "application/x-www-form-urlencoded", `desired_state=STOPPED`, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := do(t, http.MethodPatch, srv.URL+"/models/m2", "k", c.ct, strings.NewReader(c.body))
			if code != c.want {
				t.Fatalf("%d %s, want %d", code, body, c.want)
			}
			var e Error
			_ = json.Unmarshal([]byte(body), &e)
			if c.want != 200 && e.Message == "" {
				t.Errorf("no message: %s", body)
			}
			if c.field != "" && (len(e.FieldErrors) == 0 || e.FieldErrors[0].Property != c.field) {
				t.Errorf("fieldErrors %+v, want one for %s", e.FieldErrors, c.field)
			}
		})
	}
	if st := f.States()[1]; st.Reason != host.StopDisabled {
		t.Errorf("m2 after the url-encoded STOPPED: %+v", st)
	}
	if code, _ := do(t, http.MethodPatch, srv.URL+"/models/nope", "k", "application/json", strings.NewReader(`{"desired_state":"STOPPED"}`)); code != 404 {
		t.Errorf("unknown model: %d", code)
	}
	if code, _ := do(t, http.MethodGet, srv.URL+"/models/nope/logs", "", "", nil); code != 404 {
		t.Errorf("logs of an unknown model: %d", code)
	}
	if code, _ := do(t, http.MethodDelete, srv.URL+"/models/m1", "k", "", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d, want 405", code)
	}
}
