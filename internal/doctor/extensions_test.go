package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crunch-coordinator/coordinator/extend"
	"github.com/crunch-coordinator/coordinator/extend/factoryname"
	"github.com/crunch-coordinator/coordinator/internal/config"
	"github.com/crunch-coordinator/coordinator/internal/extbuild"
	"github.com/crunch-coordinator/coordinator/internal/testutil/testnode"
)

// TestFactoryResults checks the selected factories against a node
// binary's listing: registered (pass, the service it replaces), unknown
// (fail naming it, with a did-you-mean or the registered names) and
// refused at registration (fail with the reason).
func TestFactoryResults(t *testing.T) {
	l := extbuild.Listing{Linked: "example.com/crunch-node-x/extensions", APIVersion: 1, Factories: []extend.Registration{
		{Kind: factoryname.Predict, Name: "tournament-rounds", APIVersion: 1},
		{Kind: factoryname.Report, Name: "custom-report", APIVersion: 1},
		{Kind: factoryname.Report, Name: "other-report", APIVersion: 1},
		{Kind: factoryname.Score, Name: "future-score", APIVersion: 2, Error: `score factory "future-score" was written for extend API v2, but this coordinator provides v1`},
	}}
	tests := []struct {
		name       string
		sel        config.FactoryChoice
		status     string
		msg, fix   []string
		fixAbsents []string
	}{
		{"registered", config.FactoryChoice{Kind: factoryname.Report, Name: "custom-report"}, Pass,
			[]string{"registered in example.com/crunch-node-x/extensions (extend API v1); replaces the built-in report service"}, nil, nil},
		{"misspelt", config.FactoryChoice{Kind: factoryname.Report, Name: "custom-reprot"}, Fail,
			[]string{`no report factory named "custom-reprot" is registered in example.com/crunch-node-x/extensions (registered report factories: custom-report, other-report)`},
			[]string{`did you mean "custom-report"? set REPORT_APP_FACTORY=custom-report`, `extend.RegisterReportApp("custom-reprot", 1, ...)`, "unset REPORT_APP_FACTORY"}, nil},
		{"unknown, none close", config.FactoryChoice{Kind: factoryname.Predict, Name: "weekly"}, Fail,
			[]string{`no predict factory named "weekly"`, "(registered predict factories: tournament-rounds)"},
			[]string{"set PREDICT_SERVICE_FACTORY to one of tournament-rounds", `extend.RegisterPredictService("weekly", 1, ...)`}, []string{"did you mean"}},
		{"refused", config.FactoryChoice{Kind: factoryname.Score, Name: "future-score"}, Fail,
			[]string{"registered but refused: ", "written for extend API v2, but this coordinator provides v1"},
			[]string{"unset SCORE_SERVICE_FACTORY for the built-in score service"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := factoryResults([]config.FactoryChoice{tt.sel}, l, "/n/extensions")
			if len(rs) != 1 {
				t.Fatalf("expected one result, found %+v", rs)
			}
			r := rs[0]
			if r.Status != tt.status || r.Check != tt.sel.Kind.Var()+"="+tt.sel.Name || r.Where != "/n/extensions" {
				t.Fatalf("result %+v: expected status %s, check %s=%s", r, tt.status, tt.sel.Kind.Var(), tt.sel.Name)
			}
			for _, w := range tt.msg {
				if !strings.Contains(r.Message, w) {
					t.Errorf("message %q lacks %q", r.Message, w)
				}
			}
			for _, w := range tt.fix {
				if !strings.Contains(r.Fix, w) {
					t.Errorf("fix %q lacks %q", r.Fix, w)
				}
			}
			for _, w := range tt.fixAbsents {
				if strings.Contains(r.Fix, w) {
					t.Errorf("fix %q has %q", r.Fix, w)
				}
			}
		})
	}
	s := servicesResult([]config.FactoryChoice{{Kind: factoryname.Predict, Name: "tournament-rounds"}, {Kind: factoryname.Report, Name: "custom-report"}})
	if want := "replaced: predict by tournament-rounds (PREDICT_SERVICE_FACTORY), report by custom-report (REPORT_APP_FACTORY); built-in: score"; s.Message != want {
		t.Errorf("services: %q, want %q", s.Message, want)
	}
}

// TestExtensionsCheck runs doctor's workspace checks: a v1 workspace says
// the built-in services run and builds nothing; a selected factory with
// --skip-plugins is listed unchecked; a workspace without a go.work that
// uses a coordinator checkout fails with the fix.
func TestExtensionsCheck(t *testing.T) {
	v1 := testnode.WriteNode(t, "127.0.0.1:0", nil)
	rs := Run(context.Background(), Options{NodeDir: v1, SkipPlugins: true})
	if find(rs, Pass, "no service factory selected: the built-in predict, score and report services run") == nil {
		t.Errorf("v1 workspace: no pass result for the built-in services in %+v", rs)
	}
	if _, err := os.Stat(filepath.Join(v1, ".coordinator", "bin", "node")); err == nil {
		t.Error("v1 workspace: a node binary was built")
	}

	sel := testnode.WriteNode(t, "127.0.0.1:0", func(f map[string]string) { f[config.LocalEnvFile] = "REPORT_APP_FACTORY=custom-report\n" })
	rs = Run(context.Background(), Options{NodeDir: sel, SkipPlugins: true})
	if find(rs, Pass, "replaced: report by custom-report (REPORT_APP_FACTORY); built-in: predict, score") == nil ||
		find(rs, Skip, "--skip-plugins: the node binary with the extensions is not built") == nil {
		t.Errorf("selected factory, --skip-plugins: %+v", rs)
	}

	rs = checkExtensions(context.Background(), &WorkspaceInfo{NodeDir: sel, Loaded: mustLoad(t, sel)}, true, nil)
	r := find(rs, Fail, "node binary")
	if r == nil || !strings.Contains(r.Message, "go.work") || !strings.Contains(r.Fix, "unset REPORT_APP_FACTORY") {
		t.Errorf("no go.work: expected a failing node binary result naming go.work, found %+v", rs)
	}
}

func mustLoad(t *testing.T, dir string) *config.Workspace {
	t.Helper()
	w, err := config.LoadWorkspace(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return w
}
