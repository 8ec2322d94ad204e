package scaffold

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/format"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	coordinator "github.com/crunch-coordinator/coordinator"
	"github.com/crunch-coordinator/coordinator/internal/layout"
	"github.com/crunch-coordinator/coordinator/packs"
	"github.com/crunch-coordinator/coordinator/sdk"
)

// Template delimiters: [[ ]] instead of {{ }}, so Go composite literals
// such as []T{{...}} need no escaping in templates.
const (
	leftDelim  = "[["
	rightDelim = "]]"
)

// SDKCopyDir is where init writes the SDK copy, relative to the workspace
// root, as a slash path (layout.Layout.SDKCopy decides it).
var SDKCopyDir = filepath.ToSlash(layout.Layout{}.SDKCopy())

// Data is what templates see (fields are referenced as [[.Name]] etc.).
type Data struct {
	Name            string // challenge slug, e.g. "btc-up"
	PackageName     string // Go package name of the challenge package
	ChallengeModule string // "crunch-<name>": module path and folder
	NodeModule      string // "crunch-node-<name>": module path and folder
	CrunchID        string
	Pack            packs.Pack
	// CheckpointIntervalSeconds is the resolved checkpoint interval.
	CheckpointIntervalSeconds int
	// Schedules are the parsed schedule rows (for READMEs).
	Schedules []sdk.ScheduleConfig
	// ChallengeCallables / DefaultCallables are SDK callable names (e.g.
	// "ScorePredictions") wired "challenge" / "default", canonical order.
	ChallengeCallables []string
	DefaultCallables   []string
	SDKModule          string // github.com/crunch-coordinator/coordinator
	GoVersion          string // go directive of go.mod/go.work files
	Version            string // coordinator version the SDK copy is pinned to
	ImageTag           string // coordinator container image tag
	// SourceDir is the coordinator checkout go.work uses ("" = the copy).
	SourceDir string
}

// SDKSource says which SDK module the generated go.work uses.
type SDKSource struct {
	// SourceDir is an absolute coordinator checkout to `use`; "" means the
	// copy written to .coordinator/sdk.
	SourceDir string
	// Files holds the SDK modules written to .coordinator/sdk (sdk/ and
	// proto/, each with its go.mod and go.sum); nil means the ones embedded
	// in the binary (coordinator.SDKFiles).
	Files fs.FS
	// Version is the coordinator version recorded with the copy.
	Version string
}

