package suggest

import "testing"

func TestNearest(t *testing.T) {
	known := []string{"MODEL_CALL_TIMEOUT_SECONDS", "FEED_ASSETS", "FEED_KIND", "API_ADDR", "every_seconds", "id", "path", "name"}
	for _, tc := range []struct{ in, want string }{
		{"MODEL_CALL_TIMEOUT_SECOND", "MODEL_CALL_TIMEOUT_SECONDS"},
		{"FEED_ASSSETS", "FEED_ASSETS"},
		{"feed_kind", "FEED_KIND"},
		{"every_second", "every_seconds"},
		{"pth", "path"},
		{"nmae", "name"},
		{"ix", "id"},
		{"xyz", ""},
		{"AWS_REGION", ""},
		{"POSTGRES_PASSWORD", ""},
	} {
		if got := Nearest(tc.in, known); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Nearest("x", nil); got != "" {
		t.Errorf("no candidates: %q", got)
	}
}
