package orchestrator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"

	"github.com/crunch-coordinator/coordinator/host"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
)

// Event names of the cluster protocol.
const (
	EventInit          = "init"
	EventUpdate        = "update"
	EventReportFailure = "report_failure"
)

// maxReason bounds a failure reason sent to the orchestrator (it may
// quote the participant's error text).
const maxReason = 1024

// handle decodes one frame and reconciles its entries. init also retires
// every held model that it does not list.
func (c *Client) handle(msg []byte) error {
	var ev Event
	if err := json.Unmarshal(msg, &ev); err != nil {
		return fmt.Errorf("expected a JSON frame {\"event\", \"data\"}, found %d bytes that do not decode: %w", len(msg), err)
	}
	if ev.Error != "" {
		return fmt.Errorf("the orchestrator answered an error: %q (is CRUNCH_ID %q right?)", ev.Error, c.cfg.CrunchID)
	}
	switch ev.Event {
	case EventInit, EventUpdate:
	default:
		c.log.Warn("unknown model orchestrator event ignored", "event", ev.Event)
		return nil
	}
	var entries []Entry
	if len(ev.Data) > 0 && string(ev.Data) != "null" {
		if err := json.Unmarshal(ev.Data, &entries); err != nil {
			return fmt.Errorf("%s event: expected data to be a list of deployments: %w", ev.Event, err)
		}
	}
	var errs []error
	listed := map[string]bool{}
	for i, e := range entries {
		listed[e.ModelID] = true
		if err := c.apply(e); err != nil {
			errs = append(errs, fmt.Errorf("%s event, data[%d] (model %q, deployment %q): %w", ev.Event, i, e.ModelID, e.DeploymentID, err))
		}
	}
	if ev.Event == EventInit {
		for id, h := range c.heldCopy() {
			if !listed[id] {
				c.retire(id, h, fmt.Errorf("deployment %s is not in the orchestrator's init list", h.deployment))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Client) heldCopy() map[string]held {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]held, len(c.models))
	for id, h := range c.models {
		out[id] = h
	}
	return out
}

// apply reconciles one entry (§6.3): an entry for another deployment than
// the held one is an unknown model, so a stale STOPPED never closes a newer
// deployment; RUNNING at a new deployment or address replaces the model.
func (c *Client) apply(e Entry) error {
	if e.ModelID == "" || e.DeploymentID == "" {
		return errors.New("expected model_id and deployment_id")
	}
	c.mu.Lock()
	h, ok := c.models[e.ModelID]
	c.mu.Unlock()
	same := ok && h.deployment == e.DeploymentID
	switch e.State {
	case StateRunning:
		if e.IP == "" || e.Port < 1 || e.Port > 65535 {
			return fmt.Errorf("RUNNING without a reachable ip and port (found %q, %d)", e.IP, e.Port)
		}
		if same && h.address == e.Address() {
			c.mu.Lock()
			h.infos = e.Infos
			c.models[e.ModelID] = h
			c.mu.Unlock()
			return nil
		}
		if err := c.cfg.Fleet.Upsert(c.spec(e)); err != nil {
			return err
		}
		c.mu.Lock()
		c.models[e.ModelID] = held{deployment: e.DeploymentID, address: e.Address(), infos: e.Infos}
		c.connFail[e.ModelID] = 0
		c.mu.Unlock()
		c.log.Info("model deployment joined", "model_id", e.ModelID, "deployment_id", e.DeploymentID, "address", e.Address(), "replaced", ok)
	case StateStopped, StateRecovering:
		if !same {
			c.log.Debug("stop of a deployment not held ignored", "model_id", e.ModelID, "deployment_id", e.DeploymentID, "held", h.deployment, "state", e.State)
			return nil
		}
		c.retire(e.ModelID, h, fmt.Errorf("deployment %s is %s on the orchestrator", e.DeploymentID, e.State))
	default:
		c.log.Warn("unknown deployment state ignored", "model_id", e.ModelID, "deployment_id", e.DeploymentID, "state", e.State)
	}
	return nil
}

// retire takes a held model out of the fleet and forgets it.
func (c *Client) retire(id string, h held, why error) {
	c.mu.Lock()
	delete(c.models, id)
	delete(c.connFail, id)
	c.mu.Unlock()
	if err := c.cfg.Fleet.Retire(id, why); err != nil {
		c.log.Warn("retire model", "model_id", id, "error", err)
	}
	c.log.Info("model deployment left", "model_id", id, "deployment_id", h.deployment, "reason", why)
}

// spec is the host spec of a RUNNING entry: a remote model at ip:port.
func (c *Client) spec(e Entry) host.PluginSpec {
	timeout := modelrunner.DefaultConnectTimeout
	var dial []grpc.DialOption
	if c.cfg.Security != nil {
		timeout = c.cfg.Security.ConnectTimeout
		dial = c.cfg.Security.DialOptions(e.ModelID, e.Address())
	}
	return host.PluginSpec{ID: e.ModelID, StartTimeout: timeout, Remote: &host.RemoteSpec{
		Address: e.Address(), BaseClass: c.cfg.BaseClass, DialOptions: dial,
		Deployment: e.DeploymentID, ModelName: e.Infos.ModelName, PlayerID: e.Infos.CruncherID, PlayerName: e.Infos.CruncherName,
	}}
}

// Report queues a report_failure for the orchestrator; it is sent at once
// when connected, else after the next (re)connect. Never blocks.
func (c *Client) Report(f Failure) {
	if f.Reason != nil && len(*f.Reason) > maxReason {
		r := (*f.Reason)[:maxReason] + "…"
		f.Reason = &r
	}
	data, _ := json.Marshal([]Failure{f})
	frame, _ := json.Marshal(Event{Event: EventReportFailure, Data: data})
	c.mu.Lock()
	c.queue = append(c.queue, frame)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	c.log.Warn("model reported to the orchestrator", "model_id", f.ModelID, "failure_code", f.Code)
}

// Connected reports whether a websocket session is open.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Queued is the number of report_failure frames not yet sent.
func (c *Client) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// HostEvent turns the supervisor's verdicts on an orchestrator model into
// report_failure messages: a stop for BAD_IMPLEMENTATION, a cool-down for
// MULTIPLE_FAILED or MULTIPLE_TIMEOUT, and ConnectFailuresToReport failed
// connect attempts in a row (CONNECTION_FAILED). Wire it to
// host.Options.OnEvent; it never blocks.
func (c *Client) HostEvent(e host.Event) {
	c.mu.Lock()
	h, ok := c.models[e.PluginID]
	if !ok {
		c.mu.Unlock()
		return
	}
	code := ""
	switch {
	case e.Kind == host.EventStopped && e.Reason == host.StopBadImplementation:
		code = FailureBadImplementation
	case e.Kind == host.EventCooldown && e.Reason == host.StopMultipleFailed:
		code = FailureMultipleFailed
	case e.Kind == host.EventCooldown && e.Reason == host.StopMultipleTimeout:
		code = FailureMultipleTimeout
	case e.Kind == host.EventStarted:
		c.connFail[e.PluginID] = 0
	case e.Kind == host.EventStartFailed:
		var se *host.StartError
		if errors.As(e.Err, &se) && se.Stage == host.StageConnect {
			c.connFail[e.PluginID]++
			if c.connFail[e.PluginID] >= ConnectFailuresToReport {
				c.connFail[e.PluginID] = 0
				code = FailureConnectionFailed
			}
		}
	}
	c.mu.Unlock()
	if code == "" {
		return
	}
	ip, _, err := net.SplitHostPort(h.address)
	if err != nil {
		ip = h.address
	}
	var reason *string
	if e.Err != nil {
		r := e.Err.Error()
		reason = &r
	}
	c.Report(Failure{ModelID: e.PluginID, Code: code, Reason: reason, IP: ip})
}
