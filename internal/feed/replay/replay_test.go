package replay

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/internal/feedtest"
)

func TestOpenSharedCSV(t *testing.T) {
	r, err := Open(feedtest.SharedCSV(t), "btc")
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 30240 {
		t.Fatalf("Len = %d, want 30240", r.Len())
	}
	wantFirst := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	wantLast := time.Date(2023, 3, 21, 23, 59, 0, 0, time.UTC)
	if !r.First().Equal(wantFirst) || r.First().Location() != time.UTC {
		t.Errorf("First = %v, want %v UTC", r.First(), wantFirst)
	}
	if !r.Last().Equal(wantLast) || r.Last().Location() != time.UTC {
		t.Errorf("Last = %v, want %v UTC", r.Last(), wantLast)
	}
	if r.Granularity() != "1m" || r.Step() != time.Minute || r.Asset() != "BTC" || r.Name() != "replay" {
		t.Errorf("granularity %q step %v asset %q name %q", r.Granularity(), r.Step(), r.Asset(), r.Name())
	}
	if g := r.Gaps(); len(g) != 0 {
		t.Errorf("shared CSV has no gaps, got %v", g)
	}
	rec := r.Record(0)
	var v map[string]float64
	if err := json.Unmarshal(rec.Values, &v); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"open": 23140.48, "high": 23150.77, "low": 23128.52, "close": 23142.31, "volume": 2.131777}
	for k, w := range want {
		if v[k] != w {
			t.Errorf("values[%s] = %v, want %v", k, v[k], w)
		}
	}
	if rec.Provider != "replay" || rec.Kind != feed.KindCandle || rec.Granularity != "1m" || rec.Asset != "BTC" {
		t.Errorf("record labels %+v", rec)
	}
	if !rec.TsIngested.Equal(wantFirst.Add(time.Minute)) {
		t.Errorf("TsIngested = %v, want candle close %v", rec.TsIngested, wantFirst.Add(time.Minute))
	}
	var meta map[string]string
	if err := json.Unmarshal(rec.Meta, &meta); err != nil || meta["file"] != feedtest.SharedCSVName {
		t.Errorf("meta %s (%v)", rec.Meta, err)
	}
	last := r.Record(r.Len() - 1)
	if err := json.Unmarshal(last.Values, &v); err != nil || v["close"] != 28110.26 {
		t.Errorf("last close = %v (%v)", v["close"], err)
	}
}

