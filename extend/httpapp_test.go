package extend

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHTTPAppLifecycle: the app serves once started, reports a listener
// that fails by itself on Failed, and Drain/Stop are safe afterwards.
func TestHTTPAppLifecycle(t *testing.T) {
	app := NewHTTPApp(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }), "127.0.0.1:0", nil)
	if app.Addr() != nil {
		t.Fatal("Addr before Start")
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + app.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	_ = app.(*httpApp).ln.Close() // the listener fails under the running server
	select {
	case err := <-app.Failed():
		if !strings.Contains(err.Error(), "report API on 127.0.0.1:") {
			t.Errorf("failure: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failure reported")
	}
	if err := app.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestHTTPAppListenError names the address and a fix.
func TestHTTPAppListenError(t *testing.T) {
	err := NewHTTPApp(http.NotFoundHandler(), "127.0.0.1:-1", nil).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:-1") {
		t.Fatalf("err = %v", err)
	}
}
