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

// writeErr maps err to a status and JSON error body. Bodies carry fixed
// texts ("database unavailable", "query timed out", "internal error"):
// an error of the store may name the database host, port, user or file,
// which go to the log only.
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid query parameters", Detail: pe.problems})
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrNotMigrated):
		s.log.Warn("report store unavailable", "path", r.URL.Path, "error", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "database unavailable", Detail: []problem{}})
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("report query timed out", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: "query timed out", Detail: []problem{}})
	default:
		s.log.Error("report request failed", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{Error: "internal error (see the node log)", Detail: []problem{}})
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

// writeBody writes an already encoded JSON answer (as writeJSON would have
// encoded it, final newline included) with status.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// jsonEncoder encodes values exactly like writeJSON does (encoding/json,
// HTML characters not escaped), reusing one buffer. Not safe for
// concurrent use.
type jsonEncoder struct {
	buf  bytes.Buffer
	enc  *json.Encoder
	keys map[int][]string // by map size: the sorted keys of the last map of that size (sortedKeys)
}

// append appends the JSON encoding of v (without writeJSON's final
// newline) to out.
func (e *jsonEncoder) append(out []byte, v any) ([]byte, error) {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
	}
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return out, err
	}
	return append(out, bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))...), nil
}

// appendJSONString appends s as a JSON string exactly as writeJSON encodes
// it: printable ASCII without quote or backslash is copied as is, anything
// else goes through encoding/json.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			var e jsonEncoder
			enc, err := e.append(out, s)
			if err != nil { // a string always encodes; keep the output valid regardless
				return append(out, `""`...)
			}
			return enc
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}
