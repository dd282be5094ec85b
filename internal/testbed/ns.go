package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// NS is a named network namespace, as `ip netns` knows it.
type NS struct {
	Name string
}

// CreateNS adds the namespace name and brings its loopback up.
func CreateNS(ctx context.Context, name string) (*NS, error) {
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	ns := &NS{Name: name}
	if _, err := ns.Run(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		return ns, err
	}
	return ns, nil
}

// Command returns a command that runs name inside the namespace.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output.
func (ns *NS) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s (in %s): %w: %s", name, strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// RunAll runs each command line in turn and stops at the first error.
func (ns *NS) RunAll(ctx context.Context, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := ns.Run(ctx, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// Do runs fn on a thread inside the namespace. Sockets fn opens stay in
// the namespace. The thread is locked for the call and switched back
// afterwards; if switching back fails it stays locked, so the runtime
// retires it with the goroutine.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", ns.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return from netns %s: %w", ns.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Pids returns the processes running in the namespace, except this one.
func (ns *NS) Pids() []int {
	out, err := exec.Command("ip", "netns", "pids", ns.Name).Output()
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
			pids = append(pids, p)
		}
	}
	return pids
}

// Remove stops every process in the namespace and deletes it: SIGTERM,
// then SIGKILL for what still runs after grace (at once when grace is 0).
// Deleting a namespace does not end the processes in it, hence the first
// step. A namespace that is already gone is not an error.
func (ns *NS) Remove(grace time.Duration) error {
	if pids := ns.Pids(); len(pids) > 0 {
		KillAll(pids, grace)
	}
	out, err := exec.Command("ip", "netns", "delete", ns.Name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns delete %s: %w: %s", ns.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// ListNS returns the names of the namespaces `ip netns` knows.
func ListNS() ([]string, error) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// KillAll sends SIGTERM to pids, waits up to grace for them to end, and
// kills what is left (everything at once when grace is 0).
func KillAll(pids []int, grace time.Duration) {
	if grace > 0 {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGTERM)
		}
		deadline := time.Now().Add(grace)
		for {
			pids = slices.DeleteFunc(pids, func(p int) bool { return !Alive(p) })
			if len(pids) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// Alive reports whether pid runs and is not a zombie (a zombie is a
// child of ours not yet reaped: it is gone for our purposes).
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}
