//go:build linux

package integration

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
)

const (
	vm6      = "fd77::1"
	peer6    = "fd77::2"
	vm6MAC   = "02:00:00:77:00:01"
	peer6MAC = "02:00:00:77:00:02"
)

// newIPv6Topo is topo with a VM and a peer that have only IPv6
// (fd77::1/64 and fd77::2/64, no duplicate address detection). IPv6 is
// off in the host and switch namespaces, so that the only IPv6 the team
// sees is the VM's and the peer's.
func newIPv6Topo(t *testing.T) *topo {
	t.Helper()
	nstest.Require(t)
	nstest.RequireTool(t, "ping", "tcpdump", "tshark")
	noIPv6 := []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"}
	noDAD := []string{"net.ipv6.conf.eth0.accept_dad=0"}
	n := nstest.Build(t, "", testbed.Topology{
		Namespaces: []testbed.Namespace{{Role: "host", Sysctls: noIPv6}, {Role: "vm"}, {Role: "sw", Sysctls: noIPv6}, {Role: "peer"}},
		Links:      topoLinks(),
		Ifaces: []testbed.Iface{
			{NS: "vm", Dev: "eth0", MAC: vm6MAC, Sysctls: noDAD, Addrs: []string{vm6 + "/64"}},
			{NS: "peer", Dev: "eth0", MAC: peer6MAC, Sysctls: noDAD, Addrs: []string{peer6 + "/64"}},
		},
	})
	tp := topoOf(n)
	tp.sw.Bridge(t, "br0", "p1", "p2", "pp")
	return tp
}

// TestFailoverIPv6Only takes the home member's link down during a
// 100-pings-per-second IPv6 stream to a VM that has only IPv6, then brings
// it back. The team announces the VM's address on its new member by an
// unsolicited neighbour advertisement, which tcpdump on the switch side
// captures and tshark dissects: ICMPv6 type 136 to ff02::1 from the VM's
// MAC, override flag set, solicited clear, target the VM's address,
// target link-layer option the VM's MAC. Loss is logged; traffic must
// resume.
func TestFailoverIPv6Only(t *testing.T) {
	tp := newIPv6Topo(t)
	d := tp.start(t, tp.config(siHyperV))
	pingOK(t, tp.peer, vm6)
	if h := d.vnicHome("vm1"); h != "m1" {
		t.Fatalf("vm1 home = %q, want m1", h)
	}
	// The switch learned the VM's address from its replies: a failover
	// will announce it.
	nstest.Eventually(t, 5*time.Second, func() error {
		for _, e := range d.state().FDB {
			if e.MAC == vm6MAC && slices.Contains(e.IPv6, vm6) {
				return nil
			}
		}
		return fmt.Errorf("ctl state fdb has no %s for %s: %+v", vm6, vm6MAC, d.state().FDB)
	})
	pcap := filepath.Join(t.TempDir(), "p2.pcap")
	dump := startTcpdump(t, tp.sw, "-i", "p2", "-n", "-U", "--immediate-mode", "-Z", "root", "-w", pcap, "icmp6")

	r := failoverUnderPing(t, tp, d, vm6)
	lost := r.tx - r.rx
	t.Logf("IPv6-only failover and failback under 100 pings/s: %d sent, %d received, %d lost (about %d ms without traffic)",
		r.tx, r.rx, lost, lost*10)
	if r.rx == 0 {
		t.Fatal("no ping reply at all")
	}
	if _, rx := pingStats(t, tp.peer, "-c", "5", "-i", "0.05", "-W", "1", vm6); rx == 0 {
		t.Error("after failback: no reply; traffic did not resume")
	}
	if st := d.state(); st.Counters.Announcements == 0 || st.Counters.VNICMoves < 2 {
		t.Errorf("counters after failover and failback: %+v", st.Counters)
	}

	dump.Stop(syscall.SIGINT, 5*time.Second)
	out := tp.sw.MustRun(t, "tshark", "-r", pcap, "-Y", "icmpv6.type == 136", "-T", "fields", "-E", "separator=|",
		"-e", "eth.src", "-e", "ipv6.dst", "-e", "icmpv6.nd.na.flag.o", "-e", "icmpv6.nd.na.flag.s",
		"-e", "icmpv6.nd.na.target_address", "-e", "icmpv6.opt.linkaddr")
	var found bool
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "|")
		if len(f) != 6 {
			continue
		}
		if f[0] == vm6MAC && f[1] == "ff02::1" && isSet(f[2]) && !isSet(f[3]) && f[4] == vm6 && f[5] == vm6MAC {
			found = true
		}
	}
	if !found {
		t.Errorf("no unsolicited NA for %s from %s (override, not solicited, to ff02::1) on the switch side of m2; tshark saw the NAs:\n%s", vm6, vm6MAC, out)
	}
}

// isSet reads a boolean field as tshark -T fields prints it.
func isSet(v string) bool { return v == "1" || v == "True" || v == "true" }
