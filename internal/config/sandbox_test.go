package config

import (
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/internal/sandbox"
)

// TestParseSandboxCPU: the CPU limits of models and the challenge, their
// defaults, 0 as no limit and the errors naming the setting.
func TestParseSandboxCPU(t *testing.T) {
	cases := []struct {
		name                string
		env                 map[string]string
		wantModel, wantChal int
		wantErr             string
	}{
		{"defaults", nil, 1000, -1, ""},
		{"quarter CPU per model", map[string]string{"PLUGIN_CPU_MILLICORES": "250"}, 250, -1, ""},
		{"no model limit", map[string]string{"PLUGIN_CPU_MILLICORES": "0"}, -1, -1, ""},
		{"no challenge limit", map[string]string{"CHALLENGE_CPU_MILLICORES": "0"}, 1000, -1, ""},
		{"challenge limited", map[string]string{"CHALLENGE_CPU_MILLICORES": "4000"}, 1000, 4000, ""},
		{"below the kernel minimum", map[string]string{"PLUGIN_CPU_MILLICORES": "5"}, 1000, 0, "PLUGIN_CPU_MILLICORES"},
		{"negative challenge", map[string]string{"CHALLENGE_CPU_MILLICORES": "-1"}, 1000, 0, "CHALLENGE_CPU_MILLICORES"},
		{"not a number", map[string]string{"PLUGIN_CPU_MILLICORES": "1 CPU"}, 1000, 0, "PLUGIN_CPU_MILLICORES"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, errs := parseSandbox(tc.env, ".local.env")
			if tc.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.wantErr) || !strings.Contains(errs[0].Error(), "0 (no limit) or an integer >= 10") && !strings.Contains(errs[0].Error(), "whole number") {
					t.Fatalf("expected one error naming %s, got %v", tc.wantErr, errs)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if c.Limits.CPUMillicores != tc.wantModel || c.ChallengeCPUMillicores != tc.wantChal {
				t.Fatalf("expected models %d, challenge %d millicores; got %d, %d", tc.wantModel, tc.wantChal, c.Limits.CPUMillicores, c.ChallengeCPUMillicores)
			}
			// One convention: the zero Config means the parsed defaults.
			if tc.env == nil {
				d := sandbox.Config{}.WithDefaults()
				if d.Limits.CPUMillicores != tc.wantModel || d.ChallengeCPUMillicores != tc.wantChal {
					t.Fatalf("zero Config: models %d, challenge %d millicores; settings' defaults %d, %d", d.Limits.CPUMillicores, d.ChallengeCPUMillicores, tc.wantModel, tc.wantChal)
				}
			}
		})
	}
}
