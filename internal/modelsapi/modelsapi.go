// Package modelsapi serves the model orchestrator API that the report UI's
// Models page reads (crunchdao/coordinator-webapp, apps/starter, module
// model) for a node that runs its models itself (Go plugins and local
// Python models): the list of models with their state, a desired state
// per model (RUNNING or STOPPED) and each model's captured stderr.
//
//	GET   /models              every model, a JSON array of Model
//	PATCH /models/{id}         set desired_state (multipart form, URL-encoded form or JSON)
//	GET   /models/{id}/logs    the model's stderr as text/plain (runner_log_uri)
//
// Keys (constant-time compared) come in the X-API-Key header or as
// "Authorization: Bearer <key>". A state change needs ADMIN_API_KEY; with
// no admin key configured, state changes are off (403), never open. Reads
// need READ_API_KEY or the admin key when READ_API_KEY is set, else they
// are open (the UI sends no key).
//
// Stopping a model is the plugin host's stop path (host.ModelSet.Disable,
// reason DISABLED): its slots get ABSENT rows under the non-answer rules.
// Starting one is host.ModelSet.Enable. The desired state is held by the
// running node: a restarted node starts every model of config/models.json.
package modelsapi

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
)

// Variables holding the API keys (registered settings).
const (
	AdminKeyVar = "ADMIN_API_KEY"
	ReadKeyVar  = "READ_API_KEY"
)

// Desired states (the UI's DesiredState).
const (
	DesiredRunning = "RUNNING"
	DesiredStopped = "STOPPED"
)

// Statuses (the UI's Status values a local node uses).
const (
	StatusInitializing = "RUNNER_INITIALIZING"
	StatusRunning      = "RUNNER_RUNNING"
	StatusStopped      = "RUNNER_STOPPED"
	StatusFailed       = "RUNNER_FAILED"
)

// Model is one row of GET /models: the fields of the UI's Model type.
type Model struct {
	// ID is the model's id in config/models.json (the join key to
	// /reports/models' model_id).
	ID string `json:"id"`
	// ModelName is models.json's name, else the name the model's
	// Describe reports; null before either is known.
	ModelName *string `json:"model_name"`
	// DeploymentID names the running process: "local:<id>:<generation>".
	DeploymentID string `json:"deployment_id"`
	// DesiredState is STOPPED when an operator stopped the model, else
	// RUNNING.
	DesiredState string `json:"desired_state"`
	// Status is RUNNER_RUNNING, RUNNER_INITIALIZING (starting or
	// restarting), RUNNER_STOPPED (stopped by an operator) or
	// RUNNER_FAILED (stopped or cooling down by the stop rules).
	Status string `json:"status"`
	// StatusMessage explains a status other than running; null otherwise.
	StatusMessage *string `json:"statusMessage"`
	CrunchID      string  `json:"crunch_id"`
	// CruncherID and CruncherName are models.json's player_id and
	// player_name.
	CruncherID   string  `json:"cruncher_id"`
	CruncherName *string `json:"cruncher_name"`
	// BuilderLogURI is null: plugin builds are reported by dev and doctor.
	BuilderLogURI *string `json:"builder_log_uri"`
	// RunnerLogURI is the absolute URL of the model's stderr.
	RunnerLogURI *string `json:"runner_log_uri"`
}

// Fleet is the model set the API shows and controls (*host.ModelSet).
type Fleet interface {
	States() []host.ModelState
	Disable(id string) error
	Enable(id string) error
	Stderr(id string) (string, error)
}

// Options configure New.
type Options struct {
	Fleet Fleet
	// Models are config/models.json's rows (names and players).
	Models   []config.ModelConfig
	CrunchID string
	// AdminKey enables state changes; ReadKey, when set, guards reads.
	AdminKey, ReadKey string
	Logger            hclog.Logger
}

// maxBody bounds a PATCH body (the UI's form has no files for a state
// change).
const maxBody = 1 << 20

