package team

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/team/config"
)

var (
	vmIP6   = ip6("2001:db8::1")
	peerIP6 = ip6("2001:db8::aa")
)

// ndOf returns the NS or NA of an Ethernet frame, checked (checksum
// included), or fails the test.
func ndOf(t *testing.T, fr []byte) neigh.ND {
	t.Helper()
	var f frame.Frame
	_ = frame.Parse(fr, &f)
	if f.EtherType != frame.EtherTypeIPv6 || f.L3 == 0 {
		t.Fatalf("not an IPv6 frame: %x", fr)
	}
	nd := neigh.ND(fr[f.L3:])
	if err := nd.Check(); err != nil {
		t.Fatalf("not a valid NS/NA: %v: %x", err, fr)
	}
	return nd
}

// sentND returns the NS or NA frames among frames.
func sentND(frames [][]byte) [][]byte {
	var out [][]byte
	for _, fr := range frames {
		if isND(fr) {
			out = append(out, fr)
		}
	}
	return out
}

// isND reports whether fr is a neighbour solicitation or advertisement.
func isND(fr []byte) bool {
	var f frame.Frame
	return frame.Parse(fr, &f) == nil && f.ND
}

// vmSolicits makes the VM (mac, vmIP6) resolve the peer: an NS to the
// peer's solicited-node address, and returns it as it left on eth1.
func (tt *testTeam) vmSolicits(t *testing.T, mac frame.MAC) []byte {
	t.Helper()
	return tt.vmSendsOut(t, neigh.AppendNS(nil, mac, vmIP6, peerIP6), "the VM's NS", func(f []byte) bool {
		return isND(f) && neigh.ND(f[14:]).Type() == neigh.TypeNeighborSolicitation
	})
}

// TestXlat6TransmitRewrites: the VM's NS and NA leave with the team MAC
// as Ethernet source and in their link-layer options, checksums right;
// the VM's address is bound and announced by an unsolicited NA from the
// team MAC.
func TestXlat6TransmitRewrites(t *testing.T) {
	tt := startTeam(t, xlatConfig(config.LearnContinuous))
	team := tt.xlatMAC(t)
	tt.h.port("vm1").Inject(neigh.AppendNS(nil, vm1MAC, vmIP6, peerIP6))
	if err := tt.h.port("eth1").WaitSent(2, wait); err != nil {
		t.Fatal(err)
	}
	sent := tt.h.port("eth1").Sent()
	if got := unsolicitedNAs(t, sent, team); !got[vmIP6] {
		t.Errorf("the VM's new address was not announced from the team MAC: %x", sent)
	}
	var ns neigh.ND
	for _, fr := range sentND(sent) {
		if nd := ndOf(t, fr); nd.Type() == neigh.TypeNeighborSolicitation {
			ns = nd
			if frame.MAC(fr[6:12]) != team {
				t.Errorf("NS left from %x, want the team MAC %v", fr[6:12], team)
			}
		}
	}
	if ns == nil {
		t.Fatal("the VM's NS did not leave")
	}
	if lla, ok := ns.SourceLinkAddr(); !ok || lla != team {
		t.Errorf("NS source link-layer option %v %v, want the team MAC %v", lla, ok, team)
	}
	if got := tt.binding("2001:db8::1"); got != vm1MAC.String() {
		t.Errorf("binding 2001:db8::1 -> %q, want %v", got, vm1MAC)
	}
	// The VM answers the peer's NS: its NA leaves with the team MAC as
	// the target's link-layer address.
	peerNS := neigh.AppendNS(nil, peerMAC, peerIP6, vmIP6)
	tt.h.port("vm1").Inject(neigh.AppendNA(nil, vm1MAC, neigh.ND(peerNS[14:]), peerMAC, neigh.FlagOverride))
	if err := tt.h.port("eth1").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	fr := tt.h.port("eth1").Sent()[0]
	na := ndOf(t, fr)
	if lla, ok := na.TargetLinkAddr(); na.Type() != neigh.TypeNeighborAdvertisement || !ok || lla != team || frame.MAC(fr[6:12]) != team {
		t.Errorf("the VM's NA left as %+v from %x, want the team MAC as source and target link-layer address", na.Packet(), fr[6:12])
	}
}

