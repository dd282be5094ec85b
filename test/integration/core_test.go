//go:build linux

package integration

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
)

const siHyperV = `mode: switch-independent
balance: hyperv-port
members:
  - name: m1
  - name: m2
vnics:
  - name: vm1
`

// TestTrafficThroughTeam: ping and TCP both ways between a VM whose veth
// keeps its default offloads (GSO super-frames, partial checksums) and a
// peer behind a Linux bridge.
func TestTrafficThroughTeam(t *testing.T) {
	tp := newTopo(t)
	nstest.RequireTool(t, "iperf3")
	d := tp.start(t, tp.config(siHyperV))
	// The VM keeps its default offloads. On the xdp backend the kernel
	// itself withdraws TSO from the VM's veth while the XDP program sits
	// on its other end (drivers/net/veth.c veth_xdp_set), so only the
	// checksum offload is left to check there.
	want := "tcp-segmentation-offload: on"
	if backend() == "xdp" {
		want = "tx-checksum-ip-generic: on"
	}
	if out := tp.vm.MustRun(t, "ethtool", "-k", "eth0"); !strings.Contains(out, want) {
		t.Fatalf("VM veth offloads are not at their defaults (want %q):\n%s", want, out)
	}
	pingOK(t, tp.vm, "10.77.0.2")
	if tx, rx := pingStats(t, tp.vm, "-c", "5", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("ping: %d sent, %d received", tx, rx)
	}
	for _, dir := range []struct {
		name string
		args []string
	}{{"vm->peer", nil}, {"peer->vm", []string{"-R"}}} {
		r := iperfRun(t, tp, dir.args...)
		if r.bytes < 1e6 {
			t.Errorf("iperf3 %s moved only %.0f bytes", dir.name, r.bytes)
		}
		// No stall: every second of the run moved data (a super-frame
		// dropped for good would leave the connection waiting for
		// retransmission timeouts).
		for i, b := range r.intervals {
			if b == 0 {
				t.Errorf("iperf3 %s: nothing received in second %d of %d", dir.name, i+1, len(r.intervals))
			}
		}
	}
	st := d.state()
	if len(st.VNICs) != 1 || st.VNICs[0].Home != "m1" || !containsStr(st.VNICs[0].MACs, "02:00:00:77:00:01") {
		t.Errorf("vnic state: %+v", st.VNICs)
	}
	if st.Members[0].TxPackets == 0 || st.Members[0].RxPackets == 0 {
		t.Errorf("home member m1 counters: %+v", st.Members[0])
	}
	if st.Counters.TxSourceMACRewritten != 0 {
		t.Errorf("hyperv-port rewrote %d source MACs", st.Counters.TxSourceMACRewritten)
	}
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestFailoverUnderPing takes the home member's link down during a
// 100-pings-per-second stream, then brings it back, and reports the loss.
func TestFailoverUnderPing(t *testing.T) {
	tp := newTopo(t)
	d := tp.start(t, tp.config(siHyperV))
	pingOK(t, tp.peer, "10.77.0.1")
	if h := d.vnicHome("vm1"); h != "m1" {
		t.Fatalf("vm1 home = %q, want m1", h)
	}
	r := failoverUnderPing(t, tp, d, "10.77.0.1")
	lost := r.tx - r.rx
	t.Logf("failover and failback under 100 pings/s: %d sent, %d received, %d lost (about %d ms without traffic)",
		r.tx, r.rx, lost, lost*10)
	if r.rx == 0 {
		t.Fatal("no ping reply at all")
	}
	if tx, rx := pingStats(t, tp.peer, "-c", "5", "-i", "0.05", "10.77.0.1"); rx != tx {
		t.Errorf("after failback: %d sent, %d received", tx, rx)
	}
	if st := d.state(); st.Counters.Announcements == 0 || st.Counters.VNICMoves < 2 {
		t.Errorf("counters after failover and failback: %+v", st.Counters)
	}
}

// TestBroadcastOnceAndUnowned: the bridge floods a broadcast to both
// members; the VM must get it once. A unicast to a MAC no vnic owns is
// dropped and counted.
func TestBroadcastOnceAndUnowned(t *testing.T) {
	tp := newTopo(t)
	d := tp.start(t, tp.config(siHyperV))
	pingOK(t, tp.peer, "10.77.0.1")
	const etype = 0x88b5 // IEEE local experimental
	vmFD := rawSocket(t, tp.vm, "eth0", etype)
	peerFD := rawSocket(t, tp.peer, "eth0", etype)
	peerMAC, _ := net.ParseMAC("02:00:00:77:00:02")
	bcast, _ := net.ParseMAC("ff:ff:ff:ff:ff:ff")
	nobody, _ := net.ParseMAC("02:de:ad:00:00:01")
	before := d.state().Counters.RxDroppedNotOwned

	sendRaw(t, peerFD, ethFrame(bcast, peerMAC, etype, 0xb1), 5)
	if got := countRaw(vmFD, 0xb1, 500*time.Millisecond); got != 5 {
		t.Errorf("VM received %d copies of 5 broadcasts, want exactly 5", got)
	}
	sendRaw(t, peerFD, ethFrame(nobody, peerMAC, etype, 0xb2), 3)
	if got := countRaw(vmFD, 0xb2, 500*time.Millisecond); got != 0 {
		t.Errorf("VM received %d frames addressed to a MAC it does not own", got)
	}
	st := d.state()
	if st.Counters.RxDroppedNotOwned-before < 3 {
		t.Errorf("rx_dropped_not_owned went from %d to %d, want +3 or more", before, st.Counters.RxDroppedNotOwned)
	}
	if st.Counters.RxDroppedDupBroadcast < 5 {
		t.Errorf("rx_dropped_duplicate_broadcast = %d, want >= 5 (the copies on m2)", st.Counters.RxDroppedDupBroadcast)
	}
}

// linkSnapshot is what the daemon must give back on exit.
func linkSnapshot(t *testing.T, ns *nstest.NS, dev string) string {
	t.Helper()
	out := ns.MustRun(t, "ip", "-d", "-o", "link", "show", dev)
	var keep []string
	f := strings.Fields(out)
	for i, w := range f {
		switch {
		case strings.HasPrefix(w, "<"), w == "mtu", w == "promiscuity":
			keep = append(keep, w)
			if i+1 < len(f) && !strings.HasPrefix(w, "<") {
				keep = append(keep, f[i+1])
			}
		}
	}
	// Carrier flags depend on the peer, not on us.
	return strings.NewReplacer(",LOWER_UP", "", "NO-CARRIER,", "").Replace(strings.Join(keep, " "))
}

// TestSIGTERMRestores: members and vnics are given back as they were and
// the daemon's TAP is gone.
func TestSIGTERMRestores(t *testing.T) {
	tp := newTopo(t)
	tp.host.MustRun(t, "ip", "link", "set", "m2", "down")
	before := map[string]string{}
	for _, dev := range []string{"m1", "m2", "vm1"} {
		before[dev] = linkSnapshot(t, tp.host, dev)
	}
	d := tp.start(t, tp.config(siHyperV+"  - name: tg0\n    tap: true\n"))
	tp.host.MustRun(t, "ip", "link", "show", "tg0")
	if out := tp.host.MustRun(t, "ip", "-d", "link", "show", "m1"); !strings.Contains(out, "promiscuity 1") {
		t.Errorf("m1 not promiscuous while the team runs:\n%s", out)
	}
	d.stop()
	for dev, want := range before {
		if got := linkSnapshot(t, tp.host, dev); got != want {
			t.Errorf("%s after SIGTERM: %q, before: %q", dev, got, want)
		}
	}
	if _, err := tp.host.Run("ip", "link", "show", "tg0"); err == nil {
		t.Error("TAP tg0 still exists after SIGTERM")
	}
	if _, err := os.Stat(filepath.Join("/run/teamd-go", tp.team+".sock")); err == nil {
		t.Error("control socket left behind")
	}
}

// pingLoss is what a ping stream sent and got back.
type pingLoss struct{ tx, rx int }

// failoverUnderPing pings addr from the peer at 100/s (400 pings) while
// vm1's home member m1 loses carrier, vm1 moves to m2, and m1 comes
// back and takes vm1 home again; it returns the stream's counts.
func failoverUnderPing(t *testing.T, tp *topo, d *daemon, addr string) pingLoss {
	t.Helper()
	done := make(chan pingLoss, 1)
	go func() {
		tx, rx := pingStats(t, tp.peer, "-i", "0.01", "-c", "400", "-W", "1", addr)
		done <- pingLoss{tx, rx}
	}()
	time.Sleep(time.Second)
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "down")
	nstest.Eventually(t, 5*time.Second, func() error {
		if h := d.vnicHome("vm1"); h != "m2" {
			return fmt.Errorf("vm1 home %q, want m2 after m1 lost carrier", h)
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "up")
	nstest.Eventually(t, 5*time.Second, func() error {
		if h := d.vnicHome("vm1"); h != "m1" {
			return fmt.Errorf("vm1 home %q, want m1 after it came back", h)
		}
		return nil
	})
	return <-done
}
