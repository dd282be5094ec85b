package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Bed owns what a run builds: namespaces, processes, switches, daemons.
// Each is recorded with how to undo it, and undone newest first (so a
// daemon goes before the switch it talks to, and both before their
// namespaces). A Bed is safe for concurrent use; UnwindTo may race with
// itself (a second Ctrl-C) and runs each undo once.
type Bed struct {
	// Prefix names the namespaces: Prefix-ROLE.
	Prefix string
	// Dir holds configs, logs and switch directories.
	Dir string
	// Lifetime is how processes are started (see Lifetime). Detached
	// processes write to Dir/NAME.log.
	Lifetime Lifetime
	// TailBytes bounds the output kept of a process without a log file
	// (0: all of it).
	TailBytes int
	// Grace is how long a namespace's processes get between SIGTERM and
	// SIGKILL when it is removed (0: SIGKILL at once).
	Grace time.Duration
	// Daemon is the teamd-go binary StartDaemon runs.
	Daemon string
	// Log receives progress lines (nil: none).
	Log io.Writer

	mu   sync.Mutex
	undo []func() error
	errs []error
}

// Logf prints a progress line to Log.
func (b *Bed) Logf(format string, args ...any) {
	if b.Log != nil {
		fmt.Fprintf(b.Log, "  "+format+"\n", args...)
	}
}

// Defer records fn to be run by UnwindTo or Close.
func (b *Bed) Defer(fn func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.undo = append(b.undo, fn)
}

// Depth is a mark for UnwindTo.
func (b *Bed) Depth() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.undo)
}

// UnwindTo undoes, newest first, what was recorded after mark n. Errors
// are kept for Close.
func (b *Bed) UnwindTo(n int) {
	for {
		b.mu.Lock()
		if len(b.undo) <= n {
			b.mu.Unlock()
			return
		}
		fn := b.undo[len(b.undo)-1]
		b.undo = b.undo[:len(b.undo)-1]
		b.mu.Unlock()
		if err := fn(); err != nil {
			b.mu.Lock()
			b.errs = append(b.errs, err)
			b.mu.Unlock()
		}
	}
}

// Close undoes everything and returns what failed. It keeps going after
// an error.
func (b *Bed) Close() error {
	b.UnwindTo(0)
	b.mu.Lock()
	defer b.mu.Unlock()
	err := errors.Join(b.errs...)
	b.errs = nil
	return err
}

// NewNS creates the namespace Prefix-role with lo up (removing a leftover
// of that name first), removed at undo with whatever runs in it.
func (b *Bed) NewNS(ctx context.Context, role string) (*NS, error) {
	name := b.Prefix + "-" + role
	_ = (&NS{Name: name}).Remove(time.Second) // a leftover of a crashed run with our pid
	ns, err := CreateNS(ctx, name)
	if ns != nil {
		b.Defer(func() error { return ns.Remove(b.Grace) })
	}
	return ns, err
}

// Start runs name in ns as the Bed's Lifetime says, stopped at undo
// (SIGTERM, SIGKILL after 5 s). logName names its log file (Detached) and
// its process in errors.
func (b *Bed) Start(ns *NS, logName string, env []string, name string, args ...string) (*Proc, error) {
	p, err := StartProc(ns, b.procOptions(logName, env), name, args...)
	if err != nil {
		return nil, err
	}
	p.Name = logName
	b.Defer(func() error { p.Stop(syscall.SIGTERM, 5*time.Second); return nil })
	return p, nil
}

func (b *Bed) procOptions(logName string, env []string) ProcOptions {
	o := ProcOptions{Lifetime: b.Lifetime, TailBytes: b.TailBytes, Env: env}
	if b.Lifetime == Detached {
		o.LogPath = filepath.Join(b.Dir, logName+".log")
	}
	return o
}

// StartSwitch starts Open vSwitch in ns with its files in Dir/name,
// stopped at undo.
func (b *Bed) StartSwitch(ns *NS, name string, opts ...OVSOption) (*Switch, error) {
	dir := filepath.Join(b.Dir, name)
	b.Defer(func() error { return os.RemoveAll(dir) })
	if b.Lifetime == Detached {
		opts = append(opts, Lasting(Detached))
	}
	s, err := StartSwitch(ns.Name, dir, opts...)
	if err != nil {
		return nil, err
	}
	b.Defer(s.Stop)
	return s, nil
}

// StartDaemon runs the Bed's teamd-go in ns (see StartDaemon), stopped at
// undo. An empty ConfigPath is Dir/TEAM.yaml; the process runs as the
// Bed's processes do, its log (Detached) Dir/TEAM.log.
func (b *Bed) StartDaemon(ctx context.Context, ns *NS, spec DaemonSpec) (*Daemon, error) {
	if spec.ConfigPath == "" {
		spec.ConfigPath = filepath.Join(b.Dir, spec.Team+".yaml")
	}
	spec.Proc = b.procOptions(spec.Team, nil)
	d, err := StartDaemon(ctx, ns, b.Daemon, spec)
	if d != nil && d.Proc != nil {
		b.Defer(func() error { d.Stop(); return nil })
	}
	return d, err
}
