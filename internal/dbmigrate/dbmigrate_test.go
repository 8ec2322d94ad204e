package dbmigrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLiteLifecycle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a", "b", "x.db")
	u := "sqlite://" + path

	s, err := Check(ctx, u)
	if err != nil || !s.Missing || !s.Behind() {
		t.Fatalf("missing file: %+v %v", s, err)
	}
	if _, _, err := OpenMigrated(ctx, u); !errors.Is(err, ErrBehind) || !strings.Contains(err.Error(), "coordinator migrate") {
		t.Fatalf("OpenMigrated on a missing file: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Check/OpenMigrated created %s", path)
	}

	r, err := Apply(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if r.Before != 0 || r.After != r.Expected || r.Expected < 1 || !r.Changed() || r.Backend != "sqlite" {
		t.Fatalf("first Apply: %+v", r)
	}
	r2, err := Apply(ctx, u)
	if err != nil || r2.Changed() || r2.Before != r.Expected {
		t.Fatalf("second Apply: %+v %v", r2, err)
	}
	s, err = Check(ctx, u)
	if err != nil || s.Behind() || s.Current != r.Expected {
		t.Fatalf("Check after Apply: %+v %v", s, err)
	}
	st, s, err := OpenMigrated(ctx, u)
	if err != nil {
		t.Fatalf("OpenMigrated after Apply: %v", err)
	}
	defer st.Close()
	if s.Current != s.Expected {
		t.Fatalf("OpenMigrated status: %+v", s)
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"", "mysql://u:topsecret@h/db", "sqlite://"} {
		_, err := Apply(ctx, u)
		if !errors.Is(err, ErrBadURL) || strings.Contains(err.Error(), "topsecret") {
			t.Errorf("Apply(%q): %v, want ErrBadURL without the password", u, err)
		}
		if _, err := Check(ctx, u); !errors.Is(err, ErrBadURL) {
			t.Errorf("Check(%q): %v", u, err)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, s, err := OpenMigrated(ctx, empty)
	if !errors.Is(err, ErrBehind) || s.Current != 0 || s.Expected < 1 || !strings.Contains(err.Error(), "schema version 0") {
		t.Errorf("OpenMigrated on an empty database: %+v %v", s, err)
	}
	if err := Require(Status{URL: "x", Current: 3, Expected: 2}); err != nil {
		t.Errorf("a newer schema is accepted: %v", err)
	}
}
