package redact

import (
	"strings"
	"testing"
)

func TestURLAndPassword(t *testing.T) {
	cases := []struct{ in, want, password string }{
		{"postgres://user:s3cret@db:5432/x?sslmode=disable", "postgres://user:xxxxx@db:5432/x?sslmode=disable", "s3cret"},
		{"postgres://db/x?password=s3cret&sslmode=disable", "postgres://db/x?password=xxxxx&sslmode=disable", "s3cret"},
		{"host=db user=u password='s3 cret' dbname=x", "host=db user=u password=xxxxx dbname=x", "s3 cret"},
		{"postgres://u:p%zz@h/db", "postgres://u:xxxxx@h/db", "p%zz"},
		{"https://hermes.pyth.network/v2", "https://hermes.pyth.network/v2", ""},
		{"/var/lib/x.db", "/var/lib/x.db", ""},
	}
	for _, c := range cases {
		if got := URL(c.in); got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.password != "" && strings.Contains(URL(c.in), c.password) {
			t.Errorf("URL(%q) leaks the password", c.in)
		}
		if got := Password(c.in); got != c.password {
			t.Errorf("Password(%q) = %q, want %q", c.in, got, c.password)
		}
	}
}

func TestWriterHidesSecrets(t *testing.T) {
	var b strings.Builder
	w := NewWriter(&b, "s3cr\"et-pw", "abc", "")
	line := `plain s3cr"et-pw json {"line":"s3cr\"et-pw","short":"abc"}` + "\n"
	if n, err := w.Write([]byte(line)); err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	got := b.String()
	if strings.Contains(got, "s3cr") || strings.Count(got, Mask) != 2 || !strings.Contains(got, `"short":"abc"`) {
		t.Fatalf("redacted line %q", got)
	}
}
