package pyth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
)

const (
	btcID = "e62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"
	ethID = "ff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace"
	solID = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"
)

// element renders one parsed update in Hermes' real shape (ids without 0x,
// price and conf as strings, plus ema_price and metadata).
func element(id, price, conf string, expo int, publish int64) string {
	return fmt.Sprintf(`{"id":%q,"price":{"price":%q,"conf":%q,"expo":%d,"publish_time":%d},`+
		`"ema_price":{"price":%q,"conf":%q,"expo":%d,"publish_time":%d},`+
		`"metadata":{"slot":147002153,"proof_available_time":%d,"prev_publish_time":%d}}`,
		id, price, conf, expo, publish, price, conf, expo, publish, publish+1, publish-1)
}

func hermesBody(elems ...string) string {
	return `{"binary":{"encoding":"hex","data":["504e41550100000003b801000000040d00"]},"parsed":[` + strings.Join(elems, ",") + `]}`
}

type hermes struct {
	srv      *httptest.Server
	requests atomic.Int32
	lastIDs  atomic.Value // []string
}

func newHermes(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) *hermes {
	t.Helper()
	h := &hermes{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if r.URL.Path != "/v2/updates/price/latest" || r.URL.Query().Get("parsed") != "true" {
			http.Error(w, "unexpected request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		h.lastIDs.Store(r.URL.Query()["ids[]"])
		handler(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

var publish = time.Date(2024, 5, 29, 16, 26, 40, 0, time.UTC)

func client(t *testing.T, base string, cfg Config) *Client {
	t.Helper()
	cfg.BaseURL = base
	if cfg.Clock == nil {
		cfg.Clock = clock.NewSimulated(publish.Add(2 * time.Second))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLatestRealShape(t *testing.T) {
	h := newHermes(t, func(w http.ResponseWriter, r *http.Request) {
		// ETH answered with a 0x prefix in upper case: matching must normalise.
		fmt.Fprint(w, hermesBody(
			element(btcID, "6743210000000", "3145223456", -8, publish.Unix()),
			element("0x"+strings.ToUpper(ethID), "378912345678", "201234567", -8, publish.Unix()-1),
		))
	})
	c := client(t, h.srv.URL, Config{})
	page, err := c.Latest(context.Background(), []string{"btc", "ETH"}, "1s")
	if err != nil {
		t.Fatal(err)
	}
	recs := page.Records
	ids, _ := h.lastIDs.Load().([]string)
	if len(ids) != 2 || ids[0] != btcID || ids[1] != ethID {
		t.Fatalf("requested ids %v", ids)
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	tests := []struct {
		asset       string
		price, conf float64
		publish     time.Time
		feedID      string
	}{
		{"BTC", 67432.1, 31.45223456, publish, btcID},
		{"ETH", 3789.12345678, 2.01234567, publish.Add(-time.Second), ethID},
	}
	for i, tc := range tests {
		r := recs[i]
		if r.Provider != "pyth" || r.Asset != tc.asset || r.Kind != feed.KindTick || r.Granularity != "1s" {
			t.Errorf("record %d labels %+v", i, r)
		}
		if !r.TsEvent.Equal(tc.publish) || r.TsEvent.Location() != time.UTC {
			t.Errorf("record %d TsEvent %v, want %v UTC", i, r.TsEvent, tc.publish)
		}
		var v struct {
			Price, Conf float64
			Expo        int
			PublishTime int64 `json:"publish_time"`
		}
		if err := json.Unmarshal(r.Values, &v); err != nil {
			t.Fatal(err)
		}
		if v.Price != tc.price || v.Conf != tc.conf || v.Expo != -8 || v.PublishTime != tc.publish.Unix() {
			t.Errorf("record %d values %s", i, r.Values)
		}
		if string(r.Meta) != `{"feed_id":"`+tc.feedID+`"}` {
			t.Errorf("record %d meta %s", i, r.Meta)
		}
	}
}

func TestFeedIDs(t *testing.T) {
	c := client(t, "http://hermes.invalid", Config{FeedIDs: map[string]string{"doge": "0xDCEF50DD0A4CD2DCC17E45DF1676DCB336A11A61C69DF7A0299B0150C672D25C"}})
	for asset, want := range map[string]string{"BTC": btcID, "eth": ethID, "SOL": solID, "DOGE": "dcef50dd0a4cd2dcc17e45df1676dcb336a11a61c69df7a0299b0150c672d25c"} {
		got, err := c.FeedID(asset)
		if err != nil || got != want {
			t.Errorf("FeedID(%s) = %q, %v; want %q", asset, got, err, want)
		}
	}
	if _, err := c.FeedID("XRP"); !errors.Is(err, feed.ErrUnsupported) || !strings.Contains(err.Error(), "PYTH_FEED_ID_XRP") {
		t.Errorf("unknown asset error %v", err)
	}
	if _, err := New(Config{FeedIDs: map[string]string{"X": "0x1234"}}); err == nil {
		t.Error("short feed id accepted")
	}
	if _, err := New(Config{BaseURL: "ftp://x"}); err == nil {
		t.Error("ftp base URL accepted")
	}
}

func TestLatestErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"http 404 unknown id", 404, `Price ids not found: e62df6c8b4a85fe1cc8b337a5f8854d9c1f5f59e4cb4ce8b063a492f6ed5b5b6`, "HTTP 404: Price ids not found"},
		{"http 500", 500, `internal`, "HTTP 500"},
		{"http 429", 429, `rate limited`, "HTTP 429"},
		{"malformed json", 200, `{"parsed":[{"id":`, "decoding Hermes response"},
		{"not parsed", 200, `{"binary":{"encoding":"hex","data":[]}}`, `no "parsed" array`},
		{"empty parsed", 200, hermesBody(), "no price for asset BTC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHermes(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			c := client(t, h.srv.URL, Config{})
			page, err := c.Latest(context.Background(), []string{"BTC"}, "1s")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if page.Records != nil || page.Dropped != nil {
				t.Fatalf("rows returned with an error: %+v", page)
			}
		})
	}
}

// A bad price element is dropped alone: the other asset's price in the same
// answer is returned, the drop names the element and the reason.
func TestBadElementIsDroppedAlone(t *testing.T) {
	eth := element(ethID, "378912345678", "201234567", -8, publish.Unix())
	tests := []struct {
		name  string
		bad   string
		want  string
		cause string
	}{
		{"price not integer", element(btcID, "67432.1", "1", -8, publish.Unix()), "expected an integer", feed.DropMalformed},
		{"price zero", element(btcID, "0", "1", -8, publish.Unix()), "expected > 0", feed.DropMalformed},
		{"negative conf", element(btcID, "10", "-1", -8, publish.Unix()), "conf -1", feed.DropMalformed},
		{"publish time zero", element(btcID, "10", "1", -8, 0), "publish_time 0", feed.DropMalformed},
		{"missing price object", `{"id":"` + btcID + `"}`, "expected price.price", feed.DropMalformed},
		{"price garbage", `{"id":"` + btcID + `","price":{"price":"abc","conf":"1","expo":-8,"publish_time":1}}`, "expected an object", feed.DropMalformed},
		{"truncated element", `{"id":"` + btcID + `"` + `,"price":{"price":"1"}}`, "expected price.price", feed.DropMalformed},
		{"not an object", `17`, "parsed[0]: expected an object", feed.DropMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHermes(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, hermesBody(tc.bad, eth)) })
			c := client(t, h.srv.URL, Config{})
			page, err := c.Latest(context.Background(), []string{"BTC", "ETH"}, "1s")
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Records) != 1 || page.Records[0].Asset != "ETH" {
				t.Fatalf("records %+v, want ETH's only", page.Records)
			}
			if len(page.Dropped) != 1 || page.Dropped[0].Cause != tc.cause || !strings.Contains(page.Dropped[0].Reason, tc.want) || page.Dropped[0].Row == "" {
				t.Fatalf("dropped %+v, want one with %q", page.Dropped, tc.want)
			}
		})
	}
	// An id that was not asked for is dropped; the requested one is kept.
	h := newHermes(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, hermesBody(element(solID, "1", "1", -8, publish.Unix()), element(btcID, "10", "1", -8, publish.Unix())))
	})
	page, err := client(t, h.srv.URL, Config{}).Latest(context.Background(), []string{"BTC"}, "1s")
	if err != nil || len(page.Records) != 1 || len(page.Dropped) != 1 || !strings.Contains(page.Dropped[0].Reason, "not requested") {
		t.Fatalf("unrequested id: %+v, %v", page, err)
	}
	// The same id twice yields two records for feed.CleanPage to judge.
	ok := element(btcID, "6743210000000", "3145223456", -8, publish.Unix())
	h = newHermes(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, hermesBody(ok, ok)) })
	page, err = client(t, h.srv.URL, Config{}).Latest(context.Background(), []string{"BTC"}, "1s")
	if err != nil || len(page.Records) != 2 {
		t.Fatalf("duplicate id: %+v, %v", page, err)
	}
}

