package testbed

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Lifetime says how a started process relates to the caller.
type Lifetime int

const (
	// Attached: a plain child in the caller's process group (a Ctrl-C at
	// the terminal reaches it too). Stop signals the process alone.
	Attached Lifetime = iota
	// Owned: a child in a process group of its own, so a Ctrl-C reaches
	// only the caller, which then stops it in order, and killed by the
	// kernel if the thread that started it dies (Pdeathsig follows the
	// thread, not the process; Go retires only threads locked by a
	// goroutine that exits, which callers here never do while starting).
	// Stop signals the whole group: forked workers (trafgen's) too.
	Owned
	// Detached: a session of its own, output to a log file, not killed
	// when the caller exits: what `teamd-go lab --keep` leaves running.
	Detached
)

// ProcOptions are how StartProc runs a process.
type ProcOptions struct {
	Lifetime Lifetime
	// LogPath receives stdout and stderr (appended). Empty: they are kept
	// in memory (Output). Detached needs one.
	LogPath string
	// TailBytes bounds the output kept in memory (0: all of it).
	TailBytes int
	// Env is added to the caller's environment.
	Env []string
}

// Proc is a long-lived process started in a namespace.
type Proc struct {
	// Name is what the process is called in logs and errors.
	Name string
	// LogPath holds its output when it was started with one.
	LogPath string

	cmd   *exec.Cmd
	life  Lifetime
	out   *tailBuffer
	done  chan struct{}
	err   error // set before done closes
	group bool
}

// StartProc runs name in ns. Call Stop (a Bed does).
func StartProc(ns *NS, o ProcOptions, name string, args ...string) (*Proc, error) {
	// Not CommandContext: a cancelled run stops its processes in order.
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	p := &Proc{Name: name, LogPath: o.LogPath, cmd: cmd, life: o.Lifetime, done: make(chan struct{})}
	if o.LogPath != "" {
		f, err := os.OpenFile(o.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	} else if o.Lifetime == Detached {
		return nil, fmt.Errorf("start %s: a detached process needs a log file", name)
	} else {
		p.out = &tailBuffer{max: o.TailBytes}
		cmd.Stdout, cmd.Stderr = p.out, p.out
	}
	p.group = setLifetime(cmd, o.Lifetime)
	// Wait returns even if a grandchild still holds the output pipe.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", name, ns.Name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Cmd is the running command.
func (p *Proc) Cmd() *exec.Cmd { return p.cmd }

// Done is closed when the process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what waiting for the process returned (nil while it runs).
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
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

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to end.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	}
}

// Stop sends sig (to the process group if it has one of its own), waits
// up to grace, then kills. A process group whose leader has ended loses
// its stragglers.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) {
	target := p.cmd.Process.Pid
	if p.group {
		target = -target
	}
	if p.Exited() {
		if p.group {
			_ = syscall.Kill(target, syscall.SIGKILL)
		}
		return
	}
	_ = syscall.Kill(target, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(target, syscall.SIGKILL)
		<-p.done
	}
}

// Output returns what the process printed so far (its log file's
// content when it has one).
func (p *Proc) Output() string {
	if p.out != nil {
		return p.out.String()
	}
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// LogTail returns the last n lines of the output.
func (p *Proc) LogTail(n int) string { return lastLines(p.Output(), n) }

// LastLine is the last non-empty line of the output.
func (p *Proc) LastLine() string {
	return strings.TrimSpace(lastLines(strings.TrimSpace(p.Output()), 1))
}

// FileTail returns the last n lines of a file, or the error reading it.
func FileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailBuffer keeps what is written to it, the last max bytes if max > 0;
// safe for a process's stdout and stderr at once.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if t.max > 0 && t.b.Len() > t.max {
		t.b.Next(t.b.Len() - t.max)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