// New returns the API's handler (routes under /models).
func New(o Options) http.Handler {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	a := &api{o: o, cfg: map[string]config.ModelConfig{}}
	for _, m := range o.Models {
		a.cfg[m.ID] = m
	}
	mux := http.NewServeMux()
	mux.Handle("GET /models", a.read(http.HandlerFunc(a.list)))
	mux.Handle("PATCH /models/{id}", a.admin(http.HandlerFunc(a.patch)))
	mux.Handle("GET /models/{id}/logs", a.read(http.HandlerFunc(a.logs)))
	return mux
}

type api struct {
	o   Options
	cfg map[string]config.ModelConfig
}

// Error is the body of every error answer: message, and fieldErrors for a
// bad field (the shape the UI's error toast reads).
type Error struct {
	Message     string       `json:"message"`
	FieldErrors []FieldError `json:"fieldErrors,omitempty"`
}

// FieldError names a request field and what is wrong with it.
type FieldError struct {
	Property string `json:"property"`
	Message  string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, Error{Message: fmt.Sprintf(format, args...)})
}

// presentedKey returns the key of X-API-Key or of a bearer Authorization.
func presentedKey(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	return ""
}

func equal(a, b string) bool {
	return b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// read guards a read: open without READ_API_KEY, else the read or the
// admin key.
func (a *api) read(next http.Handler) http.Handler {
	return RequireRead(a.o.ReadKey, a.o.AdminKey, next)
}

// RequireRead guards a read route of the node (this API's reads, the
// metrics): with readKey set, a request must present readKey or adminKey
// (X-API-Key or a bearer token, constant-time compared), else it gets 401;
// with no readKey, reads are open.
func RequireRead(readKey, adminKey string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if readKey != "" {
			k := presentedKey(r)
			if !equal(k, readKey) && !equal(k, adminKey) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="models"`)
				fail(w, http.StatusUnauthorized, "a read key is required: send READ_API_KEY or ADMIN_API_KEY in X-API-Key or as a bearer token")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// admin guards a state change: off without ADMIN_API_KEY, 401 without the
// right key, 403 for the read key.
func (a *api) admin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.o.AdminKey == "" {
			fail(w, http.StatusForbidden, "state changes are off on this node: set %s in its environment (or .local.env) to enable them", AdminKeyVar)
			return
		}
		k := presentedKey(r)
		switch {
		case equal(k, a.o.AdminKey):
			next.ServeHTTP(w, r)
		case equal(k, a.o.ReadKey):
			fail(w, http.StatusForbidden, "the read key cannot change state: send %s", AdminKeyVar)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="models"`)
			fail(w, http.StatusUnauthorized, "an admin key is required: send %s in X-API-Key or as a bearer token", AdminKeyVar)
		}
	})
}

func (a *api) list(w http.ResponseWriter, r *http.Request) {
	out := []Model{}
	for _, st := range a.o.Fleet.States() {
		out = append(out, a.row(r, st))
	}
	writeJSON(w, http.StatusOK, out)
}

// state returns the state of model id, false when unknown.
func (a *api) state(id string) (host.ModelState, bool) {
	for _, st := range a.o.Fleet.States() {
		if st.ID == id {
			return st, true
		}
	}
	return host.ModelState{}, false
}

