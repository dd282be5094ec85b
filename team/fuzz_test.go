package team

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/team/config"
)

// FuzzForward pushes arbitrary frames through both directions of the
// data path of a team with rx_translation on, and of a LACP team, and
// asks Explain about them: a malformed frame is counted and dropped (and
// explained), never a panic.
func FuzzForward(f *testing.F) {
	f.Add(udp(peerMAC, vm1MAC, 1, 2))
	f.Add(arpRequest(peerMAC, 0x0a0000aa, [4]byte{10, 0, 0, 1}))
	f.Add(gratuitousARP(vm1MAC, vmIP)[dataplane.VnetHdrLen:])
	f.Add(toVM(macFor("eth1")))
	f.Add(append([]byte{0x01, 0x80, 0xc2, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0x09, 1, 1, 1, 0}, make([]byte, 40)...))
	f.Add(neigh.AppendNS(nil, peerMAC, peerIP6, vmIP6))
	f.Add(neigh.AppendNS(nil, vm1MAC, [16]byte{}, vmIP6))
	f.Add(neigh.AppendUnsolicitedNA(nil, vm1MAC, vmIP6, neigh.FlagOverride))
	f.Add(udp6(macFor("eth1"), peerMAC, vmIP6, peerIP6, 1, 2))
	f.Add([]byte{})
	f.Add(make([]byte, 13))
	f.Add(tag(udp(vm1MAC, peerMAC, 1, 2), 10))
	f.Add(tag(tag(udp(frame.Broadcast, peerMAC, 1, 2), 20), 10))
	f.Add(tag(arpRequest(peerMAC, 0x0a0000aa, [4]byte{10, 0, 0, 1}), 10))
	f.Add(tag(udp(peerMAC, vm1MAC, 1, 2), 0xe000))

	xc := xlatConfig(config.LearnContinuous)
	xt, err := New(xc, nullHost{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { xt.Close() })
	lc := baseConfig(config.ModeLACP, config.BalanceAddressHash, "eth1", "eth2")
	lc.LACP = config.LACP{Active: true, Rate: config.LACPRateFast, SystemPriority: 65535, MinPorts: 1}
	lt, err := New(lc, nullHost{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { lt.Close() })
	// VLANs: vm1 on access 10, vm2 a trunk of 10 and 20 with native 1,
	// rx_translation on.
	vc := xlatConfig(config.LearnContinuous)
	vc.VNICs = []config.VNIC{{Name: "vm1", VLAN: config.VLAN{Access: 10}}, {Name: "vm2", VLAN: config.VLAN{Trunk: []int{10, 20}, Native: 1}}}
	vt, err := New(vc, nullHost{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { vt.Close() })

	type pair struct {
		fw *vnicForwarder
		rc *memberReceiver
	}
	var pairs []pair
	for _, tm := range []*Team{xt, lt, vt} {
		s := tm.snap.Load()
		tm.fdb.add(fdbKey{0, vm1MAC}, s.vnics[0].id, false, 0)
		tm.fdb.add(fdbKey{10, vm1MAC}, s.vnics[0].id, false, 0)
		pairs = append(pairs, pair{&vnicForwarder{t: tm, v: s.vnics[0]}, &memberReceiver{t: tm, m: s.members[0]}})
	}
	bufs, sizes := newBatch()
	f.Fuzz(func(t *testing.T, eth []byte) {
		if len(eth) > dataplane.MaxFrame-dataplane.VnetHdrLen {
			return
		}
		for _, p := range pairs {
			for _, dir := range []func([][]byte, []int){p.fw.batch, p.rc.batch} {
				clear(bufs[0][:dataplane.VnetHdrLen])
				sizes[0] = dataplane.VnetHdrLen + copy(bufs[0][dataplane.VnetHdrLen:], eth)
				// Also as a frame from the VM's own MAC, so the learning
				// and translation paths see it.
				clear(bufs[1][:dataplane.VnetHdrLen])
				sizes[1] = dataplane.VnetHdrLen + copy(bufs[1][dataplane.VnetHdrLen:], eth)
				if len(eth) >= 12 {
					copy(bufs[1][dataplane.VnetHdrLen+6:], vm1MAC[:])
				}
				dir(bufs[:2], sizes[:2])
			}
			for _, q := range []struct{ dir, port string }{{Transmit, p.fw.v.name}, {Receive, p.rc.m.name}} {
				e, err := p.fw.t.Explain(q.dir, q.port, eth)
				if err != nil || e.Verdict == "" {
					t.Fatalf("Explain(%s, %s): %+v, %v", q.dir, q.port, e, err)
				}
			}
		}
	})
}
