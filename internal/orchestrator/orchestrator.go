// Package orchestrator follows CrunchDAO's model orchestrator over its
// websocket cluster protocol (reference-system.md §6.3): the orchestrator
// runs each participant's model in its own container and publishes, per
// crunch, which deployments are RUNNING, STOPPED or RECOVERING and where
// they listen. A Client reconciles those events by deployment id into a
// Fleet (the host's model set: remote models joining, being replaced and
// retiring) and sends report_failure messages back, queued across
// reconnects.
//
// The seam to the model set is Fleet (host.ModelSet implements it); the
// seam to the supervisor's verdicts is Client.HostEvent, wired to
// host.Options.OnEvent.
package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
)

// Settings that enable the cluster protocol (with CRUNCH_ID; registered in
// config.Known).
const (
	EnvNodeHost = config.OrchestratorHostVar
	EnvNodePort = "MODEL_RUNNER_NODE_PORT"
)

// Deployment states of §6.3.
const (
	StateRunning    = "RUNNING"
	StateStopped    = "STOPPED"
	StateRecovering = "RECOVERING"
)

// Failure codes of report_failure (reference-system.md §5.2).
const (
	FailureBadImplementation = "BAD_IMPLEMENTATION"
	FailureMultipleFailed    = "MULTIPLE_FAILED"
	FailureMultipleTimeout   = "MULTIPLE_TIMEOUT"
	FailureConnectionFailed  = "CONNECTION_FAILED"
)

// ConnectFailuresToReport is how many connect attempts in a row fail before
// a model is reported CONNECTION_FAILED (§6.4: five attempts).
const ConnectFailuresToReport = 5

// Fleet is the model set the client reconciles into (host.ModelSet).
type Fleet interface {
	// Upsert adds or replaces a model (a new deployment or address).
	Upsert(spec host.PluginSpec) error
	// Retire takes a model out; it answers ABSENT (a non-answer).
	Retire(id string, why error) error
}

// Infos describes a deployment's model and owner (§6.3 "infos").
type Infos struct {
	ModelName            string `json:"model_name"`
	CruncherID           string `json:"cruncher_id"`
	CruncherName         string `json:"cruncher_name"`
	CruncherWalletPubkey string `json:"cruncher_wallet_pubkey,omitempty"`
	CruncherHotkey       string `json:"cruncher_hotkey,omitempty"`
}

// Entry is one model of an init or update event.
type Entry struct {
	DeploymentID string `json:"deployment_id"`
	ModelID      string `json:"model_id"`
	Infos        Infos  `json:"infos"`
	State        string `json:"state"`
	IP           string `json:"ip"`
	Port         int    `json:"port"`
}

// Address is the entry's host:port.
func (e Entry) Address() string { return net.JoinHostPort(e.IP, strconv.Itoa(e.Port)) }

// Event is one websocket frame, both ways: {"event": ..., "data": [...]}.
type Event struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Error string          `json:"error,omitempty"`
}

// Failure is one report_failure item. Reason is null when empty.
type Failure struct {
	ModelID string  `json:"model_id"`
	Code    string  `json:"failure_code"`
	Reason  *string `json:"failure_reason"`
	IP      string  `json:"ip"`
}

// Config configures a Client.
//
//   - Host, Port, CrunchID: the websocket URL ws://Host:Port/CrunchID.
//   - BaseClass: the challenge's base class sent in each model's Setup.
//   - Security: the transport of the model channels (nil: plaintext).
//   - RetryInterval: pause after a lost connection or a failed connect,
//     and between connect attempts (10 s, §6.3); MaxConnectAttempts per
//     round (5). A round that fails is logged and retried after the pause:
//     the client never gives up while ctx lives.
//   - DialTimeout bounds one websocket handshake (10 s).
type Config struct {
	Host               string
	Port               int
	CrunchID           string
	BaseClass          string
	Security           *modelrunner.Security
	Fleet              Fleet
	Logger             hclog.Logger
	RetryInterval      time.Duration
	MaxConnectAttempts int
	DialTimeout        time.Duration
}

// FromEnv reads MODEL_RUNNER_NODE_HOST, MODEL_RUNNER_NODE_PORT and
// CRUNCH_ID from env; ok is false when host or port is unset (the cluster
// protocol is off). A bad port or a missing crunch id is an error.
func FromEnv(env map[string]string) (host string, port int, crunch string, ok bool, err error) {
	host, ps, crunch := env[EnvNodeHost], env[EnvNodePort], env["CRUNCH_ID"]
	if host == "" && ps == "" {
		return "", 0, "", false, nil
	}
	if host == "" || ps == "" {
		return "", 0, "", false, fmt.Errorf("the model orchestrator needs both %s and %s (found host %q, port %q)", EnvNodeHost, EnvNodePort, host, ps)
	}
	port, err = strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, "", false, fmt.Errorf("%s: expected a port 1-65535, found %q", EnvNodePort, ps)
	}
	if crunch == "" {
		return "", 0, "", false, fmt.Errorf("the model orchestrator needs CRUNCH_ID (the crunch whose models to follow)")
	}
	return host, port, crunch, true, nil
}

