package devrun

import (
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
)

// The replay lines give the replayed range (not the file's span) and the
// gaps inside it.
func TestReplayRangeAndGaps(t *testing.T) {
	row := func(min int) string {
		return time.Date(2023, 3, 1, 0, min, 0, 0, time.UTC).Format("2006-01-02 15:04:05+00:00") + ",10,11,9,10.5,1\n"
	}
	csv := "open_time,open,high,low,close,volume\n" + row(0) + row(1) + row(2) + row(6) + row(7) + row(8) + row(9) +
		"2023-03-01 00:10:00+00:00,10\n" + row(11) + row(12)
	rp, err := replay.Parse([]byte(csv), "gappy.csv", "BTC")
	if err != nil {
		t.Fatal(err)
	}
	at := func(min int) time.Time { return time.Date(2023, 3, 1, 0, min, 0, 0, time.UTC) }
	for _, tc := range []struct {
		from, until time.Time
		want        string
	}{
		{time.Time{}, time.Time{}, "9 candles 2023-03-01T00:00:00Z to 2023-03-01T00:12:00Z, 2 gaps (4 candles missing: 2023-03-01T00:03:00Z to 2023-03-01T00:05:00Z, 2023-03-01T00:10:00Z to 2023-03-01T00:10:00Z)"},
		{at(6), at(9), "4 candles 2023-03-01T00:06:00Z to 2023-03-01T00:09:00Z, no gaps"},
		{at(1), at(7), "4 candles 2023-03-01T00:01:00Z to 2023-03-01T00:07:00Z, 1 gap (3 candles missing: 2023-03-01T00:03:00Z to 2023-03-01T00:05:00Z)"},
		{at(30), time.Time{}, "no candles in the requested range"},
	} {
		if got := replayRange(rp, tc.from, tc.until); got != tc.want {
			t.Errorf("replayRange(%v, %v)\n got %s\nwant %s", tc.from, tc.until, got, tc.want)
		}
	}
	if got := dropSummary(rp.Dropped()); !strings.Contains(got, "line 9: 2 fields, expected 6") {
		t.Errorf("drop summary %q", got)
	}
}

// --shift-to-now is refused where it would mix shifted times with other
// data, and moves --from/--until with the candles.
func TestShiftToNowRules(t *testing.T) {
	csv := "open_time,open,high,low,close,volume\n2023-03-01 00:00:00+00:00,10,11,9,10.5,1\n2023-03-01 00:01:00+00:00,10,11,9,10.5,1\n2023-03-01 00:02:00+00:00,10,11,9,10.5,1\n"
	rp, err := replay.Parse([]byte(csv), "c.csv", "BTC")
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC) }
	if _, _, err := shiftToNow(nil, true, "r.db", &Options{Feed: FeedPyth, Now: now}); err == nil || !strings.Contains(err.Error(), "needs --feed replay") {
		t.Errorf("live feed: %v", err)
	}
	if _, _, err := shiftToNow(rp, false, "r.db", &Options{Feed: FeedReplay, Now: now}); err == nil || !strings.Contains(err.Error(), "r.db") {
		t.Errorf("explicit database: %v", err)
	}
	o := Options{Feed: FeedReplay, Now: now, From: time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2023, 3, 1, 0, 1, 0, 0, time.UTC)}
	shifted, d, err := shiftToNow(rp, true, "r.db", &o)
	if err != nil {
		t.Fatal(err)
	}
	// The last candle of the range (00:01) closes at 03:00.
	if want := time.Date(2026, 12, 6, 2, 59, 0, 0, time.UTC); !o.Until.Equal(want) || !o.From.Equal(want.Add(-time.Minute)) || !shifted.First().Equal(rp.First().Add(d)) {
		t.Errorf("shift %v: from %v until %v", d, o.From, o.Until)
	}
}
