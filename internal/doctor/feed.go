package doctor

import (
	"context"
	"fmt"
	"time"

	"github.com/crunch-coordinator/coordinator/internal/feed"
	"github.com/crunch-coordinator/coordinator/internal/feed/providers"
)

// checkFeed validates the feed settings and fetches one record with the
// same probe the node runs at start. Bad settings fail; an unreachable live
// feed is a warning, since replays (`dev --feed replay`) work offline.
func checkFeed(ctx context.Context, env map[string]string) []Result {
	cfg, err := feed.ConfigFromEnv(func(k string) string { return env[k] })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return []Result{{Group: "feed", Check: "settings", Status: Fail, Message: err.Error(), Where: ".local.env",
			Fix: "correct the FEED_* variable named in .local.env"}}
	}
	if cfg.Provider == feed.ProviderReplay {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout+2*time.Second)
	defer cancel()
	rec, err := providers.Probe(ctx, cfg, providers.Options{})
	where := cfg.PythHermesURL
	if cfg.Provider == feed.ProviderBinance {
		where = cfg.BinanceAPIURL
	}
	if err != nil {
		return []Result{{Group: "feed", Check: "probe " + cfg.Provider, Status: Warn, Where: where,
			Message: "the live feed did not deliver a record: " + err.Error(),
			Fix:     "check network access and the URL; without network use `coordinator dev --feed replay --replay-file FILE`"}}
	}
	return []Result{{Group: "feed", Check: "probe " + cfg.Provider, Status: Pass, Where: where,
		Message: fmt.Sprintf("%s %s at %s: %s", rec.Asset, rec.Kind, rec.TsEvent.UTC().Format(time.RFC3339), string(rec.Values))}}
}
