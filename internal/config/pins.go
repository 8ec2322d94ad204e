package config

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ChallengeSHA256Var (.local.env or the environment) pins the challenge
// plugin binary: when set, a challenge binary whose SHA-256 differs never
// starts (models pin theirs with "sha256" in config/models.json).
const ChallengeSHA256Var = "CHALLENGE_SHA256"

// NormalizeSHA256 trims and lower-cases a checksum pin and checks it is
// empty or 64 hex digits (a SHA-256). The error says what was found.
func NormalizeSHA256(v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return "", nil
	}
	if b, err := hex.DecodeString(v); err != nil || len(b) != 32 {
		return "", fmt.Errorf("expected a SHA-256 of 64 hex digits (e.g. from `sha256sum` or .coordinator/plugins.lock.json), found %q", v)
	}
	return v, nil
}
