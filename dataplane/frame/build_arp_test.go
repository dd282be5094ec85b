package frame

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// TestBuildARP: Build's ARP packets, tagged or not, read back through
// Parse and the neigh view with the fields the Spec gave.
func TestBuildARP(t *testing.T) {
	a, b := MAC{2, 0, 0, 0, 0, 1}, MAC{2, 0, 0, 0, 0, 2}
	ipA, ipB := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for _, tc := range []struct {
		name string
		s    Spec
		want neigh.Packet
	}{
		{"request", Spec{Src: a, Dst: Broadcast, SrcIP: ipA, DstIP: ipB, ARP: 1},
			neigh.Packet{Op: neigh.OpRequest, SenderMAC: a, SenderIP: ipA.As4(), TargetIP: ipB.As4()}},
		{"reply", Spec{Src: a, Dst: b, SrcIP: ipA, DstIP: ipB, ARP: 2},
			neigh.Packet{Op: neigh.OpReply, SenderMAC: a, SenderIP: ipA.As4(), TargetMAC: b, TargetIP: ipB.As4()}},
		{"tagged request", Spec{Src: a, Dst: Broadcast, VLAN: 7, SrcIP: ipA, DstIP: ipB, ARP: 1},
			neigh.Packet{Op: neigh.OpRequest, SenderMAC: a, SenderIP: ipA.As4(), TargetIP: ipB.As4()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eth, err := Build(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			var f Frame
			if err := Parse(eth, &f); err != nil || !f.ARP {
				t.Fatalf("Parse: %v, ARP %v", err, f.ARP)
			}
			if diff := cmp.Diff(tc.want, neigh.ARP(eth[f.L3:]).Packet()); diff != "" {
				t.Errorf("ARP packet (-want +got):\n%s", diff)
			}
		})
	}
}