// TestXlat6Receive: the team answers the peer's NS for the VM's address
// with the team MAC (the VM never sees it), passes duplicate address
// detection to the VM, and readdresses IPv6 for the team MAC to the VM.
func TestXlat6Receive(t *testing.T) {
	tt := startTeam(t, xlatConfig(config.LearnContinuous))
	team := tt.xlatMAC(t)
	tt.vmSolicits(t, vm1MAC)
	tt.h.port("vm1").Sent()
	tt.h.port("eth1").Sent()

	tt.h.port("eth1").Inject(neigh.AppendNS(nil, peerMAC, peerIP6, vmIP6))
	if err := tt.h.port("eth1").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	fr := tt.h.port("eth1").Sent()[0]
	na := ndOf(t, fr)
	lla, ok := na.TargetLinkAddr()
	if na.Type() != neigh.TypeNeighborAdvertisement || na.Target() != vmIP6 || na.Src() != vmIP6 || na.Dst() != peerIP6 ||
		na.Flags() != neigh.FlagSolicited|neigh.FlagOverride || !ok || lla != team ||
		frame.MAC(fr[0:6]) != peerMAC || frame.MAC(fr[6:12]) != team {
		t.Errorf("the team's answer: %+v, from %x to %x", na.Packet(), fr[6:12], fr[0:6])
	}
	// Duplicate address detection for the VM's address: the VM defends
	// it itself.
	tt.h.port("eth1").Inject(neigh.AppendNS(nil, peerMAC, [16]byte{}, vmIP6))
	if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
		t.Fatalf("DAD probe not passed to the VM: %v", err)
	}
	tt.h.port("vm1").Sent()
	// IPv6 for the team MAC reaches the VM, readdressed.
	tt.reachesVM(t, udp6(team, peerMAC, vmIP6, peerIP6, 1000, 80), vm1MAC)
	if c := tt.State().Counters; c.NDAnswered != 1 || c.RxTranslated != 1 {
		t.Errorf("counters %+v", c)
	}
}

// TestXlat6Allocs: rewriting the VM's NS options, answering the peer's
// NS and readdressing IPv6 allocate nothing per frame.
func TestXlat6Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	tm, err := New(xlatConfig(config.LearnContinuous), nullHost{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	s := tm.snap.Load()
	fw := &vnicForwarder{t: tm, v: s.vnics[0]}
	rc := &memberReceiver{t: tm, m: s.members[s.view.Members[0]]}
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte { return neigh.AppendNS(nil, vm1MAC, vmIP6, peerIP6) })
	fw.batch(bufs, sizes)
	tm.fdb.add(fdbKey{0, vm1MAC}, 0, false, 0)
	rbufs, rsizes := newBatch()
	fill(rbufs, rsizes, func(i int) []byte {
		if i%2 == 0 {
			return neigh.AppendNS(nil, peerMAC, peerIP6, vmIP6)
		}
		return udp6(s.xlat.teamMAC, peerMAC, vmIP6, peerIP6, uint16(i), 80)
	})
	rc.batch(rbufs, rsizes)
	if n := testing.AllocsPerRun(50, func() {
		for _, b := range bufs { // the team rewrote the source: put the VM's back
			copy(b[dataplane.VnetHdrLen+6:], vm1MAC[:])
		}
		fw.batch(bufs, sizes)
	}); n != 0 {
		t.Errorf("vnic->team NS with translation: %v allocations per batch", n)
	}
	if n := testing.AllocsPerRun(50, func() { rc.batch(rbufs, rsizes) }); n != 0 {
		t.Errorf("team->vnic NS and IPv6 with translation: %v allocations per batch", n)
	}
	if st := tm.State(); st.Counters.NDAnswered == 0 || st.Counters.RxTranslated == 0 {
		t.Errorf("nothing answered or translated: %+v", st.Counters)
	}
}
