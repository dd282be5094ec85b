package team

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/team/config"
)

// unsolicitedNAs returns, from frames, the targets of the unsolicited
// neighbour advertisements from mac to all nodes (override flag, no
// solicited flag, target link-layer option mac, checksum right).
func unsolicitedNAs(t *testing.T, frames [][]byte, mac frame.MAC) map[[16]byte]bool {
	t.Helper()
	got := map[[16]byte]bool{}
	for _, fr := range frames {
		var f frame.Frame
		if frame.Parse(fr, &f) != nil || f.EtherType != frame.EtherTypeIPv6 || frame.MAC(fr[6:12]) != mac {
			continue
		}
		nd := neigh.ND(fr[f.L3:])
		if err := nd.Check(); err != nil {
			t.Errorf("an IPv6 frame from %v is not a valid NS/NA: %v", mac, err)
			continue
		}
		if nd.Type() != neigh.TypeNeighborAdvertisement || nd.Dst() != neigh.AllNodes {
			continue // a solicitation, or an answer to one
		}
		lla, ok := nd.TargetLinkAddr()
		if f.Dst != neigh.AllNodesMAC || nd.Dst() != neigh.AllNodes ||
			nd.Flags() != neigh.FlagOverride || !ok || lla != mac {
			t.Errorf("not an unsolicited NA for %v: %+v", mac, nd.Packet())
			continue
		}
		got[nd.Target()] = true
	}
	return got
}

// TestFailoverAnnouncesIPv6: a moved vnic's MAC is announced by an
// unsolicited NA for each IPv6 address it spoke from (link-local
// included), besides RARP and gratuitous ARP, again after
// announceRepeat.
func TestFailoverAnnouncesIPv6(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	addrs := [][16]byte{ip6("fe80::1"), ip6("2001:db8::1")}
	for _, a := range addrs {
		tt.h.port("vm1").Inject(udp6(peerMAC, vm1MAC, ip6("2001:db8::aa"), a, 1, 2))
	}
	waitFor(t, func() error {
		if e := tt.fdb.entry(fdbKey{0, vm1MAC}); e == nil || len(e.ipv6.addrs()) != 2 {
			return errors.New("IPv6 addresses not learned")
		}
		return nil
	})
	tt.h.port("eth1").Sent()
	tt.h.port("eth2").Sent()

	tt.LinkChanged("eth1", false)
	frames := tt.h.port("eth2").Sent()
	check := func(what string, frames [][]byte) {
		t.Helper()
		got := unsolicitedNAs(t, frames, vm1MAC)
		for _, a := range addrs {
			if !got[a] {
				t.Errorf("%s: no unsolicited NA for %x among %d frames", what, a, len(frames))
			}
		}
		var rarp bool
		for _, f := range frames {
			rarp = rarp || (frame.MAC(f[6:12]) == vm1MAC && binary.BigEndian.Uint16(f[12:]) == frame.EtherTypeRARP)
		}
		if !rarp {
			t.Errorf("%s: no RARP beside the NAs", what)
		}
	}
	check("failover", frames)
	// The repetition (announceRepeat later, on the control goroutine's
	// wall clock) carries the NAs too.
	if err := tt.h.port("eth2").WaitSent(len(frames), wait); err != nil {
		t.Fatalf("no repeated announcement: %v", err)
	}
	check("repeat", tt.h.port("eth2").Sent())
}

// TestVLANAnnouncementsTaggedIPv6: on a VLAN the unsolicited NAs leave
// tagged like RARP and gratuitous ARP, still valid behind the tag.
func TestVLANAnnouncementsTaggedIPv6(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort, config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2"})
	tt.send(t, "vm1", udp6(peerMAC, vm1MAC, peerIP6, vmIP6, 1, 2))
	home := tt.State().VNICs[0].Home
	other := map[string]string{"eth1": "eth2", "eth2": "eth1"}[home]
	tt.h.port(home).Sent()
	tt.h.port(other).Sent()
	tt.LinkChanged(home, false)
	frames := tt.h.port(other).Sent()
	var nas [][]byte
	for _, f := range frames {
		var p frame.Frame
		if frame.Parse(f, &p) == nil && p.EtherType == frame.EtherTypeIPv6 {
			nas = append(nas, f)
			if vid, ok := frame.VLANTag(f); !ok || vid != 10 {
				t.Errorf("NA not tagged 10: %x", f)
			}
		}
	}
	if got := unsolicitedNAs(t, nas, vm1MAC); len(nas) != 1 || !got[vmIP6] {
		t.Errorf("announcements on %s: %d IPv6 frames, NAs for %v; want one for %x", other, len(nas), got, vmIP6)
	}
}
