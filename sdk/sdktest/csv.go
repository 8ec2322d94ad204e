package sdktest

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/sdk"
)

// candleColumns is the header of the shared candle CSV format.
var candleColumns = []string{"open_time", "open", "high", "low", "close", "volume"}

// candleTimeLayout matches open_time values such as "2023-03-01 00:00:00+00:00".
const candleTimeLayout = "2006-01-02 15:04:05-07:00"

// LoadCandlesCSV reads 1-minute candles from the shared CSV format (header
// open_time,open,high,low,close,volume; open_time like
// "2023-03-01 00:00:00+00:00") into feed records of kind "candle",
// granularity "1m", with the given provider and asset. TsEvent is the open
// time in UTC; Values is {"open","high","low","close","volume"} with the
// numbers exactly as written. Errors name the file and line.
func LoadCandlesCSV(path string, provider, asset string) ([]sdk.FeedRecord, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load candles: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(candleColumns)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("load candles %s: header: %w", path, err)
	}
	for i, want := range candleColumns {
		if strings.TrimSpace(header[i]) != want {
			return nil, fmt.Errorf("load candles %s: header column %d: expected %q, found %q", path, i+1, want, header[i])
		}
	}
	var out []sdk.FeedRecord
	for line := 2; ; line++ {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("load candles %s: %w", path, err)
		}
		ts, err := time.Parse(candleTimeLayout, strings.TrimSpace(row[0]))
		if err != nil {
			return nil, fmt.Errorf("load candles %s line %d: open_time: expected like 2023-03-01 00:00:00+00:00, found %q: %w", path, line, row[0], err)
		}
		var b strings.Builder
		b.WriteByte('{')
		for i := 1; i < len(candleColumns); i++ {
			v := strings.TrimSpace(row[i])
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("load candles %s line %d: %s: expected a finite number, found %q", path, line, candleColumns[i], row[i])
			}
			if i > 1 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q:%s", candleColumns[i], v)
		}
		b.WriteByte('}')
		values := json.RawMessage(b.String())
		if !json.Valid(values) { // e.g. "1e5" is fine, but "+1" or ".5" is not JSON
			return nil, fmt.Errorf("load candles %s line %d: values are not valid JSON numbers: %s", path, line, values)
		}
		out = append(out, sdk.FeedRecord{
			Provider: provider, Asset: asset, Kind: "candle", Granularity: "1m",
			TsEvent: ts.UTC(), Values: values,
		})
	}
	return out, nil
}
