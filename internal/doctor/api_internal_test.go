package doctor

import (
	"strings"
	"testing"
)

// TestLeaderboardCheckAcceptsUnrankedLast: a model without a score has
// rank null and is listed after the ranked ones; that is a valid board.
func TestLeaderboardCheckAcceptsUnrankedLast(t *testing.T) {
	var check func([]byte) error
	for _, c := range apiChecks {
		if c.path == "/reports/leaderboard" {
			check = c.check
		}
	}
	cases := []struct {
		name, body, wantErr string
	}{
		{"ranked", `[{"rank":1},{"rank":1},{"rank":3}]`, ""},
		{"unranked last", `[{"rank":1},{"rank":2},{"rank":null},{"rank":null}]`, ""},
		{"none ranked", `[{"rank":null},{"rank":null}]`, ""},
		{"ranked after unranked", `[{"rank":null},{"rank":1}]`, "listed after the unranked row 0"},
		{"unsorted", `[{"rank":2},{"rank":1}]`, "not sorted"},
		{"rank missing", `[{"model_id":"a"}]`, "expected a number or null"},
		{"rank a string", `[{"rank":"1"}]`, "expected a number or null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := check([]byte(c.body))
			if c.wantErr == "" && err != nil {
				t.Fatalf("expected valid, got %v", err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("expected an error containing %q, got %v", c.wantErr, err)
			}
		})
	}
}
