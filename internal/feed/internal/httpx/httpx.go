// Package httpx holds the small HTTP helpers the REST feed providers share:
// one GET with a deadline, a bounded body and an error that names the URL
// and the status.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/redact"
)

// MaxBody is the largest response body read (8 MiB); a longer body is an error.
const MaxBody = 8 << 20

// StatusError is returned for a non-2xx response.
type StatusError struct {
	URL        string
	StatusCode int
	// Body is the start of the response body (at most 512 bytes).
	Body string
	// RetryAfter is the parsed Retry-After header (0 when absent).
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.StatusCode, e.Body)
}

// Redact returns raw with any password replaced by "xxxxx", for error
// messages (see internal/redact).
func Redact(raw string) string { return redact.URL(raw) }

// Get performs GET rawURL with the given timeout (added to ctx) and returns
// the body. Errors name the URL (password redacted); non-2xx statuses
// return *StatusError.
func Get(ctx context.Context, client *http.Client, rawURL string, timeout time.Duration) ([]byte, error) {
	url := Redact(rawURL)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: building request: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("GET %s: no answer within %v: %w", url, timeout, err)
		}
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %w", url, err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("GET %s: body larger than %d bytes", url, MaxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{URL: url, StatusCode: resp.StatusCode, Body: strings.TrimSpace(Snippet(body))}
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			if d, err := time.ParseDuration(strings.TrimSpace(ra) + "s"); err == nil && d > 0 {
				se.RetryAfter = d
			}
		}
		return nil, se
	}
	return body, nil
}

// Snippet returns at most the first 512 bytes of b as text, for errors.
func Snippet(b []byte) string {
	if len(b) > 512 {
		return string(b[:512]) + "…"
	}
	return string(b)
}

// Endpoint is what every live provider needs to call its REST API: a base
// URL, a per-request timeout, an HTTP client and a clock.
type Endpoint struct {
	Base    string // http(s) URL with a host, no trailing slash
	Timeout time.Duration
	HTTP    *http.Client
	Clock   clock.Clock
}

// NewEndpoint applies the defaults (defBase, defTimeout, a new http.Client,
// the wall clock) and checks the base URL. what names the setting in
// errors, e.g. "pyth: Hermes URL".
func NewEndpoint(what, base, defBase string, timeout, defTimeout time.Duration, client *http.Client, clk clock.Clock) (Endpoint, error) {
	if base == "" {
		base = defBase
	}
	e := Endpoint{Base: strings.TrimRight(base, "/"), Timeout: timeout, HTTP: client, Clock: clk}
	if u, err := url.Parse(e.Base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Endpoint{}, fmt.Errorf("%s %q: expected an http(s) URL with a host", what, Redact(e.Base))
	}
	if e.Timeout <= 0 {
		e.Timeout = defTimeout
	}
	if e.HTTP == nil {
		e.HTTP = &http.Client{}
	}
	if e.Clock == nil {
		e.Clock = clock.Wall{}
	}
	return e, nil
}
