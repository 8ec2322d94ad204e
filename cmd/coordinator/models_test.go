package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestModelsAPIAgainstDev (issue 15, item 3): a node that runs its models
// serves the models API beside the report API. After a short replay, dev
// keeps running; `coordinator models` lists the model, a PATCH without
// the admin key is refused, `models disable` stops it (STOPPED in GET
// /models), `models logs` prints its captured stderr and `models enable`
// starts it again.
func TestModelsAPIAgainstDev(t *testing.T) {
	setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node := extWorkspace(t, ctx, "fleet", "")
	f, err := os.OpenFile(filepath.Join(node, ".local.env"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("\nADMIN_API_KEY=e2e-admin\n")
	f.Close()
	raw, err := os.ReadFile(filepath.Join(node, "config", "models.json"))
	if err != nil {
		t.Fatal(err)
	}
	var models []struct{ ID string }
	if err := json.Unmarshal(raw, &models); err != nil || len(models) != 1 {
		t.Fatalf("models.json: %v %s", err, raw)
	}
	id := models[0].ID

	addr := freeAddr(t)
	p := startCoordinator(t, ctx, node, nil, replayArgs(addr, "2023-03-01T00:30:00Z", "--skip-e2e")...)
	p.waitStdout(t, "replay done; the report API stays up", 2*time.Minute)
	env := []string{"API_ADDR=" + addr, "ADMIN_API_KEY=e2e-admin"}
	modelsCmd := func(args ...string) result {
		return runCoordinatorEnv(ctx, node, env, append([]string{"models"}, args...)...)
	}

	if res := modelsCmd("list"); res.code != 0 || !strings.Contains(res.stdout, id) || !strings.Contains(res.stdout, "RUNNER_RUNNING") {
		t.Fatalf("models list: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	base := "http://" + addr
	if code, body := httpDo(t, http.MethodPatch, base+"/models/"+id, ""); code != http.StatusUnauthorized {
		t.Errorf("PATCH without the admin key: %d %s, want 401", code, body)
	}
	if res := modelsCmd("disable", id); res.code != 0 || !strings.Contains(res.stdout, "desired state STOPPED, status RUNNER_STOPPED") {
		t.Fatalf("models disable: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	code, body := httpDo(t, http.MethodGet, base+"/models", "")
	var rows []struct {
		ID           string `json:"id"`
		DesiredState string `json:"desired_state"`
		Status       string `json:"status"`
		RunnerLogURI string `json:"runner_log_uri"`
	}
	_ = json.Unmarshal([]byte(body), &rows)
	if code != http.StatusOK || len(rows) != 1 || rows[0].DesiredState != "STOPPED" || rows[0].Status != "RUNNER_STOPPED" {
		t.Errorf("GET /models after disable: %d %s", code, body)
	}
	if len(rows) == 1 {
		if code, logs := httpDo(t, http.MethodGet, rows[0].RunnerLogURI+"?follow=false&from_start=true", ""); code != http.StatusOK || !strings.Contains(logs, "coordinator: generation 1 starting") {
			t.Errorf("runner_log_uri %s: %d %q", rows[0].RunnerLogURI, code, logs)
		}
	}
	if res := modelsCmd("logs", id); res.code != 0 || !strings.Contains(res.stdout, "coordinator: generation 1 starting") {
		t.Errorf("models logs: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if res := modelsCmd("enable", id); res.code != 0 || !strings.Contains(res.stdout, "desired state RUNNING") {
		t.Fatalf("models enable: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		res := modelsCmd("list")
		if strings.Contains(res.stdout, "RUNNER_RUNNING") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the enabled model is not running after a minute:\n%s", res.stdout)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("dev after SIGTERM: exit %d\n%s", code, tail(p.stderr.String(), 20))
	}
	checkNoProcessesUnder(t, accept.tmp)
}
