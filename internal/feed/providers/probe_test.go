package providers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
)

func TestProbe(t *testing.T) {
	publish := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	hermes := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"binary":{"encoding":"hex","data":["00"]},"parsed":[{"id":"e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43","price":{"price":"9123456789012","conf":"1234567","expo":-8,"publish_time":%d},"ema_price":{"price":"9123000000000","conf":"1200000","expo":-8,"publish_time":%d},"metadata":{"slot":1,"proof_available_time":%d,"prev_publish_time":%d}}]}`,
			publish.Unix(), publish.Unix(), publish.Unix(), publish.Unix()-1)
	}))
	defer hermes.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + ln.Addr().String()
	ln.Close()
	sim := clock.NewSimulated(publish.Add(5 * time.Second))

	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, price string)
	}{
		{"pyth", map[string]string{"PYTH_HERMES_URL": hermes.URL}, "", func(t *testing.T, v string) {
			if !strings.Contains(v, "91234.56789012") {
				t.Fatalf("price not scaled by 10^expo: %s", v)
			}
		}},
		{"pyth unreachable", map[string]string{"PYTH_HERMES_URL": closed, "FEED_TIMEOUT_SECONDS": "2"}, ln.Addr().String(), nil},
		{"replay", map[string]string{"FEED_PROVIDER": "replay", "FEED_REPLAY_FILE": feedtest.SharedCSV(t)}, "", func(t *testing.T, v string) {
			if !strings.Contains(v, "23142.31") {
				t.Fatalf("first candle close missing: %s", v)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := Probe(context.Background(), cfg(t, c.env), Options{Clock: sim})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want an error naming %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, string(rec.Values))
		})
	}
}
