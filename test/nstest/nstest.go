// Package nstest builds throw-away network namespaces, veth pairs and
// processes for tests that need real sockets.
//
// Tests that need root or a tool call Require/RequireTool first: outside
// CI they skip with a message, inside CI (CI=true) they fail, because a
// skipped suite is not a passing one.
package nstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// InCI reports whether the tests run in CI (CI=true), where a missing
// privilege or tool is a failure, not a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test outside CI and fails it inside CI.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("cannot run in CI: %s", msg)
	}
	t.Skipf("skipped: %s (run as root with the tools installed, or set CI=true to make this a failure)", msg)
}

// Require checks for root and iproute2.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root for network namespaces")
	}
	RequireTool(t, "ip")
}

// RequireTool checks that each named program is on PATH.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Unavailable(t, "needs %s on PATH", n)
		}
	}
}

var seq atomic.Uint32

// Prefix is prepended to every namespace this process creates, so that
// parallel test binaries do not collide and leftovers are recognisable.
var Prefix = fmt.Sprintf("tgt%d", os.Getpid()%100000)

// NS is a named network namespace (as `ip netns` knows it).
type NS struct {
	Name string
}

// NewNS creates a namespace named Prefix-<n>-<name> with lo up, removed at
// the end of the test.
func NewNS(t testing.TB, name string) *NS {
	t.Helper()
	ns := &NS{Name: fmt.Sprintf("%s-%d-%s", Prefix, seq.Add(1), name)}
	Must(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() { ns.Delete() })
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Delete removes the namespace, killing what still runs in it.
func (ns *NS) Delete() {
	if out, err := exec.Command("ip", "netns", "pids", ns.Name).Output(); err == nil {
		for _, p := range strings.Fields(string(out)) {
			_ = exec.Command("kill", "-9", p).Run()
		}
	}
	_ = exec.Command("ip", "netns", "delete", ns.Name).Run()
}

// Cmd returns a command that runs inside the namespace.
func (ns *NS) Cmd(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// CommandContext is Cmd bound to a context.
func (ns *NS) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in the namespace and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	out, err := ns.Cmd(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s (in %s): %w: %s", name, strings.Join(args, " "), ns.Name, err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (ns *NS) MustRun(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.Run(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Must runs a command in the test's own namespace and fails on error.
func Must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out)
}

// Do runs fn with the calling goroutine's thread inside the namespace.
// Sockets opened by fn stay in the namespace after Do returns. The thread
// is locked for the call and switched back afterwards; if switching back
// fails the thread is left locked so the runtime retires it.
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
		// Leave the thread locked: it dies with the goroutine.
		return fmt.Errorf("return from netns %s: %w", ns.Name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Veth creates a veth pair with one end (aName) in a and the other (bName)
// in b, both up. Offloads are left at the kernel defaults.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	a.MustRun(t, "ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.MustRun(t, "ip", "link", "set", aName, "up")
	b.MustRun(t, "ip", "link", "set", bName, "up")
}

// Addr assigns an address (CIDR) to an interface in the namespace.
func (ns *NS) Addr(t testing.TB, dev, cidr string) {
	t.Helper()
	ns.MustRun(t, "ip", "addr", "add", cidr, "dev", dev)
}

// SetMAC sets an interface's MAC address.
func (ns *NS) SetMAC(t testing.TB, dev, mac string) {
	t.Helper()
	ns.MustRun(t, "ip", "link", "set", dev, "address", mac)
}

// OffloadsOff turns checksum and segmentation offloads off on dev, for
// interfaces feeding software that cannot take GSO frames (Open vSwitch's
// userspace datapath).
func (ns *NS) OffloadsOff(t testing.TB, dev string) {
	t.Helper()
	ns.MustRun(t, "ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off")
}

// Bridge creates a Linux bridge named br with the given ports, all up.
func (ns *NS) Bridge(t testing.TB, br string, ports ...string) {
	t.Helper()
	ns.MustRun(t, "ip", "link", "add", br, "type", "bridge")
	ns.MustRun(t, "ip", "link", "set", br, "type", "bridge", "ageing_time", "30000")
	for _, p := range ports {
		ns.MustRun(t, "ip", "link", "set", p, "master", br)
	}
	ns.MustRun(t, "ip", "link", "set", br, "up")
}

// Start runs a long-lived command in the namespace, stopped at cleanup.
// Its output goes to the test log when the test fails.
func (ns *NS) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ns.Cmd(name, args...)
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, buf.String())
		}
	})
	return cmd
}

// Eventually polls cond every 50 ms until it returns nil or the timeout
// passes, then fails with cond's last error. The timeout is a liveness
// bound, not a performance threshold.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
