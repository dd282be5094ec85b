//go:build linux

package integration

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// xdpConfig is body for a team on the xdp backend, whatever
// TEAMD_TEST_BACKEND says.
func (tp *topo) xdpConfig(body string) string {
	return "team: " + tp.team + "\nbackend: xdp\n" + body
}

var (
	xdpProgID = regexp.MustCompile(`prog/xdp id (\d+)`)
	mapIDs    = regexp.MustCompile(`map_ids ([0-9,]+)`)
)

// xdpProg returns the ID of the XDP program on dev, or "" if none.
func xdpProg(t *testing.T, ns *nstest.NS, dev string) string {
	t.Helper()
	m := xdpProgID.FindStringSubmatch(ns.MustRun(t, "ip", "-d", "link", "show", dev))
	if m == nil {
		return ""
	}
	return m[1]
}

// TestXDPLeavesNothing runs a team on the xdp backend, finds the XDP
// programs on its interfaces, their maps and the AF_XDP sockets, then
// stops the daemon with SIGTERM or kills it with SIGKILL: afterwards no
// interface has a program, and the kernel has freed every program, map
// and socket (bpftool). SIGTERM also gives the interfaces back as
// they were.
func TestXDPLeavesNothing(t *testing.T) {
	nstest.RequireTool(t, "bpftool")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			tp := newTopo(t)
			before := map[string]string{}
			for _, dev := range []string{"m1", "m2", "vm1"} {
				before[dev] = linkSnapshot(t, tp.host, dev)
			}
			d := tp.start(t, tp.xdpConfig(siHyperV+"  - name: tg0\n    tap: true\n"))
			if st := d.state(); st.Backend != "xdp" {
				t.Fatalf("backend %q, want xdp", st.Backend)
			}
			pingOK(t, tp.vm, "10.77.0.2")
			var progs, maps []string
			for _, dev := range []string{"m1", "m2", "vm1"} {
				id := xdpProg(t, tp.host, dev)
				if id == "" {
					t.Fatalf("no XDP program on %s while the team runs", dev)
				}
				progs = append(progs, id)
				if m := mapIDs.FindStringSubmatch(nstest.Must(t, "bpftool", "prog", "show", "id", id)); m != nil {
					maps = append(maps, strings.Split(m[1], ",")...)
				}
			}
			if len(maps) < 2*len(progs) {
				t.Fatalf("bpftool lists maps %v for programs %v, want an XSKMAP and counters each", maps, progs)
			}
			// The AF_XDP sockets are held by the daemon's descriptors and
			// by the XSKMAPs (a map entry keeps its socket alive): with
			// the process gone and the maps freed, no socket is left.

			if err := d.proc.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if err := d.proc.Wait(10 * time.Second); err != nil {
				t.Fatalf("teamd-go did not exit on %v: %v", sig, err)
			}
			nstest.Eventually(t, 5*time.Second, func() error {
				for _, dev := range []string{"m1", "m2", "vm1"} {
					if id := xdpProg(t, tp.host, dev); id != "" {
						return fmt.Errorf("XDP program %s still on %s", id, dev)
					}
				}
				for _, id := range progs {
					if err := exec.Command("bpftool", "prog", "show", "id", id).Run(); err == nil {
						return fmt.Errorf("program %s still loaded", id)
					}
				}
				for _, id := range maps {
					if err := exec.Command("bpftool", "map", "show", "id", id).Run(); err == nil {
						return fmt.Errorf("map %s still exists", id)
					}
				}
				return nil
			})
			if sig != syscall.SIGTERM {
				return
			}
			for dev, want := range before {
				if got := linkSnapshot(t, tp.host, dev); got != want {
					t.Errorf("%s after SIGTERM: %q, before: %q", dev, got, want)
				}
			}
		})
	}
}

// TestXDPRefusedInterface: a member that already has an XDP program
// (another tool's; here one the test attaches) makes the daemon fail to
// start with an error naming the member and the kernel's reason, and the
// member opened before it is given back as it was, without a program.
// (An MTU no longer makes a member refuse: afxdp carries any MTU, see
// its package doc.)
func TestXDPRefusedInterface(t *testing.T) {
	tp := newTopo(t)
	tp.host.MustRun(t, "ip", "link", "set", "m1", "down")
	before := linkSnapshot(t, tp.host, "m1")
	other, err := xskprog.Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if err := tp.host.Do(func() error {
		ifi, err := net.InterfaceByName("m2")
		if err != nil {
			return err
		}
		return other.Attach(ifi.Index, xskprog.ModeDriver)
	}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "team.yaml")
	_, err = testbed.StartDaemon(t.Context(), &tp.host.NS, teamdBin,
		testbed.DaemonSpec{Team: tp.team, Config: tp.xdpConfig(siHyperV), Verbatim: true, ConfigPath: path})
	if err == nil {
		t.Fatal("daemon started with a member it cannot open")
	}
	if msg := err.Error(); !strings.Contains(msg, `"m2"`) || !strings.Contains(msg, "attach xdp program") ||
		!strings.Contains(msg, unix.EBUSY.Error()) {
		t.Errorf("error does not name m2, the attach and the kernel's reason (%v):\n%v", unix.EBUSY, err)
	}
	if got := linkSnapshot(t, tp.host, "m1"); got != before {
		t.Errorf("m1 after the failed start: %q, before: %q", got, before)
	}
	if id := xdpProg(t, tp.host, "m1"); id != "" {
		t.Errorf("XDP program %s left on m1", id)
	}
}
