//go:build linux

package afxdp

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// BenchmarkForward64 measures how many 64-byte frames (60 bytes without
// the FCS) per second one goroutine forwards with Read then Write between
// two veths, while a generator Port floods the first, as the afpacket
// benchmark of the same name does.
func BenchmarkForward64(b *testing.B) {
	nstest.Require(b)
	gen, fwd, sink := newNS(b, "gen"), newNS(b, "fwd"), newNS(b, "sink")
	nstest.Veth(b, gen, "g0", fwd, "fa0")
	nstest.Veth(b, fwd, "fb0", sink, "s0")
	g := openIn(b, gen, "g0", Options{})
	pa := openIn(b, fwd, "fa0", Options{})
	pb := openIn(b, fwd, "fb0", Options{})
	dataplanetest.BenchForward(b, g, pa, pb, g.MAC(), func() uint64 { return pa.Stats().RXDropped }, "rxdrops/op")
}

// BenchmarkRTT measures the round-trip time of pings at 100 per second
// from a "VM" namespace to a peer through two Ports joined by a forwarder,
// in microseconds (median and 99th percentile); b.N is the number of
// pings.
func BenchmarkRTT(b *testing.B) {
	nstest.Require(b)
	nstest.RequireTool(b, "ping")
	vm, fwd, peer := newNS(b, "vm"), newNS(b, "fwd"), newNS(b, "peer")
	nstest.Veth(b, vm, "vm0", fwd, "fa0")
	nstest.Veth(b, fwd, "fb0", peer, "pe0")
	vm.Addr(b, "vm0", "10.98.0.1/24")
	peer.Addr(b, "pe0", "10.98.0.2/24")
	forward(b, openIn(b, fwd, "fa0", Options{}), openIn(b, fwd, "fb0", Options{}))
	vm.PingRTT(b, "10.98.0.2")
}