func TestIterAndFetchWindow(t *testing.T) {
	r, err := Open(feedtest.SharedCSV(t), "BTC")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2023, 3, 10, 0, 0, 0, 0, time.UTC)
	until := from.Add(59 * time.Minute)
	it := r.Iter(from, until)
	if it.Remaining() != 60 {
		t.Fatalf("Remaining = %d, want 60", it.Remaining())
	}
	n := 0
	prev := time.Time{}
	for {
		rec, ok := it.Next()
		if !ok {
			break
		}
		if rec.TsEvent.Before(from) || rec.TsEvent.After(until) || !rec.TsEvent.After(prev) {
			t.Fatalf("record %d at %v outside window or not ascending", n, rec.TsEvent)
		}
		prev = rec.TsEvent
		n++
	}
	if n != 60 {
		t.Fatalf("iterated %d, want 60", n)
	}
	if _, ok := it.Next(); ok {
		t.Fatal("Next after the end returned a record")
	}
	// Unbounded iterator covers the whole file.
	if got := r.Iter(time.Time{}, time.Time{}).Remaining(); got != 30240 {
		t.Fatalf("unbounded Remaining = %d", got)
	}
	// Window between two bars and past the end.
	if got := r.Iter(from.Add(30*time.Second), from.Add(50*time.Second)).Remaining(); got != 0 {
		t.Fatalf("sub-minute window Remaining = %d, want 0", got)
	}
	if got := len(r.Candles(r.Last().Add(time.Minute), time.Time{})); got != 0 {
		t.Fatalf("Candles after the end = %d", got)
	}

	ctx := context.Background()
	page, err := r.Fetch(ctx, feed.Query{Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: "1m", Since: from, Until: until, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	recs := page.Records
	if len(recs) != 10 || !recs[0].TsEvent.Equal(from) || !recs[9].TsEvent.Equal(from.Add(9*time.Minute)) {
		t.Fatalf("Fetch limit 10: %d records from %v", len(recs), recs[0].TsEvent)
	}
	page, err = r.Fetch(ctx, feed.Query{Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: "1m"})
	if err != nil || len(page.Records) != DefaultLimit {
		t.Fatalf("Fetch default limit: %d records, %v", len(page.Records), err)
	}
	for _, q := range []feed.Query{
		{Assets: []string{"ETH"}, Kind: feed.KindCandle, Granularity: "1m"},
		{Assets: []string{"BTC"}, Kind: feed.KindTick, Granularity: "1m"},
		{Assets: []string{"BTC"}, Kind: feed.KindCandle, Granularity: "5m"},
	} {
		if _, err := r.Fetch(ctx, q); !errors.Is(err, feed.ErrUnsupported) {
			t.Errorf("Fetch(%+v) error %v, want ErrUnsupported", q, err)
		}
	}
}

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.csv")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const hdr = "open_time,open,high,low,close,volume\n"

func TestAcceptedFormats(t *testing.T) {
	tests := []struct {
		name, csv, gran string
		n               int
		first           time.Time
	}{
		{"iso space offset", hdr + "2023-03-01 00:00:00+00:00,10,11,9,10.5,1\n2023-03-01 00:01:00+00:00,10,11,9,10.5,1\n", "1m", 2, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"iso T Z crlf no trailing newline", hdr + "2023-03-01T00:00:00Z,10,11,9,10.5,1\r\n2023-03-01T00:05:00Z,10,11,9,10.5,0", "5m", 2, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"iso non-UTC offset converted", hdr + "2023-03-01T02:00:00+02:00,10,11,9,10.5,1\n2023-03-01T03:00:00+02:00,10,11,9,10.5,1\n", "1h", 2, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"columns reordered with close_time", "volume,close,low,high,open,open_time,close_time\n1,10.5,9,11,10,1677628800000,1677628859999\n", "1m", 1, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"binance kline no header ms", "1677628800000,23140.48,23150.77,23128.52,23142.31,2.131777,1677628859999,49337.1,120,1.0,23000.0,0\n1677628860000,23143.89,23148.8,23137.61,23137.77,0.881378,1677628919999,20392.3,80,0.5,11000.0,0\n", "1m", 2, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"binance kline microseconds", "1677628800000000,1,2,0.5,1.5,3,1677628859999999,0,0,0,0,0\n", "1m", 1, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"binance header layout", "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n1677628800000,1,2,0.5,1.5,3,1677628859999,0,0,0,0,0\n", "1m", 1, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"gap allowed", hdr + "2023-03-01 00:00:00+00:00,10,11,9,10.5,1\n2023-03-01 00:01:00+00:00,10,11,9,10.5,1\n2023-03-01 00:04:00+00:00,10,11,9,10.5,1\n", "1m", 3, time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(write(t, tc.csv), "BTC")
			if err != nil {
				t.Fatal(err)
			}
			if r.Len() != tc.n || r.Granularity() != tc.gran || !r.First().Equal(tc.first) || r.First().Location() != time.UTC {
				t.Fatalf("len %d gran %s first %v", r.Len(), r.Granularity(), r.First())
			}
		})
	}
	r, _ := Open(write(t, tests[7].csv), "BTC")
	if g := r.Gaps(); len(g) != 1 || g[0].Missing != 2 || !g[0].After.Equal(time.Date(2023, 3, 1, 0, 1, 0, 0, time.UTC)) {
		t.Fatalf("gaps = %+v", g)
	}
}

