package providers

import (
	"errors"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
)

func cfg(t *testing.T, env map[string]string) feed.Config {
	t.Helper()
	c, err := feed.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNew(t *testing.T) {
	csv := feedtest.SharedCSV(t)
	for _, tc := range []struct {
		env  map[string]string
		name string
	}{
		{nil, "pyth"},
		{map[string]string{"FEED_ASSETS": "BTC,ETH,SOL"}, "pyth"},
		{map[string]string{"FEED_PROVIDER": "binance", "FEED_ASSETS": "BTC,ETH"}, "binance"},
		{map[string]string{"FEED_PROVIDER": "binance", "FEED_ASSETS": "DOGE", "BINANCE_SYMBOL_DOGE": "DOGEUSDT"}, "binance"},
		{map[string]string{"FEED_PROVIDER": "replay", "FEED_REPLAY_FILE": csv}, "replay"},
	} {
		p, err := New(cfg(t, tc.env), Options{})
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if p.Name() != tc.name {
			t.Fatalf("%v: provider %s", tc.env, p.Name())
		}
	}
}

func TestNewRejects(t *testing.T) {
	csv := feedtest.SharedCSV(t)
	for _, tc := range []struct {
		env         map[string]string
		want        string
		unsupported bool
	}{
		{map[string]string{"FEED_ASSETS": "BTC,XRP"}, `no feed id for asset "XRP"`, true},
		{map[string]string{"FEED_KIND": "candle", "FEED_GRANULARITY": "1m"}, "pyth serves kind \"tick\" only", true},
		{map[string]string{"FEED_PROVIDER": "binance", "FEED_ASSETS": "XRP"}, `no symbol for asset "XRP"`, true},
		{map[string]string{"FEED_PROVIDER": "binance", "FEED_GRANULARITY": "2m"}, `interval "2m" is not supported`, true},
		{map[string]string{"FEED_PROVIDER": "binance", "FEED_KIND": "tick"}, `binance serves kind "candle" only`, true},
		{map[string]string{"FEED_PROVIDER": "replay", "FEED_REPLAY_FILE": csv, "FEED_GRANULARITY": "5m", "FEED_STALE_AFTER_SECONDS": "600"}, "holds 1m candles", true},
		{map[string]string{"FEED_PROVIDER": "replay", "FEED_REPLAY_FILE": csv, "FEED_ASSETS": "BTC,ETH"}, "exactly one asset", false},
		{map[string]string{"FEED_PROVIDER": "replay", "FEED_REPLAY_FILE": t.TempDir() + "/none.csv"}, "none.csv", false},
	} {
		_, err := New(cfg(t, tc.env), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, feed.ErrUnsupported) != tc.unsupported {
			t.Errorf("%v: error %v, want %q (unsupported %v)", tc.env, err, tc.want, tc.unsupported)
		}
	}
	if _, err := New(feed.Config{Provider: "mongodb"}, Options{}); err == nil || !strings.Contains(err.Error(), "unknown provider") {
		t.Errorf("unknown provider: %v", err)
	}
}
