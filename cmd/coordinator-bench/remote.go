package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/crunch-coordinator/coordinator/host"
)

// Remote fleet measurement (issue 15 item 4): one predict cycle to 1,000
// remote models, including storing the 1,000 rows.
const (
	secRemote         = "8. Remote models (issue 15)"
	remoteFleetModels = 1000
	remoteP50Target   = 50  // ms
	remoteP99Target   = 150 // ms
	remoteRSSTarget   = 200 // MB
	remoteBaseClass   = "tracker.TrackerBase"
)

// RemoteFleet is what the remote-models measurement saw besides its
// latency rows: start-up, and the peak RSS and CPU of the host (this
// process) and of the model-runner server process.
type RemoteFleet struct {
	N     int
	Start time.Duration // connect + health + Setup of every model
	// ConnectRSS is the host's peak RSS (MB, VmHWM) over connecting the
	// models; HostRSS its peak over each backend's cycles (reset before
	// them), HostFile the file-backed part of its RSS at the end of those
	// cycles (RssFile: the binary and, for SQLite, the database pages the
	// store's reader connections map, mmap_size 256 MB; the writer maps
	// none).
	ConnectRSS        float64
	HostRSS, HostFile map[string]float64
	// GoMem is the Go runtime's view at the end of each backend's cycles:
	// heap in use, goroutine stacks in use, memory obtained from the OS
	// (MB), and the goroutine count.
	GoMem     map[string]string
	ServerRSS float64 // MB, VmHWM of the mrserver process over everything
	// CPU per cycle (ms) of the host and of the server, one value per run
	// (pooled over backends).
	HostCPU, ServerCPU []float64
	Stages             []*PipelineAnalysis
	Profile            string
	Err                error
}

func remoteName(n int) string {
	return fmt.Sprintf("Feed record to persisted predictions, %d remote models (one server process, one port per model)", n)
}

// fleetServer is the mrserver child process.
type fleetServer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addrs []string
}

