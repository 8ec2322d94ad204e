// Package redact hides passwords in database URLs, DSNs and HTTP URLs
// before they reach an error message or a log line, and secret values in
// log output (Writer).
package redact

import (
	"bytes"
	"encoding/json"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Mask replaces every password.
const Mask = "xxxxx"

var (
	dsnPassword      = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)`)
	userInfoPassword = regexp.MustCompile(`(://[^:/@\s]*:)([^@\s]*)(@)`)
)

// URL returns raw with any password replaced by Mask: the user-info
// password of a URL (postgres://user:secret@host → user:xxxxx@host), a
// password query parameter, or password=... in a key=value DSN. Text that
// does not parse as a URL is redacted by pattern (user:password@ and
// password=...). Other text is returned unchanged.
func URL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), Mask)
			}
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", Mask)
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	raw = userInfoPassword.ReplaceAllString(raw, "${1}"+Mask+"${3}")
	return dsnPassword.ReplaceAllString(raw, "${1}"+Mask)
}

// Password extracts the password of a URL or DSN ("" when none), so that
// callers can scrub it from driver error texts that echo it.
func Password(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				return p
			}
		}
		return u.Query().Get("password")
	}
	if m := userInfoPassword.FindStringSubmatch(raw); m != nil {
		return m[2]
	}
	if m := dsnPassword.FindStringSubmatch(raw); m != nil {
		return strings.Trim(m[2], "'")
	}
	return ""
}

// minSecretLen is the shortest value Writer hides: shorter values (a
// one-letter password) would mask unrelated text everywhere.
const minSecretLen = 4

// Writer hides secret values in everything written through it (the host's
// log output: its own lines and the plugin output it re-logs). Each value
// is replaced by Mask, in plain form and JSON-escaped form (JSON log
// lines). Values shorter than 4 bytes are not hidden. hclog writes one
// whole line per Write, so a value is never split across writes.
type Writer struct {
	w       io.Writer
	secrets []string
}

// NewWriter returns a Writer over w hiding secrets (empty ones ignored).
func NewWriter(w io.Writer, secrets ...string) *Writer {
	var out []string
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		out = append(out, s)
		if b, err := json.Marshal(s); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != s {
				out = append(out, esc)
			}
		}
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return &Writer{w: w, secrets: out}
}

// Write writes p with every secret replaced by Mask; it reports len(p)
// on success.
func (r *Writer) Write(p []byte) (int, error) {
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, []byte(s)) {
			out = bytes.ReplaceAll(out, []byte(s), []byte(Mask))
		}
	}
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
