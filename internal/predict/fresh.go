package predict

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// checkFresh asks the gate about every asset the due rows need and returns
// the reasons of the stale ones ("" when all are fresh or no gate is set).
func (w *Worker) checkFresh(due []dueRow, now time.Time) string {
	if w.cfg.Freshness == nil {
		return ""
	}
	assets := map[string]bool{}
	for _, a := range w.cfg.Assets {
		if a != "" {
			assets[a] = true
		}
	}
	for _, d := range due {
		var tpl struct {
			Asset any `json:"asset"`
		}
		if json.Unmarshal(d.cfg.ScopeTemplate, &tpl) == nil {
			if s, ok := tpl.Asset.(string); ok && s != "" {
				assets[s] = true
			}
		}
	}
	names := make([]string, 0, len(assets))
	for a := range assets {
		names = append(names, a)
	}
	sort.Strings(names)
	var reasons []string
	for _, a := range names {
		if err := w.cfg.Freshness.Fresh(a, now); err != nil {
			reasons = append(reasons, fmt.Sprintf("asset %s: %v", a, err))
		}
	}
	if len(reasons) == 0 {
		return ""
	}
	b, _ := json.Marshal(reasons)
	return string(b)
}
