package feed

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/httpx"
)

type nopProvider struct{}

func (nopProvider) Name() string                  { return "nop" }
func (nopProvider) Supports(string, string) error { return nil }
func (nopProvider) Fetch(context.Context, Query) (Page, error) {
	return Page{}, nil
}

func TestRetryDelayDoublesAndCaps(t *testing.T) {
	p, err := NewPoller(PollerOptions{Provider: nopProvider{}, Store: feedtest.NewMarket(), Assets: []string{"BTC", "ETH"}, Kind: KindTick, Granularity: "1s",
		PollInterval: 5 * time.Second, Timeout: time.Second, StaleAfter: time.Minute, Backfill: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	plain := errors.New("down")
	for _, tc := range []struct {
		consecutive int
		err         error
		want        time.Duration
	}{
		{1, plain, time.Second},
		{2, plain, 2 * time.Second},
		{4, plain, 8 * time.Second},
		{7, plain, time.Minute},
		{50, plain, time.Minute},
		{1, fmt.Errorf("binance: %w", &httpx.StatusError{StatusCode: 429, RetryAfter: 90 * time.Second}), 90 * time.Second},
		{7, fmt.Errorf("binance: %w", &httpx.StatusError{StatusCode: 429, RetryAfter: 10 * time.Second}), time.Minute},
	} {
		if got := p.retryDelay(tc.consecutive, tc.err); got != tc.want {
			t.Errorf("consecutive %d, %v: delay %v, want %v", tc.consecutive, tc.err, got, tc.want)
		}
	}
}
