package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/dbmigrate"
	"github.com/crunch-coordinator/coordinator/internal/serve"
)

func init() { register("serve", newServeCmd) }

func newServeCmd(f *Factory) *cobra.Command {
	var (
		workspace string
		skipBuild bool
	)
	cmd := &cobra.Command{
		Use:   "serve predict|score|report|all",
		Short: "Run a node's production workers, configured from the environment",
		Long: `serve runs one role of a competition node until SIGTERM or SIGINT:

  predict  the live feed poller and the predict loop (challenge and model plugins)
  score    the score, leaderboard and checkpoint loops (challenge plugin only)
  report   the report API on API_ADDR (challenge plugin only, for the report schema)
  all      everything in one process

Settings come from the process environment only (DATABASE_URL, API_ADDR, FEED_*,
*_INTERVAL_SECONDS, LOG_FORMAT, LOG_LEVEL, ...; .local.env is not read: docker
compose's env_file or the shell provides them). config/callables.env,
config/models.json and config/scheduled_prediction_configs.json come from the
node workspace: --workspace, else COORDINATOR_WORKSPACE, else the current
directory. Plugins are built into <node>/.coordinator/bin unless --skip-build.

serve never migrates: against an unmigrated database it exits 1 and asks for
` + "`coordinator migrate`" + `. Several serve processes may share one PostgreSQL
database. On SIGTERM/SIGINT the in-flight cycles finish, the API drains, the
plugins stop and serve exits 0. Logs are structured lines on stderr (text, or
JSON with LOG_FORMAT=json).`,
		Example: `  DATABASE_URL=postgres://... coordinator migrate
  DATABASE_URL=postgres://... coordinator serve all --workspace ./crunch-node-btc-up
  LOG_FORMAT=json coordinator serve report --skip-build`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return UsageError("serve: expected one role (%s), found %d arguments", strings.Join(serve.Roles, ", "), len(args))
			}
			if _, err := serve.NodeRoles(args[0]); err != nil {
				return UsageError("serve: %v", err)
			}
			return nil
		},
		ValidArgs: serve.Roles,
		RunE: func(cmd *cobra.Command, args []string) error {
			node, err := serve.FindNodeDir(workspace, f.WorkDir, f.Getenv)
			if err != nil {
				return UsageError("%v", err)
			}
			if ws, err := serve.LoadWorkspace(node, f.Getenv); err == nil {
				if handled, err := runExtended(cmd, f, node, ws.Factories(), skipBuild, f.IO.ErrOut); handled {
					return err
				}
			}
			ctx, cancel := f.SignalContext(cmd.Context())
			defer cancel()
			err = serve.Run(ctx, serve.Options{
				Role: args[0], NodeDir: node, SkipBuild: skipBuild, Getenv: f.Getenv, Log: f.IO.ErrOut,
			})
			switch {
			case err == nil:
				return nil
			case errors.Is(err, serve.ErrConfig), errors.Is(err, dbmigrate.ErrBadURL):
				return &ExitError{Code: 2, Err: err}
			case errors.Is(err, dbmigrate.ErrBehind):
				return &ExitError{Code: 1, Err: fmt.Errorf("refusing to start: %w", err)}
			case ctx.Err() != nil && cmd.Context().Err() == nil && errors.Is(err, ctx.Err()):
				return nil // stopped by SIGTERM/SIGINT during start-up
			}
			return &ExitError{Code: 1, Err: err}
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&workspace, "workspace", "", "node workspace directory (default: COORDINATOR_WORKSPACE, else the current directory or its nearest workspace ancestor)")
	fl.BoolVar(&skipBuild, "skip-build", false, "use the plugin binaries already built under <node>/.coordinator/bin")
	return cmd
}