// Render renders the whole workspace in memory: pack templates, generated
// config files and the SDK copy. Keys are slash paths relative to the
// workspace folder; every key is checked to stay inside it.
func Render(cfg Config, packFS fs.FS, src SDKSource) (map[string][]byte, error) {
	if packFS == nil {
		packFS = packs.FS()
	}
	sdkFS := src.Files
	if sdkFS == nil {
		sdkFS = coordinator.SDKFiles()
	}
	goMod, err := fs.ReadFile(sdkFS, "sdk/go.mod")
	if err != nil {
		return nil, fmt.Errorf("SDK copy: read sdk/go.mod: %w", err)
	}
	goVersion := goDirective(goMod)
	if src.SourceDir != "" {
		if v, err := readGoDirective(src.SourceDir); err == nil && v != "" {
			goVersion = v
		}
	}
	if goVersion == "" {
		return nil, fmt.Errorf("SDK copy: sdk/go.mod has no go directive")
	}
	d := Data{
		Name:                      cfg.Name,
		PackageName:               PackageName(cfg.Name),
		ChallengeModule:           "crunch-" + cfg.Name,
		NodeModule:                "crunch-node-" + cfg.Name,
		CrunchID:                  cfg.CrunchID,
		Pack:                      cfg.Pack,
		CheckpointIntervalSeconds: cfg.CheckpointIntervalSeconds,
		Schedules:                 cfg.Rows,
		SDKModule:                 coordinator.ModulePath,
		GoVersion:                 goVersion,
		Version:                   src.Version,
		ImageTag:                  imageTag(src.Version),
		SourceDir:                 src.SourceDir,
	}
	for _, h := range packs.Hooks {
		if cfg.Callables[h.EnvVar] == packs.WiringChallenge {
			d.ChallengeCallables = append(d.ChallengeCallables, h.Callable)
		} else {
			d.DefaultCallables = append(d.DefaultCallables, h.Callable)
		}
	}

	out := map[string][]byte{}
	tmpls, err := packs.TemplateFiles(packFS, cfg.Pack)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(tmpls))
	for n := range tmpls {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rel, content, err := renderTemplate(name, tmpls[name], d)
		if err != nil {
			return nil, fmt.Errorf("pack %s: template %s: %w", cfg.Pack.ID, name, err)
		}
		out[rel] = content
	}
	gen, err := generatedFiles(cfg, d)
	if err != nil {
		return nil, err
	}
	for rel, content := range gen {
		out[rel] = content // generated files override templates of the same path
	}
	if err := addExtension(out, cfg.Extension, packFS, d); err != nil {
		return nil, err
	}
	if err := addSDKCopy(out, sdkFS, src.Version); err != nil {
		return nil, err
	}
	for rel := range out {
		if err := checkInside(rel); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// renderTemplate renders one template's path and content. The first path
// segment is the scope (workspace, challenge, node); ".tmpl" is removed.
func renderTemplate(name, text string, d Data) (string, []byte, error) {
	var p bytes.Buffer
	pt, err := template.New("path").Delims(leftDelim, rightDelim).Option("missingkey=error").Parse(name)
	if err != nil {
		return "", nil, fmt.Errorf("path: %w", err)
	}
	if err := pt.Execute(&p, d); err != nil {
		return "", nil, fmt.Errorf("path: %w", err)
	}
	rendered := strings.TrimSuffix(p.String(), ".tmpl")
	scope, rest, ok := strings.Cut(rendered, "/")
	if !ok || rest == "" {
		return "", nil, fmt.Errorf("path %q: expected <scope>/<file> with scope workspace, challenge or node", rendered)
	}
	var rel string
	switch scope {
	case "workspace":
		rel = rest
	case "challenge":
		rel = d.ChallengeModule + "/" + rest
	case "node":
		rel = d.NodeModule + "/" + rest
	default:
		return "", nil, fmt.Errorf("path %q: unknown scope %q (expected workspace, challenge or node)", rendered, scope)
	}
	if err := checkInside(rel); err != nil {
		return "", nil, err
	}
	t, err := template.New(name).Delims(leftDelim, rightDelim).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		return "", nil, err
	}
	content := normalize(buf.Bytes())
	if strings.HasSuffix(rel, ".go") {
		formatted, err := format.Source(content)
		if err != nil {
			return "", nil, fmt.Errorf("rendered Go code of %s does not parse: %w", rel, err)
		}
		content = formatted
	}
	return rel, content, nil
}

// checkInside refuses a workspace-relative path that is absolute, empty,
// or climbs out of the workspace.
func checkInside(rel string) error {
	clean := path.Clean(rel)
	if rel == "" || path.IsAbs(rel) || strings.Contains(rel, `\`) || clean != rel || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("refusing to write %q: the path must stay inside the workspace folder", rel)
	}
	return nil
}

// normalize trims surrounding whitespace and ends the content with exactly
// one newline.
func normalize(b []byte) []byte {
	b = bytes.TrimSpace(b)
	return append(b, '\n')
}

func imageTag(version string) string {
	if version == "" || version == "dev" || strings.ContainsAny(version, " /:") {
		return "latest"
	}
	return version
}

func goDirective(mod []byte) string {
	for _, line := range strings.Split(string(mod), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "go" {
			return f[1]
		}
	}
	return ""
}

func jsonIndent(raw json.RawMessage) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, err
	}
	return normalize(buf.Bytes()), nil
}

// addExtension adds the templates of the example extension id (none when
// "") and selects its factory in the node's config/callables.env.
func addExtension(out map[string][]byte, id string, packFS fs.FS, d Data) error {
	if id == "" {
		return nil
	}
	ext, err := packs.FindExtension(id)
	if err != nil {
		return inputErr(fmt.Errorf("--with-extension: %w", err))
	}
	tmpls, err := packs.ExtensionFiles(packFS, id)
	if err != nil {
		return err
	}
	for name, text := range tmpls {
		rel, content, err := renderTemplate(name, text, d)
		if err != nil {
			return fmt.Errorf("extension %s: template %s: %w", id, name, err)
		}
		out[rel] = content
	}
	call := d.NodeModule + "/config/callables.env"
	out[call] = append(out[call], []byte(fmt.Sprintf("\n# Service factory (advanced extension): %s, registered by\n# extensions/ (%s). Unset it for the built-in service.\n%s=%s\n",
		ext.Summary, ext.ID, ext.Var, ext.Factory))...)
	return nil
}
