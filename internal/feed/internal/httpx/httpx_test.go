package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`[]`))
		case "/big":
			w.Write(make([]byte, MaxBody+10))
		case "/limited":
			w.Header().Set("Retry-After", "7")
			http.Error(w, strings.Repeat("x", 2000), http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if b, err := Get(ctx, srv.Client(), srv.URL+"/ok", time.Second); err != nil || string(b) != "[]" {
		t.Fatalf("ok: %q %v", b, err)
	}
	if _, err := Get(ctx, srv.Client(), srv.URL+"/big", time.Second); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("big body: %v", err)
	}
	withPass := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/limited"
	_, err := Get(ctx, srv.Client(), withPass, time.Second)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 429 || se.RetryAfter != 7*time.Second || len(se.Body) > 520 {
		t.Fatalf("429: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "user:xxxxx@") {
		t.Fatalf("password not redacted: %v", err)
	}
	srv.Close()
	if _, err := Get(ctx, http.DefaultClient, withPass, time.Second); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("connection error leaks the password or is nil: %v", err)
	}
}

func TestNewEndpoint(t *testing.T) {
	e, err := NewEndpoint("test: URL", "", "https://api.example/", 0, 3*time.Second, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Base != "https://api.example" || e.Timeout != 3*time.Second || e.HTTP == nil || e.Clock == nil {
		t.Fatalf("defaults not applied: %+v", e)
	}
	for _, bad := range []string{"ftp://x", "hermes", "http://"} {
		if _, err := NewEndpoint("test: URL", bad, "", time.Second, time.Second, nil, nil); err == nil || !strings.Contains(err.Error(), "test: URL") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
