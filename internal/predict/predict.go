package predict

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/clock"
	"github.com/crunch-coordinator/coordinator/internal/store"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Models is the model set the worker talks to (the host's plugin set, or a
// remote model-runner adapter). Every call result is keyed by model id.
type Models interface {
	// Tick sends the inference input (a JSON object) to every model.
	Tick(ctx context.Context, input json.RawMessage) map[string]host.CallResult
	// Predict calls every model with positional args and keyword kwargs (a
	// JSON object).
	Predict(ctx context.Context, args []json.RawMessage, kwargs json.RawMessage) map[string]host.CallResult
	// States returns the supervisor's view of every known model.
	States() []host.ModelState
	// ConfirmOutput reports the validation verdict on a model's SUCCESS
	// Predict answer: nil when valid, the reason when not, so invalid
	// outputs count toward the model's stop rule (MULTIPLE_FAILED) like
	// any failure (host.ModelSet.ConfirmOutput).
	ConfirmOutput(modelID string, invalid error)
}

// TickPredicter is implemented by a model set that can deliver Tick and
// the following Predict in one round trip per model (host.ModelSet): the
// same calls, deadlines and per-call results as Tick then Predict. The
// worker uses it for the first due row of a cycle when Models has it.
type TickPredicter interface {
	TickPredict(ctx context.Context, input json.RawMessage, args []json.RawMessage, kwargs json.RawMessage) (ticks, preds map[string]host.CallResult)
}

// Store is the part of store.Store the predict worker uses.
type Store interface {
	ListSchedules(ctx context.Context, activeOnly bool) ([]store.ScheduleRow, error)
	ListModels(ctx context.Context) ([]store.Model, error)
	LatestPerformedAt(ctx context.Context, configID string) (time.Time, error)
	SavePredictCycle(ctx context.Context, models []store.Model, predictions []store.Prediction) (int, error)
}

// FreshnessGate reports whether the feed of an asset is fresh at now; a
// non-nil error says why not (for example "newest record 5m old").
type FreshnessGate interface {
	Fresh(asset string, now time.Time) error
}

// Defaults of Config.
const (
	// DefaultRetryInterval is the wait after a failed or skipped cycle.
	DefaultRetryInterval = 5 * time.Second
	// DefaultScheduleRefresh is Config.ScheduleRefresh's default.
	DefaultScheduleRefresh = 10 * time.Second
)

// Config configures a Worker. Challenge, Models, Store and Clock are
// required.
type Config struct {
	// Challenge answers the callables from behind the checked boundary
	// (wire.Checked: host.Challenge for a node), so its answers arrive
	// normalised: raw and inference inputs are objects, the scope envelope
	// and the predict call are complete, there is one validation result per
	// output. The worker does not check them again.
	Challenge sdk.Challenge
	Models    Models
	Store     Store
	Clock     clock.Clock
	// Logger defaults to hclog.NewNullLogger().
	Logger hclog.Logger
	// Freshness, when set, gates every cycle on the feed of each asset.
	Freshness FreshnessGate
	// Assets are checked by the freshness gate in addition to the due rows'
	// scope_template "asset" values (e.g. FEED_ASSETS).
	Assets []string
	// Data is passed to ProvideRawInput; nil lets the challenge plugin use
	// the host data service it was given at launch.
	Data sdk.HostData
	// AbsentGrace: a model down (not running) for longer than this gets
	// no more ABSENT rows. 0 (the default) means never: every model of the
	// host's set (config/models.json) is expected to answer every slot, and
	// each missed slot is an ABSENT row that counts as a non-answer, so a
	// model cannot stop answering after a good start and keep its score
	// (docs/scoring.md). Negative means never emit ABSENT rows for a down
	// model.
	AbsentGrace time.Duration
	// RetryInterval is the wait after a failed or skipped cycle (capped at
	// the next slot). 0 means DefaultRetryInterval.
	RetryInterval time.Duration
	// ScheduleRefresh is how long (real time) the worker reuses its read
	// of the active schedule rows before reading them again; 0 means
	// DefaultScheduleRefresh, negative reads them every cycle. The rows
	// change only when a predict node starts (ReplaceSchedules from its
	// config/schedules.json), so a worker sharing the database with a node
	// started later follows that node's rows at most this late. No
	// prediction is duplicated meanwhile: prediction ids are deterministic
	// and inserted only when absent.
	ScheduleRefresh time.Duration
	// Directory holds static model info (config/models.json: name, player,
	// deployment) keyed by model id. Empty fields never overwrite stored ones.
	Directory map[string]store.Model
	// Observe, when set, is called at the end of every RunOnce, on the
	// worker's goroutine, with its result and error, and with the cycle's
	// predictions when they were stored (nil otherwise). It must not
	// block or keep preds (metrics).
	Observe func(res Result, preds []store.Prediction, err error)
}

// Worker is the predict worker. Create it with New; it is safe to call
// RunOnce from one goroutine at a time.
type Worker struct {
	cfg Config
	log hclog.Logger

	mu        sync.Mutex
	downSince map[string]time.Time
	lastRun   time.Time // clock time of the previous RunOnce (zero: none yet)

	// Run-local caches (see dueRows and modelRows), guarded by cacheMu.
	cacheMu sync.Mutex
	// schedules is the last read of the active schedule rows, made at
	// schedulesRead (real time; see activeSchedules). The rows and their
	// bytes are never modified.
	schedules     []store.ScheduleRow
	schedulesRead time.Time
	// parsed holds the last parsed ScheduleConfig of each schedule row,
	// reused while the stored row is unchanged.
	parsed map[string]parsedRow
	// performed is the newest performed_at of each schedule's predictions:
	// read from the store the first time the schedule is checked, then
	// advanced by this worker's own saves.
	performed map[string]time.Time
	// models mirrors the stored model rows, read once and then kept up to
	// date with this worker's own upserts; reread when an unknown model
	// predicts.
	models map[string]store.Model
}

// New checks cfg and returns a Worker. It returns an error naming the first
// missing required field.
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.Challenge == nil:
		return nil, errors.New("predict worker: Config.Challenge is required")
	case cfg.Models == nil:
		return nil, errors.New("predict worker: Config.Models is required")
	case cfg.Store == nil:
		return nil, errors.New("predict worker: Config.Store is required")
	case cfg.Clock == nil:
		return nil, errors.New("predict worker: Config.Clock is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.ScheduleRefresh == 0 {
		cfg.ScheduleRefresh = DefaultScheduleRefresh
	}
	return &Worker{cfg: cfg, log: cfg.Logger.Named("predict"), downSince: map[string]time.Time{},
		parsed: map[string]parsedRow{}, performed: map[string]time.Time{}}, nil
}
