package sdk

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchParent(t *testing.T) {
	t.Run("parent changes", func(t *testing.T) {
		var calls atomic.Int32
		getppid := func() int {
			if calls.Add(1) >= 3 {
				return 1 // reparented to init
			}
			return 4242
		}
		if !watchParent(context.Background(), 4242, getppid, time.Millisecond) {
			t.Fatal("watchParent returned false, want true after the parent changed")
		}
		if calls.Load() != 3 {
			t.Fatalf("getppid called %d times, want 3", calls.Load())
		}
	})
	t.Run("stopped by context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() { done <- watchParent(ctx, 7, func() int { return 7 }, time.Millisecond) }()
		cancel()
		if <-done {
			t.Fatal("watchParent returned true without a parent change")
		}
	})
}

func TestPluginLogLevel(t *testing.T) {
	tests := []struct{ env, want string }{
		{"", "info"}, {"debug", "debug"}, {"ERROR", "error"}, {"nonsense", "info"}, {"trace", "trace"},
	}
	for _, tt := range tests {
		t.Setenv(EnvPluginLogLevel, tt.env)
		l := newPluginLogger("x", nil)
		if got := l.GetLevel().String(); got != tt.want {
			t.Errorf("%s=%q: level %s, want %s", EnvPluginLogLevel, tt.env, got, tt.want)
		}
	}
}

func TestFeedQueryEffectiveLimit(t *testing.T) {
	for _, tt := range []struct{ limit, want int }{{0, 1000}, {1, 1}, {10000, 10000}, {10001, 10000}, {-1, 0}} {
		if got := (FeedQuery{Limit: tt.limit}).EffectiveLimit(); got != tt.want {
			t.Errorf("EffectiveLimit(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}