// startFleetServer runs bin -n n and reads its n addresses.
func startFleetServer(ctx context.Context, bin string, n int) (*fleetServer, error) {
	cmd := exec.Command(bin, "-n", fmt.Sprint(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the model-runner fleet server %s: %w", bin, err)
	}
	fs := &fleetServer{cmd: cmd, stdin: stdin}
	got := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := strings.TrimSpace(sc.Text())
			if l == "ready" {
				got <- nil
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
			fs.addrs = append(fs.addrs, l)
		}
		got <- fmt.Errorf("fleet server %s exited before 'ready' after %d addresses: %v", bin, len(fs.addrs), sc.Err())
	}()
	select {
	case err = <-got:
	case <-time.After(2 * time.Minute):
		err = fmt.Errorf("fleet server %s: expected 'ready' within 2m, found %d addresses", bin, len(fs.addrs))
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil && len(fs.addrs) != n {
		err = fmt.Errorf("fleet server %s: expected %d addresses, found %d", bin, n, len(fs.addrs))
	}
	if err != nil {
		fs.stop()
		return nil, err
	}
	return fs, nil
}

// stop closes the server's stdin (its signal to exit) and waits for it.
func (fs *fleetServer) stop() {
	_ = fs.stdin.Close()
	done := make(chan struct{})
	go func() { _ = fs.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = fs.cmd.Process.Kill()
		<-done
	}
}

// startRemoteModels connects one remote model per address (r0000...), up
// to 64 connects at a time, and checks each is running.
func startRemoteModels(ctx context.Context, addrs []string, opts host.Options) (*host.ModelSet, error) {
	specs := make([]host.PluginSpec, len(addrs))
	for i, a := range addrs {
		specs[i] = host.PluginSpec{ID: modelID(i), Remote: &host.RemoteSpec{Address: a, BaseClass: remoteBaseClass}}
	}
	opts.MaxParallelStarts = 64
	ms, err := host.StartModels(ctx, specs, opts)
	if err != nil {
		return nil, fmt.Errorf("connect %d remote models: %w", len(addrs), err)
	}
	for _, st := range ms.States() {
		if !st.Running {
			_ = ms.Close()
			return nil, fmt.Errorf("remote model %s did not start: %s", st.ID, st.LastError)
		}
	}
	return ms, nil
}

// remoteFleet measures the predict pipeline (pipeline.cycle: feed record
// stored, RunOnce, SavePredictCycle of 1,000 rows) against 1,000 remote
// models served by one mrserver process, on each backend, with the host's
// peak RSS over start-up and all cycles.
func (h *harness) remoteFleet(ctx context.Context) {
	n := remoteFleetModels
	f := &RemoteFleet{N: n}
	h.rep.Remote = f
	progress("remote models: starting the fleet server (%d ports)", n)
	fs, err := startFleetServer(ctx, h.plugins.Fleet, n)
	if err != nil {
		f.Err = err
		return
	}
	defer fs.stop()
	ch, err := host.StartChallenge(ctx, host.PluginSpec{ID: "challenge", Path: h.plugins.Challenge}, nil, hostOptions(h.log))
	if err != nil {
		f.Err = fmt.Errorf("start the no-op challenge plugin: %w", err)
		return
	}
	defer ch.Close()

	debug.FreeOSMemory()
	self := os.Getpid()
	resetErr := errors.Join(resetPeakRSS(self), resetPeakRSS(fs.cmd.Process.Pid))
	progress("remote models: connecting %d models", n)
	t := time.Now()
	ms, err := startRemoteModels(ctx, fs.addrs, hostOptions(h.log))
	if err != nil {
		f.Err = err
		return
	}
	defer ms.Close()
	f.Start = time.Since(t)
	var rerr error
	if f.ConnectRSS, rerr = peakRSS(self); rerr != nil {
		resetErr = errors.Join(resetErr, rerr)
	}
	f.HostRSS, f.HostFile, f.GoMem = map[string]float64{}, map[string]float64{}, map[string]string{}
	cycles := h.sz.pipe100
	for _, b := range h.backends() {
		progress("remote models: pipeline, %d models, %s", n, b)
		debug.FreeOSMemory()
		if err := resetPeakRSS(self); err != nil {
			resetErr = errors.Join(resetErr, err)
		}
		st, err := h.openStore(ctx, b, "remote")
		if err != nil {
			h.rep.Results = append(h.rep.Results, &Result{Section: secRemote, Name: remoteName(n), Backend: b, Err: err})
			continue
		}
		p, err := newPipeline(ctx, st, ch, ms, h.rp, n)
		if err == nil {
			_, err = p.run(ctx, h.sz.warmup)
		}
		if err != nil {
			_ = st.Close()
			h.rep.Results = append(h.rep.Results, &Result{Section: secRemote, Name: remoteName(n), Backend: b, Err: err})
			continue
		}
		an := &PipelineAnalysis{N: n, Backend: b}
		r := h.repeat(secRemote, remoteName(n), b, func(int) ([]Metric, error) {
			s0, _ := cpuTime(fs.cmd.Process.Pid)
			pr, err := p.run(ctx, cycles)
			if err != nil {
				return nil, err
			}
			s1, _ := cpuTime(fs.cmd.Process.Pid)
			an.add(pr)
			f.HostCPU = append(f.HostCPU, pr.HostCPU)
			f.ServerCPU = append(f.ServerCPU, float64(s1-s0)/float64(time.Millisecond)/float64(cycles))
			lat := make(Latencies, len(pr.Cycles))
			for i, c := range pr.Cycles {
				lat[i] = c.Total
			}
			return []Metric{one("p50", "ms", lat.P(50)), one("p99", "ms", lat.P(99))}, nil
		})
		r.N = n
		f.Stages = append(f.Stages, an)
		if r.Err == nil && f.Profile == "" && (r.median("p50") > remoteP50Target || r.median("p99") > remoteP99Target) {
			progress("remote models, %s: target missed, profiling one more run", b)
			top, err := profileTop(ctx, h.profileDir(), "remote-"+b, func() error {
				_, err := p.run(ctx, cycles)
				return err
			})
			if err != nil {
				top = "profile failed: " + err.Error()
			}
			f.Profile = fmt.Sprintf("%s (%d cycles):\n%s", b, cycles, top)
		}
		if f.HostRSS[b], rerr = peakRSS(self); rerr != nil {
			resetErr = errors.Join(resetErr, rerr)
		}
		f.HostFile[b] = rssFile(self)
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		f.GoMem[b] = fmt.Sprintf("heap in use %s MB, stacks %s MB, runtime total %s MB, %d goroutines",
			num(float64(m.HeapInuse)/1e6), num(float64(m.StackInuse)/1e6), num(float64(m.Sys)/1e6), runtime.NumGoroutine())
		_ = st.Close()
	}
	if f.ServerRSS, rerr = peakRSS(fs.cmd.Process.Pid); rerr != nil {
		resetErr = errors.Join(resetErr, rerr)
	}
	if resetErr != nil {
		f.Err = resetErr
	}
}

// rssFile returns RssFile of pid in MB (0 when unreadable).
func rssFile(pid int) float64 {
	v := procField(fmt.Sprintf("/proc/%d/status", pid), "RssFile", ":")
	kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 64)
	if err != nil {
		return 0
	}
	return kb * 1024 / 1e6
}

