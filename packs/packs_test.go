package packs

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestBuiltinPacksLoad(t *testing.T) {
	list, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range list {
		ids = append(ids, p.ID)
		if len(p.Callables) != len(Hooks) || p.Description == "" {
			t.Errorf("pack %s: %+v", p.ID, p)
		}
		files, err := TemplateFiles(FS(), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"challenge/challenge.go.tmpl", "challenge/cmd/challenge/main.go.tmpl", "node/deployment/docker-compose.yml.tmpl", "workspace/README.md.tmpl"} {
			if _, ok := files[want]; !ok {
				t.Errorf("pack %s lacks template %s", p.ID, want)
			}
		}
	}
	if strings.Join(ids, ",") != "baseline,realtime,tournament" {
		t.Fatalf("packs %v", ids)
	}
	if _, err := Find(list, "nope"); err == nil || !strings.Contains(err.Error(), "allowed packs: baseline, realtime, tournament") {
		t.Fatalf("Find: %v", err)
	}
}

func TestPackOverridesSharedTemplates(t *testing.T) {
	pack := `{"id":"p","template_set":"s","callables":{"INFERENCE_INPUT_BUILDER":"challenge","INFERENCE_OUTPUT_VALIDATOR":"default","SCORING_FUNCTION":"challenge","MODEL_SCORE_AGGREGATOR":"default","REPORT_SCHEMA_PROVIDER":"default","LEADERBOARD_RANKER":"default","RAW_INPUT_PROVIDER":"default","GROUND_TRUTH_RESOLVER":"default","PREDICTION_SCOPE_BUILDER":"default","PREDICT_CALL_BUILDER":"default"},"scheduled_prediction_configs":[{"scope_key":"a","schedule":{"every_seconds":5,"resolve_after_seconds":10}}]}`
	fsys := fstest.MapFS{
		"p/pack.json":                       {Data: []byte(pack)},
		"p/templates/workspace/a.txt.tmpl":  {Data: []byte("pack")},
		"templates/s/workspace/a.txt.tmpl":  {Data: []byte("shared")},
		"templates/s/workspace/b.txt.tmpl":  {Data: []byte("shared")},
		"templates/s/workspace/ignored.txt": {Data: []byte("not a template")},
	}
	list, err := Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	files, err := TemplateFiles(fsys, list[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files["workspace/a.txt.tmpl"] != "pack" || files["workspace/b.txt.tmpl"] != "shared" {
		t.Fatalf("templates %v", files)
	}
	delete(fsys, "templates/s/workspace/a.txt.tmpl")
	delete(fsys, "templates/s/workspace/b.txt.tmpl")
	delete(fsys, "templates/s/workspace/ignored.txt")
	if _, err := Load(fsys); err == nil || !strings.Contains(err.Error(), "template_set: templates/s/ not found") {
		t.Fatalf("missing template set: %v", err)
	}
}