func (a *api) patch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := a.state(id); !ok {
		fail(w, http.StatusNotFound, "no model %q on this node (config/models.json)", id)
		return
	}
	fields, err := readFields(w, r)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	var ferrs []FieldError
	desired := ""
	for k, v := range fields {
		switch k {
		case "desired_state":
			if v != DesiredRunning && v != DesiredStopped {
				ferrs = append(ferrs, FieldError{k, fmt.Sprintf("expected %s or %s, found %q", DesiredRunning, DesiredStopped, v)})
			}
			desired = v
		case "model_name", "cruncher_name", "files":
			ferrs = append(ferrs, FieldError{k, "cannot be changed through this API on a node that runs its models itself: edit config/models.json and restart the node"})
		default:
			ferrs = append(ferrs, FieldError{k, "unknown field (expected desired_state)"})
		}
	}
	if desired == "" && len(ferrs) == 0 {
		ferrs = append(ferrs, FieldError{"desired_state", "missing: expected RUNNING or STOPPED"})
	}
	if len(ferrs) > 0 {
		writeJSON(w, http.StatusBadRequest, Error{Message: "invalid model update", FieldErrors: ferrs})
		return
	}
	if desired == DesiredStopped {
		err = a.o.Fleet.Disable(id)
	} else {
		err = a.o.Fleet.Enable(id)
	}
	if err != nil {
		fail(w, http.StatusConflict, "model %s: %v", id, err)
		return
	}
	a.o.Logger.Info("model desired state changed through the API", "model_id", id, "desired_state", desired, "remote", r.RemoteAddr)
	st, _ := a.state(id)
	writeJSON(w, http.StatusOK, a.row(r, st))
}

// readFields reads a PATCH body: multipart form (the UI), URL-encoded form
// or a JSON object of strings. A repeated field keeps its first value.
func readFields(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	out := map[string]string{}
	var vals url.Values
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxBody); err != nil {
			return nil, fmt.Errorf("read the multipart form: %w", err)
		}
		vals = r.MultipartForm.Value
		for k := range r.MultipartForm.File {
			out[k] = ""
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, fmt.Errorf("read the form: %w", err)
		}
		vals = r.PostForm
	case "application/json", "":
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, fmt.Errorf("expected a JSON object such as {\"desired_state\":\"STOPPED\"}: %w", err)
		}
		for k, v := range m {
			s, ok := v.(string)
			if !ok && v != nil {
				return nil, fmt.Errorf("field %s: expected a string, found %T", k, v)
			}
			out[k] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("content type %q: expected multipart/form-data, application/x-www-form-urlencoded or application/json", ct)
	}
	for k, v := range vals {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out, nil
}

func (a *api) logs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	text, err := a.o.Fleet.Stderr(id)
	if errors.Is(err, host.ErrInvalidSpec) {
		fail(w, http.StatusNotFound, "no model %q on this node (config/models.json)", id)
		return
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "model %s: %v", id, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte(text))
}

// row builds the Model of st; r gives the scheme and host of the log URI.
func (a *api) row(r *http.Request, st host.ModelState) Model {
	c := a.cfg[st.ID]
	m := Model{
		ID: st.ID, DeploymentID: fmt.Sprintf("local:%s:%d", st.ID, st.Generation),
		DesiredState: DesiredRunning, CrunchID: a.o.CrunchID, CruncherID: c.PlayerID,
		ModelName: optional(c.Name), CruncherName: optional(c.PlayerName),
	}
	if m.ModelName == nil {
		m.ModelName = optional(st.Name)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	logs := scheme + "://" + r.Host + "/models/" + url.PathEscape(st.ID) + "/logs"
	m.RunnerLogURI = &logs
	var msg string
	switch {
	case st.Stopped && st.Reason == host.StopDisabled:
		m.DesiredState, m.Status = DesiredStopped, StatusStopped
		msg = "stopped by an operator"
	case st.Stopped:
		m.Status = StatusFailed
		msg = fmt.Sprintf("stopped: %s", st.Reason)
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
	case st.CoolingDown:
		m.Status = StatusFailed
		msg = fmt.Sprintf("%s: cooling down until %s", st.Reason, st.NextRetry.UTC().Format("2006-01-02T15:04:05Z"))
		if st.LastError != "" {
			msg += "; last error: " + st.LastError
		}
	case st.Running:
		m.Status = StatusRunning
	default:
		m.Status = StatusInitializing
		msg = "starting"
		if !st.NextRetry.IsZero() {
			msg = "restarting at " + st.NextRetry.UTC().Format("2006-01-02T15:04:05Z")
		}
		if st.LastError != "" {
			msg += "; last error: " + st.LastError
		}
	}
	m.StatusMessage = optional(msg)
	return m
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
