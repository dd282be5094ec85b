//go:build linux

package testbed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// newBed is a Bed for one test, closed at its end; its namespaces are
// named after nstest.Prefix so that they are recognisable as a test's.
func newBed(t *testing.T, life testbed.Lifetime) *testbed.Bed {
	t.Helper()
	nstest.Require(t)
	b := &testbed.Bed{Prefix: fmt.Sprintf("%s-bed%d", nstest.Prefix, time.Now().UnixNano()%100000), Dir: t.TempDir(), Lifetime: life}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return b
}

func namespaces(t *testing.T) []string {
	t.Helper()
	l, err := testbed.ListNS()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestBuildLinuxBridge builds two hosts on a Linux bridge from data and
// checks what each entry of the topology set: the sysctl, the MAC, the
// address and route, the bridge's ports; that the hosts reach each
// other; and that Close removes the namespaces.
func TestBuildLinuxBridge(t *testing.T) {
	nstest.RequireTool(t, "ping", "sysctl")
	ctx := context.Background()
	b := newBed(t, testbed.Attached)
	top := testbed.Topology{
		Namespaces: []testbed.Namespace{
			{Role: "a", Sysctls: []string{"net.ipv6.conf.default.disable_ipv6=1"}},
			{Role: "b"}, {Role: "br"}, // as testbed.Roles("b", "br") makes them
		},
		Links: []testbed.Link{
			testbed.Pair("a", "eth0", "br", "pa"),
			testbed.Pair("b", "eth0", "br", "pb"),
		},
		Bridges: []testbed.Bridge{{NS: "br", Name: "br0", Ports: []string{"pa", "pb"}}},
		Ifaces: []testbed.Iface{
			{NS: "a", Dev: "eth0", MAC: "02:00:00:99:00:01", Addrs: []string{"10.98.0.1/24"}, Routes: []string{"10.97.0.0/24 via 10.98.0.2"}},
			{NS: "b", Dev: "eth0", MAC: "02:00:00:99:00:02", Addrs: []string{"10.98.0.2/24"}},
		},
	}
	n, err := testbed.Build(ctx, b, top)
	if err != nil {
		t.Fatal(err)
	}
	a := n.NS("a")
	if out, err := a.Run(ctx, "sysctl", "-n", "net.ipv6.conf.eth0.disable_ipv6"); err != nil || strings.TrimSpace(out) != "1" {
		t.Errorf("eth0 created after the namespace's sysctl: disable_ipv6 = %q, %v; want 1", out, err)
	}
	var links []struct {
		Address string `json:"address"`
		Master  string `json:"master"`
	}
	out, err := a.Run(ctx, "ip", "-j", "link", "show", "eth0")
	if err != nil || json.Unmarshal([]byte(out), &links) != nil || len(links) != 1 || links[0].Address != "02:00:00:99:00:01" {
		t.Errorf("a's eth0: %s %v, want MAC 02:00:00:99:00:01", out, err)
	}
	if out, err := a.Run(ctx, "ip", "route", "show", "10.97.0.0/24"); err != nil || !strings.Contains(out, "via 10.98.0.2") {
		t.Errorf("a's route: %q %v", out, err)
	}
	out, err = n.NS("br").Run(ctx, "ip", "-j", "link", "show", "master", "br0")
	if err != nil || !strings.Contains(out, `"pa"`) || !strings.Contains(out, `"pb"`) {
		t.Errorf("br0's ports: %s %v, want pa and pb", out, err)
	}
	if _, err := a.Run(ctx, "ping", "-c", "1", "-W", "2", "10.98.0.2"); err != nil {
		t.Errorf("a cannot reach b across the bridge: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b", "br"} {
		if slices.Contains(namespaces(t), n.NS(r).Name) {
			t.Errorf("namespace %s still there after Close", n.NS(r).Name)
		}
	}
}

// TestBuildErrors: a topology naming a namespace it does not have fails
// with an error naming it.
func TestBuildErrors(t *testing.T) {
	b := newBed(t, testbed.Attached)
	_, err := testbed.Build(context.Background(), b, testbed.Topology{
		Namespaces: []testbed.Namespace{{Role: "a"}},
		Links:      []testbed.Link{testbed.Pair("a", "eth0", "nowhere", "eth0")},
	})
	if err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("Build = %v, want an error naming namespace \"nowhere\"", err)
	}
}

// TestProcLifetimes: an Owned process is stopped with its whole group
// (a forked child too); a Detached one writes its log file and survives
// until stopped.
func TestProcLifetimes(t *testing.T) {
	ctx := context.Background()
	b := newBed(t, testbed.Owned)
	ns, err := b.NewNS(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	// The shell forks a sleeping child and waits: a group of two.
	p, err := b.Start(ns, "group", nil, "sh", "-c", "sleep 600 & echo child $!; wait")
	if err != nil {
		t.Fatal(err)
	}
	var child int
	if err := testbed.WaitFor(ctx, 5*time.Second, func() error {
		_, err := fmt.Sscanf(p.Output(), "child %d", &child)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	p.Stop(syscall.SIGTERM, 5*time.Second)
	if !p.Exited() {
		t.Error("Stop returned with the process running")
	}
	if err := testbed.WaitFor(ctx, 5*time.Second, func() error {
		if testbed.Alive(child) {
			return fmt.Errorf("child %d of an Owned process outlives Stop", child)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	d := &testbed.Bed{Prefix: b.Prefix, Dir: t.TempDir(), Lifetime: testbed.Detached}
	dp, err := d.Start(ns, "detached", nil, "sh", "-c", "echo started; exec sleep 600")
	if err != nil {
		t.Fatal(err)
	}
	if dp.LogPath != filepath.Join(d.Dir, "detached.log") {
		t.Errorf("log path %q", dp.LogPath)
	}
	if err := testbed.WaitFor(ctx, 5*time.Second, func() error {
		if b, _ := os.ReadFile(dp.LogPath); !strings.Contains(string(b), "started") {
			return fmt.Errorf("log file has %q", b)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	sid, _ := exec.Command("ps", "-o", "sid=", "-p", fmt.Sprint(dp.Pid())).Output()
	if strings.TrimSpace(string(sid)) != fmt.Sprint(dp.Pid()) {
		t.Errorf("detached process %d is in session %q, want its own", dp.Pid(), sid)
	}
	if err := d.Close(); err != nil {
		t.Error(err)
	}
	if !dp.Exited() {
		t.Error("detached process still runs after its Bed closed")
	}
}
