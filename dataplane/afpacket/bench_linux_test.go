//go:build linux

package afpacket

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// BenchmarkForward64 measures how many 64-byte frames (60 bytes without
// the FCS) per second one goroutine forwards with Read then Write between
// two veths, while a generator port floods the first; with the qdisc
// bypassed (the default) and not.
func BenchmarkForward64(b *testing.B) {
	nstest.Require(b)
	b.Run("bypass", func(b *testing.B) { benchForward(b, Options{}) })
	b.Run("qdisc", func(b *testing.B) { benchForward(b, Options{NoQdiscBypass: true}) })
}

func benchForward(b *testing.B, o Options) {
	gen, fwd, sink := newNS(b, "gen"), newNS(b, "fwd"), newNS(b, "sink")
	nstest.Veth(b, gen, "g0", fwd, "fa0")
	nstest.Veth(b, fwd, "fb0", sink, "s0")
	g := openIn(b, gen, "g0", Options{})
	pa := openIn(b, fwd, "fa0", o)
	pb := openIn(b, fwd, "fb0", o)
	dataplanetest.BenchForward(b, g, pa, pb, g.MAC(), func() uint64 { return pa.Stats().RingDrops }, "ringdrops/op")
}

// BenchmarkRTT measures the round-trip time of pings at 100 per second
// from a "VM" namespace to a peer through two Ports joined by a forwarder
// (the path a team's frame takes: read on one interface, write on the
// other), next to the same topology joined by a Linux bridge. It reports
// the median and 99th percentile in microseconds; b.N is the number of
// pings.
func BenchmarkRTT(b *testing.B) {
	nstest.Require(b)
	nstest.RequireTool(b, "ping")
	for _, path := range []string{"bridge", "port"} {
		b.Run(path, func(b *testing.B) {
			vm, fwd, peer := newNS(b, "vm"), newNS(b, "fwd"), newNS(b, "peer")
			nstest.Veth(b, vm, "vm0", fwd, "fa0")
			nstest.Veth(b, fwd, "fb0", peer, "pe0")
			vm.Addr(b, "vm0", "10.98.0.1/24")
			peer.Addr(b, "pe0", "10.98.0.2/24")
			if path == "bridge" {
				fwd.Bridge(b, "br0", "fa0", "fb0")
			} else {
				startForwarder(b, openIn(b, fwd, "fa0", Options{}), openIn(b, fwd, "fb0", Options{}))
			}
			vm.PingRTT(b, "10.98.0.2")
		})
	}
}