// remoteTargets are issue 15 item 4's targets.
func (r *Report) remoteTargets() []Target {
	f := r.Remote
	if f == nil {
		return nil
	}
	var out []Target
	for _, b := range []string{"postgres", "sqlite"} {
		x := r.find(secRemote, remoteName(f.N), b)
		if x == nil {
			continue
		}
		out = append(out,
			atMost(fmt.Sprintf("Predict cycle p50, %d remote models, incl. storing the rows (%s)", f.N, b), x.median("p50"), remoteP50Target, "ms", "issue 15"),
			atMost(fmt.Sprintf("Predict cycle p99, %d remote models, incl. storing the rows (%s)", f.N, b), x.median("p99"), remoteP99Target, "ms", "issue 15"))
	}
	for _, b := range []string{"postgres", "sqlite"} {
		rss, ok := f.HostRSS[b]
		if !ok {
			continue
		}
		if f.Err != nil {
			rss = math.NaN()
		}
		note := "issue 15"
		if b == "sqlite" {
			note = fmt.Sprintf("issue 15; includes %s MB file-backed (the binary and the database pages the store's readers map; the writer maps none)", num(f.HostFile[b]))
		}
		out = append(out, atMost(fmt.Sprintf("Host peak RSS, %d remote models, predict cycles (%s)", f.N, b), math.Max(rss, f.ConnectRSS), remoteRSSTarget, "MB", note))
	}
	return out
}

