package devrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/replay"
	"github.com/crunch-coordinator/coordinator/internal/node"
)

// printer writes whole lines to dev's output, serialised with the status
// line.
type printer struct {
	out io.Writer
}

var printMu sync.Mutex

func (p printer) linef(format string, args ...any) {
	printMu.Lock()
	defer printMu.Unlock()
	fmt.Fprintf(p.out, format+"\n", args...)
}

// runReplay replays the file with a live status line on a terminal (a
// progress bar over the candles) and a plain line every simulated six
// hours otherwise.
func runReplay(ctx context.Context, n *node.Node, rp *replay.Replay, sim *clock.Simulated, o Options, p printer) (node.ReplayProgress, error) {
	var bar *progressbar.ProgressBar
	lastPlain := time.Time{}
	healthy := func() string {
		st := n.Models()
		ok := 0
		var failed []string
		for _, m := range st {
			if m.Running && !m.Stopped {
				ok++
			} else if m.Stopped {
				failed = append(failed, m.ID)
			}
		}
		s := fmt.Sprintf("models %d/%d healthy", ok, len(st))
		if len(failed) > 0 {
			s += ", failed: " + strings.Join(failed, ",")
		}
		return s
	}
	progress := func(pr node.ReplayProgress) {
		desc := fmt.Sprintf("sim %s | cycles %d | predictions %d | scored %d | %s",
			pr.SimTime.Format("2006-01-02 15:04"), pr.Cycles, pr.Predictions, pr.Scored, healthy())
		if o.IsTerminal {
			printMu.Lock()
			defer printMu.Unlock()
			if bar == nil {
				bar = progressbar.NewOptions(pr.Total, progressbar.OptionSetWriter(o.Out), progressbar.OptionSetWidth(20),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			}
			bar.Describe(desc)
			_ = bar.Set(pr.Candles)
			return
		}
		if lastPlain.IsZero() || pr.SimTime.Sub(lastPlain) >= 6*time.Hour || pr.Candles == pr.Total {
			lastPlain = pr.SimTime
			p.linef("status    %s", desc)
		}
	}
	speed := "max"
	if o.Speed > 0 {
		speed = fmt.Sprintf("%gx", o.Speed)
	}
	p.linef("replay    %s at speed %s: %s", rp.File(), speed, replayRange(rp, o.From, o.Until))
	if d := rp.Dropped(); len(d) > 0 {
		p.linef("replay    %d rows of the file dropped (the rest is replayed): %s", len(d), dropSummary(d))
	}
	if n := rp.Duplicates(); n > 0 {
		p.linef("replay    %d exact duplicate rows collapsed", n)
	}
	if n := rp.Placeholders(); n > 0 {
		p.linef("replay    %d zero-volume placeholder candles (open = high = low = close, volume 0) in the file", n)
	}
	stopProfile, err := startCPUProfile(o.Getenv)
	if err != nil {
		return node.ReplayProgress{}, err
	}
	res, err := n.Replay(ctx, rp, sim, node.ReplayOptions{From: o.From, Until: o.Until, Speed: o.Speed, Progress: progress, Last: true})
	stopProfile()
	if bar != nil {
		printMu.Lock()
		_ = bar.Finish()
		fmt.Fprintln(o.Out)
		printMu.Unlock()
	}
	return res, err
}

// startLiveStatus refreshes one status line (terminal) or prints one line
// a minute (otherwise) until the returned stop function is called.
func startLiveStatus(ctx context.Context, n *node.Node, o Options, p printer) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := time.Minute
		var bar *progressbar.ProgressBar
		if o.IsTerminal {
			every = time.Second
			bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(o.Out), progressbar.OptionSpinnerType(14), progressbar.OptionClearOnFinish())
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if bar != nil {
					printMu.Lock()
					_ = bar.Finish()
					printMu.Unlock()
				}
				return
			case <-t.C:
			}
			s, err := n.Stats(ctx)
			if err != nil {
				continue
			}
			desc := fmt.Sprintf("%s | predictions %d | scored %d | models %d/%d healthy", s.Now.Format("15:04:05Z"), s.Predictions, s.Scored, s.Healthy, s.Models)
			if len(s.Failed) > 0 {
				desc += ", failed: " + strings.Join(s.Failed, ", ")
			}
			if bar != nil {
				printMu.Lock()
				bar.Describe(desc)
				_ = bar.Add(1)
				printMu.Unlock()
			} else {
				p.linef("status    %s", desc)
			}
		}
	}()
	return func() { cancel(); <-done }
}

func fetchLeaderboard(ctx context.Context, apiURL string) ([]map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(apiURL, "/")+"/reports/leaderboard", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /reports/leaderboard: HTTP %d", resp.StatusCode)
	}
	var rows []map[string]any
	return rows, json.NewDecoder(resp.Body).Decode(&rows)
}

// replayRange describes the candles of rp with open time in [from, until]
// (zero = the file's bounds): count, first and last open time and the gaps
// inside, e.g. "1440 candles 2023-03-01T00:00:00Z to 2023-03-01T23:59:00Z,
// 1 gap (3 candles missing)".
func replayRange(rp *replay.Replay, from, until time.Time) string {
	cs := rp.Candles(from, until)
	if len(cs) == 0 {
		return "no candles in the requested range"
	}
	s := fmt.Sprintf("%d candles %s to %s", len(cs), cs[0].Time.Format(time.RFC3339), cs[len(cs)-1].Time.Format(time.RFC3339))
	return s + ", " + gapSummary(rp.GapsIn(cs[0].Time, cs[len(cs)-1].Time), rp.Step())
}

// gapSummary says "no gaps" or "2 gaps (5 candles missing: from 01:03 to
// 01:05, …)", listing at most three.
func gapSummary(gaps []replay.Gap, step time.Duration) string {
	if len(gaps) == 0 {
		return "no gaps"
	}
	missing := 0
	var spans []string
	for i, g := range gaps {
		missing += g.Missing
		if i < 3 {
			spans = append(spans, fmt.Sprintf("%s to %s", g.After.Add(step).Format(time.RFC3339), g.After.Add(time.Duration(g.Missing)*step).Format(time.RFC3339)))
		}
	}
	if len(gaps) > 3 {
		spans = append(spans, fmt.Sprintf("%d more", len(gaps)-3))
	}
	noun := "gaps"
	if len(gaps) == 1 {
		noun = "gap"
	}
	return fmt.Sprintf("%d %s (%d candles missing: %s)", len(gaps), noun, missing, strings.Join(spans, ", "))
}

// dropSummary quotes the first three dropped rows' reasons.
func dropSummary(d []feed.Drop) string {
	var parts []string
	for i, x := range d {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("%d more", len(d)-3))
			break
		}
		parts = append(parts, x.Reason)
	}
	return strings.Join(parts, "; ")
}
