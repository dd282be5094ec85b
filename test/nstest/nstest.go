// Package nstest ties internal/testbed to tests: throw-away network
// namespaces, veth pairs, processes and teamd-go daemons, each released
// by t.Cleanup, and failures reported through t.
//
// Tests that need root or a tool call Require/RequireTool first: outside
// CI they skip with a message, inside CI (CI=true) they fail, because a
// skipped suite is not a passing one.
package nstest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
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

// KernelLacks skips the test, in CI too, when the running kernel was
// built without a feature the test is about: a setup command failed
// with out (its output) saying "Operation not supported" (EOPNOTSUPP,
// what iproute2 prints for a compiled-out option), which no tool
// installation can fix. Any other failure of the command is a failure
// of the test. The skip message names the kernel option, so a CI log
// shows what was not exercised and why.
func KernelLacks(t testing.TB, option string, out string, err error) {
	t.Helper()
	if !strings.Contains(out, "Operation not supported") {
		t.Fatalf("%s: %v: %s", option, err, out)
	}
	t.Skipf("this kernel has no %s (%s): %s", option, kernelRelease(), strings.TrimSpace(out))
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown kernel"
	}
	return strings.TrimSpace(string(b))
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

// NS is a named network namespace (as `ip netns` knows it), with the
// test-failing forms of testbed.NS's methods.
type NS struct {
	testbed.NS
}

// NewNS creates a namespace named Prefix-<n>-<name> with lo up, removed at
// the end of the test.
func NewNS(t testing.TB, name string) *NS {
	t.Helper()
	ns, err := testbed.CreateNS(context.Background(), fmt.Sprintf("%s-%d-%s", Prefix, seq.Add(1), name))
	if ns != nil {
		t.Cleanup(func() { _ = ns.Remove(0) })
	}
	if err != nil {
		t.Fatal(err)
	}
	return &NS{*ns}
}

// Delete removes the namespace, killing what still runs in it.
func (ns *NS) Delete() { _ = ns.Remove(0) }

// Cmd returns a command that runs inside the namespace.
func (ns *NS) Cmd(name string, args ...string) *exec.Cmd {
	return ns.Command(context.Background(), name, args...)
}

// CommandContext is Cmd bound to a context.
func (ns *NS) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	return ns.Command(ctx, name, args...)
}

// Run runs a command in the namespace and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	return ns.NS.Run(context.Background(), name, args...)
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
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out)
}

// Veth creates a veth pair with one end (aName) in a and the other (bName)
// in b, both up. Offloads are left at the kernel defaults.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	must(t, testbed.Veth(context.Background(), &a.NS, aName, &b.NS, bName))
}

// Addr assigns an address (CIDR) to an interface in the namespace.
func (ns *NS) Addr(t testing.TB, dev, cidr string) {
	t.Helper()
	must(t, ns.AddAddr(context.Background(), dev, cidr))
}

// SetMAC sets an interface's MAC address.
func (ns *NS) SetMAC(t testing.TB, dev, mac string) {
	t.Helper()
	must(t, ns.NS.SetMAC(context.Background(), dev, mac))
}

// OffloadsOff turns checksum and segmentation offloads off on dev, for
// interfaces feeding software that cannot take GSO frames (Open vSwitch's
// userspace datapath without userspace TSO).
func (ns *NS) OffloadsOff(t testing.TB, dev string) {
	t.Helper()
	must(t, ns.NS.OffloadsOff(context.Background(), dev))
}

// Bridge creates a Linux bridge named br with the given ports, all up.
func (ns *NS) Bridge(t testing.TB, br string, ports ...string) {
	t.Helper()
	must(t, ns.NS.Bridge(context.Background(), br, ports...))
}

// Proc is a long-lived process started in a namespace.
type Proc = testbed.Proc

// StartProc runs name in the namespace until the test ends (SIGINT, then
// SIGKILL after 5 s). Its output is kept, and logged if the test fails.
func (ns *NS) StartProc(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	p, err := testbed.StartProc(&ns.NS, testbed.ProcOptions{Lifetime: testbed.Attached}, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(syscall.SIGINT, 5*time.Second)
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.Output())
		}
	})
	return p
}

// Start is StartProc for callers that want the command.
func (ns *NS) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return ns.StartProc(t, name, args...).Cmd()
}

// StartDaemon runs teamd-go (bin) in the namespace as spec says (see
// testbed.StartDaemon), stopped at the end of the test with its log shown
// if the test failed.
func (ns *NS) StartDaemon(t testing.TB, bin string, spec testbed.DaemonSpec) *testbed.Daemon {
	t.Helper()
	d, err := testbed.StartDaemon(context.Background(), &ns.NS, bin, spec)
	if d != nil && d.Proc != nil {
		t.Cleanup(func() {
			d.Stop()
			if t.Failed() {
				t.Logf("output of teamd-go (%s):\n%s", d.Team, d.Proc.Output())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
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

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Net is a topology built for a test.
type Net struct {
	*testbed.Net
}

// NS is the namespace of a role.
func (n *Net) NS(role string) *NS {
	ns := n.Net.NS(role)
	if ns == nil {
		return nil
	}
	return &NS{*ns}
}

// Build makes top (see testbed.Build) for the test and removes it at the
// end: namespaces Prefix-<n>-ROLE, switches and daemons (daemons need
// bin, the teamd-go binary; "" when top has none).
func Build(t testing.TB, bin string, top testbed.Topology) *Net {
	t.Helper()
	b := &testbed.Bed{Prefix: fmt.Sprintf("%s-%d", Prefix, seq.Add(1)), Dir: t.TempDir(), Lifetime: testbed.Attached, Daemon: bin}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("remove the test's network: %v", err)
		}
	})
	n, err := testbed.Build(context.Background(), b, top)
	if err != nil {
		t.Fatal(err)
	}
	return &Net{n}
}