// A bad row is dropped alone with its line number and reason; the rows
// around it are kept and the load goes on.
func TestBadRowIsDroppedAlone(t *testing.T) {
	ok1 := "2023-03-01 00:00:00+00:00,10,11,9,10.5,1\n"
	ok2 := "2023-03-01 00:01:00+00:00,10,11,9,10.5,1\n"
	ok4 := "2023-03-01 00:03:00+00:00,10,11,9,10.5,1\n"
	tests := []struct {
		name, bad, want, cause string
	}{
		{"unparsable time", "2023-03-01 00:0x:00+00:00,10,11,9,10.5,1\n", "line 4: open_time", feed.DropMalformed},
		{"time without offset", "2023-03-01 00:02:00,10,11,9,10.5,1\n", "line 4: open_time", feed.DropMalformed},
		{"unparsable number", "2023-03-01 00:02:00+00:00,10,eleven,9,10.5,1\n", `line 4: high "eleven"`, feed.DropMalformed},
		{"empty number", "2023-03-01 00:02:00+00:00,10,11,9,,1\n", `line 4: close ""`, feed.DropMalformed},
		{"zero price", "2023-03-01 00:02:00+00:00,0,11,9,10.5,1\n", "line 4: open price 0", feed.DropMalformed},
		{"negative price", "2023-03-01 00:02:00+00:00,10,11,-9,10.5,1\n", "line 4: low price -9", feed.DropMalformed},
		{"NaN price", "2023-03-01 00:02:00+00:00,NaN,11,9,10.5,1\n", "line 4: open price NaN", feed.DropMalformed},
		{"high below low", "2023-03-01 00:02:00+00:00,10,9,11,10,1\n", "line 4: high 9 < low 11", feed.DropMalformed},
		{"close above high", "2023-03-01 00:02:00+00:00,10,11,9,12,1\n", "line 4: open 10 / close 12 outside", feed.DropMalformed},
		{"negative volume", "2023-03-01 00:02:00+00:00,10,11,9,10,-1\n", "line 4: volume -1", feed.DropMalformed},
		{"truncated row", "2023-03-01 00:02:00+00:00,10\n", "line 4: 2 fields, expected 6", feed.DropMalformed},
		{"missing field", "2023-03-01 00:02:00+00:00,10,11,9,10.5\n", "line 4: 5 fields, expected 6", feed.DropMalformed},
		{"empty line inside", "\n", "line 4: empty line", feed.DropMalformed},
		{"conflicting duplicate", "2023-03-01 00:01:00+00:00,10,12,9,10.5,1\n", "line 4: conflicting duplicate of open_time 2023-03-01T00:01:00Z: kept line 3", feed.DropConflict},
		{"out of order", "2022-03-01 00:00:00+00:00,10,11,9,10.5,1\n", "line 4: open_time 2022-03-01T00:00:00Z is before", feed.DropMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(write(t, hdr+ok1+ok2+tc.bad+ok4), "BTC")
			if err != nil {
				t.Fatal(err)
			}
			if r.Len() != 3 || r.Granularity() != "1m" || !r.Last().Equal(time.Date(2023, 3, 1, 0, 3, 0, 0, time.UTC)) {
				t.Fatalf("kept %d %s candles %v..%v, want 00:00, 00:01 and 00:03", r.Len(), r.Granularity(), r.First(), r.Last())
			}
			d := r.Dropped()
			if len(d) != 1 || d[0].Cause != tc.cause || !strings.Contains(d[0].Reason, tc.want) {
				t.Fatalf("dropped %+v, want one %s with %q", d, tc.cause, tc.want)
			}
			if g := r.Gaps(); len(g) != 1 || g[0].Missing != 1 {
				t.Fatalf("gaps %+v: the dropped bar is a gap", g)
			}
		})
	}
	// An exact duplicate collapses into the first: counted, not dropped.
	r, err := Open(write(t, hdr+ok1+ok2+ok2+ok4), "BTC")
	if err != nil || r.Len() != 3 || r.Duplicates() != 1 || len(r.Dropped()) != 0 {
		t.Fatalf("exact duplicate: %v, %d candles, %d duplicates, dropped %+v", err, r.Len(), r.Duplicates(), r.Dropped())
	}
	// Zero-volume placeholder candles are kept and counted.
	r, err = Open(write(t, hdr+ok1+"2023-03-01 00:01:00+00:00,10,10,10,10,0\n"+ok4), "BTC")
	if err != nil || r.Len() != 3 || r.Placeholders() != 1 || r.Granularity() != "1m" {
		t.Fatalf("placeholder: %v, %d candles, %d placeholders", err, r.Len(), r.Placeholders())
	}
}