// writeRemote renders section 8.
func (r *Report) writeRemote(w func(string, ...any)) {
	f := r.Remote
	if f == nil {
		return
	}
	w("## %s\n\n", secRemote)
	w("One predict cycle to %d remote models over CrunchDAO's model-runner protocol (gRPC, plaintext, §6 of the reference), served by **one separate server process** (`cmd/coordinator-bench/plugins/mrserver`, internal/modelrunner/mrtest) that gives every model its own loopback port, as each model would be its own runner at its own address. ", f.N)
	w("Each model is a grpc-go server with default settings (a goroutine per call) except static 1 MiB HTTP/2 flow-control windows, as the host's side has (grpc-go's default bandwidth estimation sends a BDP ping and a window update with most requests, which the host must read and acknowledge: one more write per call on each side), serving DynamicSubclassService and grpc.health.v1 on its own listener: a call decodes its arguments from their Variants, tick answers None and predict the JSON Variant {\"p_up\": 0.5}; it skips nothing a real runner does on the wire (HTTP/2 framing and flow control, protobuf, health) and does none of a participant's Python work, so a real fleet costs its runners more, on their own machines. ")
	w("The host (this harness process) holds one gRPC connection per model (`host.RemoteSpec`, the node's path for `address` models and orchestrator deployments). ")
	w("A measured cycle is the span of section 2: a feed record stored, `predict.Worker.RunOnce` (no-op challenge plugin; Tick then Predict on every model, two calls per model in one fan-out), the %d rows committed by SavePredictCycle; every cycle is checked for %d new SUCCESS rows.\n\n", f.N, f.N)
	if f.Err != nil {
		w("> %s\n\n", mdEscape(f.Err.Error()))
	}
	w("| Measurement | Backend | Metric | Median | Min | Max | Runs |\n|---|---|---|---|---|---|---|\n")
	for _, x := range r.Results {
		if x.Section != secRemote {
			continue
		}
		if x.Err != nil {
			w("| %s | %s | – | %s | | | |\n", x.Name, x.Backend, mdEscape(x.Err.Error()))
			continue
		}
		for _, mt := range x.Metrics {
			s := mt.Summary()
			w("| %s | %s | %s (%s) | **%s** | %s | %s | %d |\n", x.Name, x.Backend, mt.Name, mt.Unit, num(s.Median), num(s.Min), num(s.Max), s.N)
		}
	}
	w("\nConnecting the %d models (dial, health SERVING, Setup; 64 at a time): %s. ", f.N, f.Start.Round(time.Millisecond))
	w("Peak RSS (VmHWM): host %s MB while connecting; over each backend's cycles (reset before them)", num(f.ConnectRSS))
	for _, b := range []string{"sqlite", "postgres"} {
		if v, ok := f.HostRSS[b]; ok {
			w(", %s **%s MB** (of which %s MB file-backed at the end)", b, num(v), num(f.HostFile[b]))
		}
	}
	w("; server process %s MB. ", num(f.ServerRSS))
	for _, b := range []string{"sqlite", "postgres"} {
		if v, ok := f.GoMem[b]; ok {
			w("Go runtime after the %s cycles: %s. ", b, v)
		}
	}
	w("CPU per cycle (median over runs): host %s ms, server process %s ms. ", num(Median(f.HostCPU)), num(Median(f.ServerCPU)))
	if cores := r.Machine.Cores; cores > 0 {
		w("The host, the server, the challenge plugin and (postgres) the PostgreSQL backends share this machine's %d cores, so a cycle cannot take less than their CPU per cycle over %d:", cores, cores)
		for i, a := range f.Stages {
			sep := ","
			if i == 0 {
				sep = ""
			}
			cpu := Median(a.HostCPU) + Median(a.PluginCPU)
			pg := ""
			if a.Backend == "postgres" { // SQLite runs in the host
				cpu += Median(a.PGCPU)
				pg = fmt.Sprintf(" + PostgreSQL %s", num(Median(a.PGCPU)))
			}
			w("%s %s %s ms (host %s + server and plugin %s%s ms CPU)", sep, a.Backend, num(cpu/float64(cores)), num(Median(a.HostCPU)), num(Median(a.PluginCPU)), pg)
		}
		w(".")
	}
	w("\n\n")
	if len(f.Stages) > 0 {
		w("| Stage (median ms per cycle) |")
		for _, a := range f.Stages {
			w(" %s |", a.Backend)
		}
		w("\n|---|")
		for range f.Stages {
			w("---|")
		}
		w("\n")
		for _, st := range stageOrder {
			w("| %s |", st)
			for _, a := range f.Stages {
				w(" %s |", num(Median(a.Stages[st])))
			}
			w("\n")
		}
		w("\n")
	}
	if f.Profile != "" {
		w("<details><summary>Host CPU profile of one extra run after a missed target (go tool pprof -top, flat)</summary>\n\n```\n%s\n```\n\n</details>\n\n", f.Profile)
	}
}
