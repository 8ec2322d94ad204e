package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crunch-coordinator/coordinator/internal/modelsapi"
)

func init() {
	register("models", func(f *Factory) *cobra.Command { return NewCmdModels(f, nil) })
}

// ModelsOptions are the inputs of `coordinator models ...`.
type ModelsOptions struct {
	IO         IOStreams
	HTTPClient *http.Client
	// API is the node's base URL (--api; default http://API_ADDR, else
	// http://127.0.0.1:8000).
	API string
	// Key is the API key sent: ADMIN_API_KEY for disable and enable,
	// READ_API_KEY (else ADMIN_API_KEY) for list and logs, from the
	// environment (never a flag: argv is visible to every user).
	Key string
	// Action is list, disable, enable or logs; ID the model of the last
	// three.
	Action, ID string
	// JSON prints list's answer as the API's JSON array.
	JSON bool
	ctx  context.Context
}

// NewCmdModels builds `coordinator models list|disable|enable|logs`, the
// client of the models API a running node serves (package modelsapi).
// runF replaces modelsRun in tests.
func NewCmdModels(f *Factory, runF func(*ModelsOptions) error) *cobra.Command {
	opts := &ModelsOptions{IO: f.IO, HTTPClient: &http.Client{Timeout: 30 * time.Second}}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List, stop, start and read the logs of a running node's models",
		Long: `models talks to the models API of a running node (dev, or serve all): the API
the report UI's Models page reads.

  list           every model: id, name, status, desired state, message
  disable <id>   stop the model (desired_state STOPPED); its slots get ABSENT rows
  enable <id>    start it again (desired_state RUNNING)
  logs <id>      print the model's captured stderr

disable and enable send ADMIN_API_KEY from the environment (the node must have
the same key; without one it refuses every state change); list and logs send
READ_API_KEY, else ADMIN_API_KEY, when set. --api defaults to http://API_ADDR,
else http://127.0.0.1:8000.`,
		Example: `  coordinator models list
  ADMIN_API_KEY=... coordinator models disable mean-reversion
  coordinator models logs mean-reversion --api http://127.0.0.1:8000`,
	}
	cmd.PersistentFlags().StringVar(&opts.API, "api", "", "base URL of the node's API (default http://API_ADDR, else http://127.0.0.1:8000)")
	sub := func(use, short string, admin bool) *cobra.Command {
		action, _, _ := strings.Cut(use, " ")
		args := cobra.ExactArgs(1)
		if action == "list" {
			args = cobra.NoArgs
		}
		return &cobra.Command{
			Use: use, Short: short, Args: args,
			RunE: func(c *cobra.Command, a []string) error {
				opts.Action, opts.ctx = action, c.Context()
				if len(a) > 0 {
					opts.ID = a[0]
				}
				if opts.API == "" {
					opts.API = "http://127.0.0.1:8000"
					if addr := strings.TrimSpace(f.Getenv("API_ADDR")); addr != "" {
						opts.API = "http://" + addr
					}
				}
				if u, err := url.Parse(opts.API); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return UsageError("--api: expected an http(s) URL such as http://127.0.0.1:8000, found %q", opts.API)
				}
				opts.Key = f.Getenv(modelsapi.AdminKeyVar)
				if k := f.Getenv(modelsapi.ReadKeyVar); !admin && k != "" {
					opts.Key = k
				}
				if runF != nil {
					return runF(opts)
				}
				return modelsRun(opts)
			},
		}
	}
	list := sub("list", "List the node's models with their status and desired state", false)
	list.Flags().BoolVar(&opts.JSON, "json", false, "print the API's JSON array")
	cmd.AddCommand(list,
		sub("disable <id>", "Stop a model (desired_state STOPPED); needs ADMIN_API_KEY", true),
		sub("enable <id>", "Start a stopped model again (desired_state RUNNING); needs ADMIN_API_KEY", true),
		sub("logs <id>", "Print a model's captured stderr", false))
	return cmd
}

// modelsRun performs opts.Action against the models API.
func modelsRun(opts *ModelsOptions) error {
	ctx := opts.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	base := strings.TrimRight(opts.API, "/")
	switch opts.Action {
	case "list":
		body, err := modelsCall(ctx, opts, http.MethodGet, base+"/models", nil)
		if err != nil {
			return err
		}
		if opts.JSON {
			_, err := opts.IO.Out.Write(body)
			return err
		}
		var rows []modelsapi.Model
		if err := json.Unmarshal(body, &rows); err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("GET %s/models: expected a JSON array of models: %w", base, err)}
		}
		tw := tabwriter.NewWriter(opts.IO.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tDESIRED\tMESSAGE")
		for _, m := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ID, deref(m.ModelName), m.Status, m.DesiredState, deref(m.StatusMessage))
		}
		return tw.Flush()
	case "disable", "enable":
		desired := modelsapi.DesiredStopped
		if opts.Action == "enable" {
			desired = modelsapi.DesiredRunning
		}
		if opts.Key == "" {
			return &ExitError{Code: 2, Err: fmt.Errorf("models %s: %s is not set: export the node's admin key (state changes need it)", opts.Action, modelsapi.AdminKeyVar)}
		}
		req, _ := json.Marshal(map[string]string{"desired_state": desired})
		body, err := modelsCall(ctx, opts, http.MethodPatch, base+"/models/"+url.PathEscape(opts.ID), req)
		if err != nil {
			return err
		}
		var m modelsapi.Model
		if err := json.Unmarshal(body, &m); err != nil {
			return &ExitError{Code: 1, Err: fmt.Errorf("PATCH %s/models/%s: expected a model: %w", base, opts.ID, err)}
		}
		fmt.Fprintf(opts.IO.Out, "model %s: desired state %s, status %s\n", m.ID, m.DesiredState, m.Status)
		return nil
	case "logs":
		body, err := modelsCall(ctx, opts, http.MethodGet, base+"/models/"+url.PathEscape(opts.ID)+"/logs", nil)
		if err != nil {
			return err
		}
		_, err = opts.IO.Out.Write(body)
		return err
	}
	return UsageError("models: unknown action %q", opts.Action)
}

// modelsCall sends one request and returns the body of a 2xx answer; any
// other answer is an error with the status and the API's message.
func modelsCall(ctx context.Context, opts *ModelsOptions, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, UsageError("%s %s: %v", method, u, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if opts.Key != "" {
		req.Header.Set("X-API-Key", opts.Key)
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("%s %s: %w (is the node running? coordinator dev or serve all)", method, u, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("%s %s: read the answer: %w", method, u, err)}
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		var e modelsapi.Error
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			msg = e.Message
			for _, fe := range e.FieldErrors {
				msg += "; " + fe.Property + ": " + fe.Message
			}
		}
		if resp.StatusCode == http.StatusNotFound && e.Message == "" {
			msg = "no models API here: the node does not run its models in this process (serve report alone), or this is not a coordinator node"
		}
		return nil, &ExitError{Code: 1, Err: fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, msg)}
	}
	return b, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