// held is a deployment the client has put in the fleet.
type held struct {
	deployment string
	address    string
	infos      Infos
}

// Client follows one orchestrator. Create it with New, run it with Run;
// HostEvent and Report may be called from any goroutine.
type Client struct {
	cfg Config
	log hclog.Logger

	mu       sync.Mutex
	models   map[string]held
	queue    [][]byte // report_failure frames not yet sent
	connFail map[string]int
	conn     *websocket.Conn
	wake     chan struct{}
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Host == "" || cfg.Port == 0 || cfg.CrunchID == "" || cfg.Fleet == nil {
		return nil, errors.New("orchestrator: Host, Port, CrunchID and Fleet are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = 10 * time.Second
	}
	if cfg.MaxConnectAttempts <= 0 {
		cfg.MaxConnectAttempts = 5
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	return &Client{cfg: cfg, log: cfg.Logger.Named("orchestrator"), models: map[string]held{}, connFail: map[string]int{}, wake: make(chan struct{}, 1)}, nil
}

// URL is the websocket URL (§6.3: plain ws, the crunch id as the path).
func (c *Client) URL() string {
	return "ws://" + net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port)) + "/" + c.cfg.CrunchID
}

// Held returns the deployment id held per model id.
func (c *Client) Held() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.models))
	for id, h := range c.models {
		out[id] = h.deployment
	}
	return out
}

// Run connects, reconciles every event and sends queued reports, and
// reconnects after RetryInterval whenever the connection is lost, until
// ctx ends (it then returns nil).
func (c *Client) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		conn, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Error("model orchestrator unreachable; models keep their last state", "url", c.URL(), "attempts", c.cfg.MaxConnectAttempts, "error", err)
			if !sleep(ctx, c.cfg.RetryInterval) {
				break
			}
			continue
		}
		err = c.session(ctx, conn)
		if ctx.Err() != nil {
			_ = conn.Close(websocket.StatusNormalClosure, "node stopping")
			break
		}
		_ = conn.CloseNow()
		c.log.Warn("model orchestrator connection lost; reconnecting", "url", c.URL(), "pause", c.cfg.RetryInterval.String(), "error", err)
		if !sleep(ctx, c.cfg.RetryInterval) {
			break
		}
	}
	return nil
}

// connect dials up to MaxConnectAttempts times, RetryInterval apart.
func (c *Client) connect(ctx context.Context) (*websocket.Conn, error) {
	var last error
	for i := 0; i < c.cfg.MaxConnectAttempts; i++ {
		if i > 0 && !sleep(ctx, c.cfg.RetryInterval) {
			return nil, ctx.Err()
		}
		dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		conn, _, err := websocket.Dial(dctx, c.URL(), nil)
		cancel()
		if err == nil {
			conn.SetReadLimit(16 << 20)
			c.log.Info("connected to the model orchestrator", "url", c.URL())
			return conn, nil
		}
		last = err
		c.log.Warn("model orchestrator connect failed", "url", c.URL(), "attempt", i+1, "error", err)
	}
	return nil, fmt.Errorf("connect to %s: %d attempts failed: %w", c.URL(), c.cfg.MaxConnectAttempts, last)
}

// session serves one connection: a writer goroutine flushes the report
// queue (now, and whenever Report adds to it) while this goroutine reads
// and reconciles events. It returns when the connection fails or ctx ends.
func (c *Client) session(ctx context.Context, conn *websocket.Conn) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}()
	werr := make(chan error, 1)
	go func() { werr <- c.writer(sctx, conn) }()
	for {
		_, msg, err := conn.Read(sctx)
		if err != nil {
			cancel()
			if we := <-werr; we != nil && !errors.Is(we, context.Canceled) {
				return errors.Join(err, we)
			}
			return err
		}
		if err := c.handle(msg); err != nil {
			// §6.3: an event that cannot be processed is logged and
			// listening goes on (the next init repairs the view).
			c.log.Error("model orchestrator event refused", "error", err)
		}
	}
}

// writer sends queued frames in order; a frame leaves the queue only once
// written, so a failed write keeps it for the next connection.
func (c *Client) writer(ctx context.Context, conn *websocket.Conn) error {
	for {
		c.mu.Lock()
		var next []byte
		if len(c.queue) > 0 {
			next = c.queue[0]
		}
		c.mu.Unlock()
		if next == nil {
			select {
			case <-c.wake:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		wctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		err := conn.Write(wctx, websocket.MessageText, next)
		cancel()
		if err != nil {
			c.log.Warn("report_failure not sent; kept for the next connection", "error", err)
			_ = conn.CloseNow() // the reader sees the loss and the session ends
			return err
		}
		c.mu.Lock()
		if len(c.queue) > 0 {
			c.queue = c.queue[1:]
		}
		c.mu.Unlock()
		c.log.Info("report_failure sent", "message", string(next))
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