func TestFileErrorsReportLine(t *testing.T) {
	ok1 := "2023-03-01 00:00:00+00:00,10,11,9,10.5,1\n"
	ok2 := "2023-03-01 00:01:00+00:00,10,11,9,10.5,1\n"
	tests := []struct {
		name, csv, want string
	}{
		{"off grid", hdr + ok1 + ok2 + "2023-03-01 00:02:30+00:00,10,11,9,10.5,1\n", "line 4: open_time 2023-03-01T00:02:30Z is 1m30s after"},
		{"bad header", "time,open,high,low,close,volume\n" + ok1, `line 1: header "time,open,high,low,close,volume" lacks column "open_time"`},
		{"epoch 14 digits", "16776288000000,1,2,0.5,1.5,3,16776288599999\n", "no valid data rows (1 dropped; first: line 1: open_time"},
		{"close before open", "1677628800000,1,2,0.5,1.5,3,1677628700000\n", "no valid data rows (1 dropped; first: line 1: close_time"},
		{"header only", hdr, "no data rows"},
		{"one row no close time", hdr + ok1, "cannot tell the bar length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.csv)
			_, err := Open(p, "BTC")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q: want it to contain %q and the path", err, tc.want)
			}
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.csv"), "BTC"); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Fatalf("missing file error %v", err)
	}
}

func BenchmarkReplayLoad(b *testing.B) {
	path := feedtest.SharedCSV(b)
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Open(path, "BTC")
		if err != nil || r.Len() != 30240 {
			b.Fatalf("%v %d", err, r.Len())
		}
	}
}

func TestShiftToEnd(t *testing.T) {
	csv := "open_time,open,high,low,close,volume\n" +
		"2023-03-01 00:00:00+00:00,1,2,1,2,1\n" +
		"2023-03-01 00:01:00+00:00,2,3,1,2,1\n" +
		"2023-03-01 00:04:00+00:00,2,3,1,2,1\n"
	r, err := Parse([]byte(csv), "dir/btc.csv", "BTC")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		end      time.Time
		wantLast time.Time
	}{
		{"on the grid", time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC), time.Date(2026, 12, 6, 2, 59, 0, 0, time.UTC)},
		{"between bars", time.Date(2026, 12, 6, 3, 0, 59, 0, time.UTC), time.Date(2026, 12, 6, 2, 59, 0, 0, time.UTC)},
		{"backwards", time.Date(2020, 1, 1, 0, 0, 30, 0, time.UTC), time.Date(2019, 12, 31, 23, 59, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, d := r.ShiftToEnd(r.Last(), tc.end)
			if !s.Last().Equal(tc.wantLast) || d%time.Minute != 0 || !s.First().Equal(r.First().Add(d)) {
				t.Fatalf("shifted by %v: first %v last %v, want last %v", d, s.First(), s.Last(), tc.wantLast)
			}
			if g := s.Gaps(); len(g) != 1 || !g[0].After.Equal(r.Gaps()[0].After.Add(d)) || g[0].Missing != 2 {
				t.Errorf("gaps = %v", g)
			}
			rec := s.Record(s.Len() - 1)
			var meta map[string]any
			if err := json.Unmarshal(rec.Meta, &meta); err != nil || meta["file"] != "btc.csv" || meta["shifted_seconds"] != float64(d/time.Second) {
				t.Errorf("meta = %s (%v)", rec.Meta, err)
			}
			if !r.Last().Equal(time.Date(2023, 3, 1, 0, 4, 0, 0, time.UTC)) {
				t.Errorf("the original replay changed: last %v", r.Last())
			}
		})
	}
}
