package feed

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Provider: "pyth", Assets: []string{"BTC"}, Kind: "tick", Granularity: "1s",
		PollInterval: 5 * time.Second, Backfill: 180 * time.Minute, StaleAfter: 120 * time.Second, Timeout: 8 * time.Second, MaxAge: time.Minute,
		PythHermesURL: "https://hermes.pyth.network", BinanceAPIURL: "https://api.binance.com",
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", c, want)
	}
	c, err = ConfigFromEnv(env(map[string]string{"FEED_PROVIDER": " Binance ", "FEED_ASSETS": "btc, eth,SOL"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Provider != "binance" || c.Kind != "candle" || c.Granularity != "1m" || !reflect.DeepEqual(c.Assets, []string{"BTC", "ETH", "SOL"}) {
		t.Fatalf("binance defaults %+v", c)
	}
}

func TestConfigValues(t *testing.T) {
	c, err := ConfigFromEnv(env(map[string]string{
		"FEED_PROVIDER": "replay", "FEED_REPLAY_FILE": "/data/x.csv", "FEED_KIND": "candle", "FEED_GRANULARITY": "5m",
		"FEED_POLL_SECONDS": "2", "FEED_BACKFILL_MINUTES": "60", "FEED_STALE_AFTER_SECONDS": "900", "FEED_TIMEOUT_SECONDS": "3",
		"PYTH_HERMES_URL": "http://127.0.0.1:9/", "BINANCE_API_URL": "https://api.binance.us",
		"PYTH_FEED_ID_BTC": "0xABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "BINANCE_SYMBOL_BTC": "BTCUSD",
		"PYTH_FEED_ID_ETH": "", // empty = unset
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PollInterval != 2*time.Second || c.Backfill != time.Hour || c.StaleAfter != 15*time.Minute || c.Timeout != 3*time.Second ||
		c.Granularity != "5m" || c.ReplayFile != "/data/x.csv" || c.BinanceSymbols["BTC"] != "BTCUSD" || len(c.PythFeedIDs) != 1 {
		t.Fatalf("parsed %+v", c)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"FEED_POLL_SECONDS": "five"}, `FEED_POLL_SECONDS="five": expected a whole number`},
		{map[string]string{"FEED_POLL_SECONDS": "0"}, `FEED_POLL_SECONDS="0": expected a whole number >= 1`},
		{map[string]string{"FEED_BACKFILL_MINUTES": "1.5"}, `FEED_BACKFILL_MINUTES="1.5"`},
		{map[string]string{"FEED_STALE_AFTER_SECONDS": "-3"}, `FEED_STALE_AFTER_SECONDS="-3"`},
		{map[string]string{"FEED_TIMEOUT_SECONDS": "8s"}, `FEED_TIMEOUT_SECONDS="8s"`},
		{map[string]string{"FEED_PROVIDER": "mongodb"}, `FEED_PROVIDER="mongodb": unknown provider, expected one of pyth, binance, replay`},
		{map[string]string{"FEED_KIND": "depth"}, `FEED_KIND: feed kind "depth"`},
		{map[string]string{"FEED_KIND": "Tick"}, `FEED_KIND: feed kind "Tick"`},
		{map[string]string{"FEED_GRANULARITY": "1 minute"}, `FEED_GRANULARITY: granularity "1 minute"`},
		{map[string]string{"FEED_GRANULARITY": "0m"}, `FEED_GRANULARITY: granularity "0m"`},
		{map[string]string{"FEED_ASSETS": "BTC,,ETH"}, `FEED_ASSETS entry ""`},
		{map[string]string{"FEED_ASSETS": "BTC,btc"}, `FEED_ASSETS lists "BTC" twice`},
		{map[string]string{"FEED_POLL_SECONDS": "120"}, "must exceed FEED_POLL_SECONDS"},
		{map[string]string{"FEED_PROVIDER": "binance", "FEED_GRANULARITY": "1h"}, "shorter than one 1h candle"},
		{map[string]string{"PYTH_HERMES_URL": "hermes.pyth.network"}, `PYTH_HERMES_URL="hermes.pyth.network"`},
		{map[string]string{"BINANCE_API_URL": "ftp://x"}, `BINANCE_API_URL="ftp://x"`},
		{map[string]string{"FEED_PROVIDER": "replay"}, "FEED_REPLAY_FILE is empty"},
		{map[string]string{"PYTH_FEED_ID_BTC": "0x1234"}, `PYTH_FEED_ID_BTC="0x1234": expected 64 hex digits`},
		{map[string]string{"BINANCE_SYMBOL_BTC": "btc-usdt"}, `BINANCE_SYMBOL_BTC="btc-usdt"`},
		{map[string]string{"FEED_MAX_AGE_SECONDS": "0"}, `FEED_MAX_AGE_SECONDS="0": expected a whole number >= 1`},
	}
	for _, tc := range tests {
		_, err := ConfigFromEnv(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want it to contain %q", tc.env, err, tc.want)
		}
	}
}

// Every problem of the feed settings is reported at once, each once.
func TestConfigErrorsAllAtOnce(t *testing.T) {
	_, err := ConfigFromEnv(env(map[string]string{"FEED_POLL_SECONDS": "five", "FEED_KIND": "depth", "FEED_ASSETS": "BTC,btc", "FEED_MAX_AGE_SECONDS": "x"}))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`FEED_POLL_SECONDS="five"`, `FEED_KIND: feed kind "depth"`, `FEED_ASSETS lists "BTC" twice`, `FEED_MAX_AGE_SECONDS="x"`} {
		if strings.Count(err.Error(), want) != 1 {
			t.Errorf("error %q: want %q exactly once", err, want)
		}
	}
	if strings.Contains(err.Error(), "below the minimum") {
		t.Errorf("a malformed number reported twice: %v", err)
	}
}

func TestParseGranularity(t *testing.T) {
	for g, want := range map[string]time.Duration{"1s": time.Second, "1m": time.Minute, "15m": 15 * time.Minute, "4h": 4 * time.Hour, "1d": 24 * time.Hour} {
		if d, err := ParseGranularity(g); err != nil || d != want {
			t.Errorf("ParseGranularity(%q) = %v, %v", g, d, err)
		}
	}
	for _, g := range []string{"", "m", "1", "01m", "1M", "1w", "-1m", "1.5m", " 1m"} {
		if _, err := ParseGranularity(g); err == nil {
			t.Errorf("ParseGranularity(%q) accepted", g)
		}
	}
}

func TestValuesJSON(t *testing.T) {
	got := string(CandleValues(Candle{Open: 1, High: 2.5, Low: 0.5, Close: 1e-7, Volume: 0}))
	if got != `{"open":1,"high":2.5,"low":0.5,"close":1e-07,"volume":0}` {
		t.Errorf("CandleValues = %s", got)
	}
	got = string(TickValues(Tick{Price: 67432.1, Conf: 31.45, Expo: -8, PublishTime: time.Unix(1717000000, 0)}))
	if got != `{"price":67432.1,"conf":31.45,"expo":-8,"publish_time":1717000000}` {
		t.Errorf("TickValues = %s", got)
	}
}
