// Package scaffold renders a pack into a new Crunch workspace for
// `coordinator init`: it loads and merges spec and answers files (answers <
// spec < flags), checks name rules, renders the pack's templates and the
// generated config files in memory, adds the SDK module copy and only then
// writes the workspace, replacing an existing one (--force) by an atomic
// rename so a failed render never destroys it. Nothing is written outside
// the output folder. The generated layout is notes/workspace-contract.md.
package scaffold

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/crunch-coordinator/coordinator/packs"
)

// Options configure Init.
type Options struct {
	Request
	// OutputDir is the parent folder of the workspace (created if missing).
	OutputDir string
	// Force replaces an existing <OutputDir>/<name> once rendering succeeded.
	Force bool
	// Packs is the pack tree; nil means the packs embedded in the binary.
	Packs fs.FS
	// SDK says which SDK module go.work uses and what the copy holds.
	SDK SDKSource
}

// Result describes a created workspace.
type Result struct {
	// Workspace is the absolute workspace folder; NodeDir and ChallengeDir
	// its two modules.
	Workspace, NodeDir, ChallengeDir string
	Config                           Config
	// Files are the written files, slash paths relative to Workspace, sorted.
	Files []string
	// Replaced is true when an existing workspace was replaced (--force).
	Replaced bool
}

// Init resolves the configuration, renders the workspace in memory and
// writes it to <OutputDir>/<name>. Input problems (name, flags, spec,
// answers, existing target without Force) are *InputError values.
func Init(ctx context.Context, opts Options) (Result, error) {
	packFS := opts.Packs
	if packFS == nil {
		packFS = packs.FS()
	}
	list, err := packs.Load(packFS)
	if err != nil {
		return Result{}, fmt.Errorf("load packs: %w", err)
	}
	cfg, err := Resolve(opts.Request, list)
	if err != nil {
		return Result{}, err
	}
	if cfg.Extension = opts.Extension; cfg.Extension != "" {
		if _, err := packs.FindExtension(cfg.Extension); err != nil {
			return Result{}, inputErr(fmt.Errorf("--with-extension: %w", err))
		}
	}
	if opts.OutputDir == "" {
		return Result{}, inputErr(fmt.Errorf("--output: expected a folder, found an empty value"))
	}
	outDir, err := filepath.Abs(opts.OutputDir)
	if err != nil {
		return Result{}, inputErr(fmt.Errorf("--output %s: %w", opts.OutputDir, err))
	}
	if st, err := os.Stat(outDir); err == nil && !st.IsDir() {
		return Result{}, inputErr(fmt.Errorf("--output %s: expected a folder, found a file", outDir))
	}
	target := filepath.Join(outDir, cfg.Name)
	if rel, err := filepath.Rel(outDir, target); err != nil || rel != cfg.Name {
		return Result{}, inputErr(fmt.Errorf("name %q: the workspace would not be a direct child of --output %s", cfg.Name, outDir))
	}
	_, statErr := os.Lstat(target)
	exists := statErr == nil
	if exists && !opts.Force {
		return Result{}, inputErr(fmt.Errorf("target already exists: %s (use --force to replace it)", target))
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	files, err := Render(cfg, packFS, opts.SDK)
	if err != nil {
		return Result{}, fmt.Errorf("render workspace %s: %w", cfg.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create --output %s: %w", outDir, err)
	}
	staging, err := os.MkdirTemp(outDir, "."+cfg.Name+".init-")
	if err != nil {
		return Result{}, fmt.Errorf("create staging folder in %s: %w", outDir, err)
	}
	defer os.RemoveAll(staging) // no-op once renamed into place
	names := make([]string, 0, len(files))
	for rel := range files {
		names = append(names, rel)
	}
	sort.Strings(names)
	for _, rel := range names {
		if err := writeInside(staging, rel, files[rel]); err != nil {
			return Result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if exists {
		backup, err := os.MkdirTemp(outDir, "."+cfg.Name+".old-")
		if err != nil {
			return Result{}, fmt.Errorf("create backup folder in %s: %w", outDir, err)
		}
		old := filepath.Join(backup, cfg.Name)
		if err := os.Rename(target, old); err != nil {
			_ = os.Remove(backup)
			return Result{}, fmt.Errorf("move existing %s aside: %w", target, err)
		}
		if err := os.Rename(staging, target); err != nil {
			if rerr := os.Rename(old, target); rerr != nil {
				return Result{}, fmt.Errorf("install new workspace at %s: %w (the previous one is kept at %s: %v)", target, err, old, rerr)
			}
			_ = os.Remove(backup)
			return Result{}, fmt.Errorf("install new workspace at %s: %w (previous workspace restored)", target, err)
		}
		if err := os.RemoveAll(backup); err != nil {
			return Result{}, fmt.Errorf("remove the previous workspace kept at %s: %w", backup, err)
		}
	} else if err := os.Rename(staging, target); err != nil {
		return Result{}, fmt.Errorf("install new workspace at %s: %w", target, err)
	}
	return Result{
		Workspace:    target,
		NodeDir:      filepath.Join(target, "crunch-node-"+cfg.Name),
		ChallengeDir: filepath.Join(target, "crunch-"+cfg.Name),
		Config:       cfg,
		Files:        names,
		Replaced:     exists,
	}, nil
}

// writeInside writes content at root/rel after checking rel stays inside
// root.
func writeInside(root, rel string, content []byte) error {
	if err := checkInside(rel); err != nil {
		return err
	}
	dst := filepath.Join(root, filepath.FromSlash(rel))
	if r, err := filepath.Rel(root, dst); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return fmt.Errorf("refusing to write %q outside %s", rel, root)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create folder for %s: %w", rel, err)
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(rel, "/.local.env") {
		mode = 0o600 // the operator's copy may hold secrets
	}
	if err := os.WriteFile(dst, content, mode); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	return nil
}
