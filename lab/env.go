package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is one variant's sandbox. Everything it creates is named after
// Prefix (namespaces Prefix-ROLE) or lives in Dir, and Close removes it
// all. Processes are started detached (own session, no parent-death
// signal, output to a log file in Dir), so that `--keep` can leave a
// working lab behind after the lab process exits.
type Env struct {
	// Prefix names the variant's namespaces, e.g. "tgl4242-si-dynamic".
	Prefix string
	// Team is a team name unique to this variant, short enough for an
	// interface name, e.g. "tgl4242-1".
	Team string
	// Dir is the variant's run directory: configs, logs, sockets.
	Dir string
	// Daemon is the teamd-go binary to run in the namespaces; Self is the
	// binary that runs the lab's helpers (`Self lab --helper NAME`).
	Daemon, Self string
	// Log receives progress lines (stderr for a human; may be io.Discard).
	Log io.Writer

	mu    sync.Mutex
	nss   []*NS
	procs []*Proc
	teams []string // names of the teams started, for their sockets
}

// Logf prints a progress line.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.Log, "  "+format+"\n", args...)
}

// NewNS creates the namespace Prefix-role with lo up.
func (e *Env) NewNS(ctx context.Context, role string) (*NS, error) {
	name := e.Prefix + "-" + role
	_ = removeNS(name, time.Second) // a leftover of a crashed run with our pid
	ns, err := createNS(ctx, name)
	if ns != nil {
		e.mu.Lock()
		e.nss = append(e.nss, ns)
		e.mu.Unlock()
	}
	return ns, err
}

// Veth creates a veth pair, aName in a and bName in b, both up, with the
// kernel's default offloads. No lab turns them off (see OVS).
func (e *Env) Veth(ctx context.Context, a *NS, aName string, b *NS, bName string) error {
	if err := a.RunAll(ctx,
		[]string{"ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name},
		[]string{"ip", "link", "set", aName, "up"}); err != nil {
		return err
	}
	_, err := b.Run(ctx, "ip", "link", "set", bName, "up")
	return err
}

// Proc is a long-lived process the Env started.
type Proc struct {
	// Name is what the process is called in logs and errors.
	Name string
	// LogPath holds its stdout and stderr.
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs name in ns, detached, with output to Dir/logName.log; Close
// stops it.
func (e *Env) Start(ns *NS, logName string, env []string, name string, args ...string) (*Proc, error) {
	logPath := filepath.Join(e.Dir, logName+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Not CommandContext: the process outlives a cancelled run until
	// Close stops it in order (the daemon restores its members).
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// A session of its own: a Ctrl-C at the terminal reaches only the
	// lab, which then stops everything in order; and nothing kills it
	// when the lab exits, which is what --keep needs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", name, ns.Name, err)
	}
	p := &Proc{Name: logName, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p, nil
}

// StartHelper runs one of the lab's helpers (`Self lab --helper ...`) in
// ns, detached like Start.
func (e *Env) StartHelper(ns *NS, logName string, args ...string) (*Proc, error) {
	return e.Start(ns, logName, []string{HelperEnv + "=1"}, e.Self, append([]string{"lab", "--helper"}, args...)...)
}

// RunHelper runs a helper in ns to completion and returns its stdout.
func (e *Env) RunHelper(ctx context.Context, ns *NS, args ...string) ([]byte, error) {
	cmd := ns.Command(ctx, e.Self, append([]string{"lab", "--helper"}, args...)...)
	cmd.Env = append(os.Environ(), HelperEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helper %s in %s: %w: %s", args[0], ns.Name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogTail returns the last n lines of the process's log.
func (p *Proc) LogTail(n int) string { return tail(p.LogPath, n) }

// stop sends SIGTERM, waits up to grace, then kills.
func (p *Proc) stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Close stops the processes, newest first (so the daemon goes before the
// switch it talks to), then whatever else runs in the namespaces, deletes
// the namespaces and the run directory. It keeps going after an error.
func (e *Env) Close() error {
	e.mu.Lock()
	procs, nss, teams := slices.Clone(e.procs), slices.Clone(e.nss), slices.Clone(e.teams)
	e.procs, e.nss, e.teams = nil, nil, nil
	e.mu.Unlock()
	for _, p := range slices.Backward(procs) {
		p.stop(5 * time.Second)
	}
	var errs []error
	for _, ns := range slices.Backward(nss) {
		if err := removeNS(ns.Name, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	removeStaleSocket(e.Team)
	for _, t := range teams {
		removeStaleSocket(t)
	}
	if err := os.RemoveAll(e.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// waitFor polls cond every 100 ms until it returns nil, ctx ends or
// timeout passes, and returns cond's last error then.
func waitFor(ctx context.Context, timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %w", timeout, err)
		case <-t.C:
		}
	}
}
