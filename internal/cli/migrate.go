package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/dbmigrate"
	"github.com/crunch-coordinator/coordinator/internal/serve"
)

func init() { register("migrate", newMigrateCmd) }

func newMigrateCmd(f *Factory) *cobra.Command {
	var (
		dbFlag, workspace string
		status            bool
	)
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema (serve refuses an unmigrated database)",
		Long: `migrate applies the schema migrations embedded in this coordinator to the
database, printing the schema version before and after. It is idempotent: a
second run changes nothing. Several processes may run it at once against one
PostgreSQL database (they take turns on a lock).

The database is --db, else DATABASE_URL from the process environment (.local.env
is not read, as for serve), else the SQLite file .coordinator/coordinator.db of
the node workspace (--workspace, COORDINATOR_WORKSPACE or the current directory).

--status only reports the current and expected versions and creates nothing.
Exit codes: 0 done / up to date, 1 behind (--status) or a database error,
2 a bad database URL or no database found.`,
		Example: `  coordinator migrate
  DATABASE_URL=postgres://coordinator:secret@127.0.0.1:5432/coordinator?sslmode=disable coordinator migrate
  coordinator migrate --status --db sqlite:///srv/node/coordinator.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rawURL, from, err := migrateTarget(f, dbFlag, workspace)
			if err != nil {
				return err
			}
			ctx, cancel := f.SignalContext(cmd.Context())
			defer cancel()
			out := f.IO.Out
			if status {
				s, err := dbmigrate.Check(ctx, rawURL)
				if err != nil {
					return migrateErr(from, err)
				}
				fmt.Fprintf(out, "Database: %s (%s, from %s)\n", s.URL, s.Backend, from)
				if s.Missing {
					fmt.Fprintln(out, "Schema version: none (the database file does not exist)")
					return &ExitError{Code: 1, Err: errors.New("database not created yet: run `coordinator migrate`")}
				}
				fmt.Fprintf(out, "Schema version: current %d, expected %d\n", s.Current, s.Expected)
				if s.Behind() {
					return &ExitError{Code: 1, Err: fmt.Errorf("schema behind (%d < %d): run `coordinator migrate`", s.Current, s.Expected)}
				}
				if s.Current > s.Expected {
					fmt.Fprintf(out, "Note: the database is newer than this coordinator (it expects %d); upgrade the coordinator\n", s.Expected)
					return nil
				}
				fmt.Fprintln(out, "Up to date.")
				return nil
			}
			res, err := dbmigrate.Apply(ctx, rawURL)
			if err != nil {
				return migrateErr(from, err)
			}
			fmt.Fprintf(out, "Database: %s (%s, from %s)\n", res.URL, res.Backend, from)
			fmt.Fprintf(out, "Schema version before: %d\n", res.Before)
			fmt.Fprintf(out, "Schema version after: %d (expected %d)\n", res.After, res.Expected)
			if res.Changed() {
				fmt.Fprintln(out, "Migrated.")
			} else {
				fmt.Fprintln(out, "Already up to date; nothing applied.")
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dbFlag, "db", "", "database URL: postgres://… or sqlite:///path.db (default: DATABASE_URL, else the workspace's SQLite file)")
	fl.StringVar(&workspace, "workspace", "", "node workspace for the default SQLite file (default: COORDINATOR_WORKSPACE or the current directory)")
	fl.BoolVar(&status, "status", false, "only report the current and expected schema versions (exit 1 when behind)")
	return cmd
}

// migrateTarget returns the database URL and where it came from: --db,
// DATABASE_URL, or the workspace's SQLite default.
func migrateTarget(f *Factory, dbFlag, workspace string) (rawURL, from string, err error) {
	if strings.TrimSpace(dbFlag) != "" {
		return strings.TrimSpace(dbFlag), "--db", nil
	}
	if v := strings.TrimSpace(f.Getenv("DATABASE_URL")); v != "" {
		return v, "DATABASE_URL", nil
	}
	node, err := serve.FindNodeDir(workspace, f.WorkDir, f.Getenv)
	if err != nil {
		return "", "", UsageError("no database given: pass --db URL, set DATABASE_URL, or run in a node workspace for its SQLite file (%v)", err)
	}
	if note := serve.LocalEnvNote(node, f.Getenv); note != "" {
		fmt.Fprintln(f.IO.ErrOut, "Note:", note)
	}
	return (&config.Workspace{NodeDir: node}).DatabaseURL(), "the workspace default", nil
}

// migrateErr maps a dbmigrate error to an exit code: 2 for a bad URL, 1
// otherwise.
func migrateErr(from string, err error) error {
	if errors.Is(err, dbmigrate.ErrBadURL) {
		return UsageError("%s: %v", from, err)
	}
	return &ExitError{Code: 1, Err: err}
}
