package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/store"
)

// TimeLayout is how every timestamp the API produces is written: RFC 3339,
// UTC, millisecond precision, "Z" suffix.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// ts formats t with TimeLayout; the zero time is JSON null.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(TimeLayout)
}

// tsPtr is ts for optional times.
func tsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// problem is one bad query parameter.
type problem struct {
	Param   string `json:"param"`
	Problem string `json:"problem"`
}

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error  string    `json:"error"`
	Detail []problem `json:"detail"`
}

// paramError is a 400 with one problem per bad parameter.
type paramError struct{ problems []problem }

func (e *paramError) Error() string {
	var b bytes.Buffer
	b.WriteString("invalid query parameters:")
	for _, p := range e.problems {
		b.WriteString(" " + p.Param + ": " + p.Problem + ";")
	}
	return b.String()
}

// params collects query-parameter problems.
type params struct{ problems []problem }

func (p *params) add(param, msg string) { p.problems = append(p.problems, problem{param, msg}) }

// err returns a *paramError when any problem was recorded, else nil.
func (p *params) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &paramError{problems: p.problems}
}

// writeErr maps err to a status and JSON error body.
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid query parameters", Detail: pe.problems})
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrNotMigrated):
		s.log.Warn("report store unavailable", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "database unavailable: " + err.Error(), Detail: []problem{}})
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("report query timed out", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "query timed out: " + err.Error(), Detail: []problem{}})
	default:
		s.log.Error("report request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error: " + err.Error(), Detail: []problem{}})
	}
}

// writeJSON encodes v with status. Encoding errors after the header is
// written cannot be reported to the client and are dropped.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		b, _ := json.Marshal(errorBody{Error: "encoding the response failed: " + err.Error(), Detail: []problem{}})
		buf.Write(b)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
