//go:build linux

package afxdp

import (
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// forward copies frames between two Ports in both directions, as the
// team's data path does, until the test ends.
var forward = dataplanetest.Forward[Stats, *Port]

// TestForwardTCP runs TCP from a "VM" namespace whose veth keeps its
// default offloads (TSO, checksum offload) through two Ports joined by a
// forwarder to a peer, and compares the data by hash. With the XDP
// program on the forwarder's end, the kernel takes GSO off the VM's veth
// (veth_xdp_set), so only wire-sized frames arrive and none is dropped as
// a super-frame.
func TestForwardTCP(t *testing.T) {
	nstest.Require(t)
	vm, fwd, peer := newNS(t, "vm"), newNS(t, "fwd"), newNS(t, "peer")
	nstest.Veth(t, vm, "vm0", fwd, "fa0")
	nstest.Veth(t, fwd, "fb0", peer, "pe0")
	vm.Addr(t, "vm0", "10.99.0.1/24")
	peer.Addr(t, "pe0", "10.99.0.2/24")
	before := vm.MustRun(t, "ethtool", "-k", "vm0")
	pa := openIn(t, fwd, "fa0", Options{})
	pb := openIn(t, fwd, "fb0", Options{})
	forward(t, pa, pb)
	after := vm.MustRun(t, "ethtool", "-k", "vm0")
	t.Logf("vm0 TSO before: %s; with the program attached: %s", feature(before, "tcp-segmentation-offload"), feature(after, "tcp-segmentation-offload"))

	start := time.Now()
	sent, got, n := tcpTransfer(t, vm, peer, "10.99.0.2:5201", 32<<20)
	el := time.Since(start)
	if sent != got {
		t.Fatalf("peer received %d bytes with sha256 %x, VM sent %x", n, got, sent)
	}
	sa, sb := pa.Stats(), pb.Stats()
	t.Logf("%d MiB intact in %v (%.0f Mbit/s); fa0 %+v; fb0 %+v", n>>20, el, float64(n)*8/el.Seconds()/1e6, sa, sb)
	if sa.GSODropped+sb.GSODropped+sa.WriteErrors+sb.WriteErrors != 0 {
		t.Errorf("super-frames or write errors")
	}
	if sa.Partial == 0 || sb.Partial == 0 {
		t.Errorf("no partial checksums seen (fa0 %d, fb0 %d): the test did not test checksum offload", sa.Partial, sb.Partial)
	}
}

func feature(ethtoolK, name string) string {
	for _, l := range strings.Split(ethtoolK, "\n") {
		if strings.HasPrefix(l, name+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, name+":"))
		}
	}
	return "?"
}