func TestUnknownAssetIsErrorWithoutRequest(t *testing.T) {
	h := newHermes(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, hermesBody()) })
	c := client(t, h.srv.URL, Config{})
	_, err := c.Fetch(context.Background(), feed.Query{Assets: []string{"BTC", "XRP"}, Kind: feed.KindTick, Granularity: "1s"})
	if !errors.Is(err, feed.ErrUnsupported) || !strings.Contains(err.Error(), `"XRP"`) {
		t.Fatalf("error %v", err)
	}
	if n := h.requests.Load(); n != 0 {
		t.Fatalf("%d requests sent for an invalid query", n)
	}
}

func TestTimeout(t *testing.T) {
	h := newHermes(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := client(t, h.srv.URL, Config{Timeout: 50 * time.Millisecond})
	_, err := c.Latest(context.Background(), []string{"BTC"}, "1s")
	if err == nil || !strings.Contains(err.Error(), "no answer within 50ms") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
}

func TestFetchWindowAndKind(t *testing.T) {
	h := newHermes(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, hermesBody(element(btcID, "6743210000000", "3145223456", -8, publish.Unix())))
	})
	c := client(t, h.srv.URL, Config{})
	ctx := context.Background()
	q := feed.Query{Assets: []string{"BTC"}, Kind: feed.KindTick, Granularity: "1s", Since: publish, Until: publish}
	if page, err := c.Fetch(ctx, q); err != nil || len(page.Records) != 1 {
		t.Fatalf("inclusive window: %d records, %v", len(page.Records), err)
	}
	q.Since = publish.Add(time.Nanosecond)
	q.Until = time.Time{}
	if page, err := c.Fetch(ctx, q); err != nil || len(page.Records) != 0 {
		t.Fatalf("already-seen tick: %d records, %v", len(page.Records), err)
	}
	if _, err := c.Fetch(ctx, feed.Query{Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: "1m"}); !errors.Is(err, feed.ErrUnsupported) {
		t.Fatalf("candle request error %v", err)
	}
	if err := c.Supports(feed.KindTick, "1x"); err == nil {
		t.Fatal("granularity 1x accepted")
	}
}

func TestProbe(t *testing.T) {
	h := newHermes(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, hermesBody(element(btcID, "6743210000000", "3145223456", -8, publish.Unix())))
	})
	rec, err := Probe(context.Background(), Config{BaseURL: h.srv.URL, Clock: clock.NewSimulated(publish.Add(3 * time.Second))}, "BTC", time.Minute)
	if err != nil || rec.Asset != "BTC" || !rec.TsEvent.Equal(publish) {
		t.Fatalf("probe %+v, %v", rec, err)
	}
	_, err = Probe(context.Background(), Config{BaseURL: h.srv.URL, Clock: clock.NewSimulated(publish.Add(2 * time.Hour))}, "BTC", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "2h0m0s old") {
		t.Fatalf("old price probe error %v", err)
	}
	bad := newHermes(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	if _, err := Probe(context.Background(), Config{BaseURL: bad.srv.URL}, "BTC", 0); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Fatalf("probe against a failing server: %v", err)
	}
}
