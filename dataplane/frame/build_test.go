package frame

import (
	"errors"
	"net/netip"
	"testing"
)

func TestBuildParsesBack(t *testing.T) {
	a, b := MAC{2, 0, 0, 0, 0, 1}, MAC{2, 0, 0, 0, 0, 2}
	v4a, v4b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	v6a, v6b := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	tests := []struct {
		name string
		s    Spec
		et   uint16
	}{
		{"ethernet only", Spec{Src: a, Dst: b}, 0x88b5},
		{"tagged udp4", Spec{Src: a, Dst: b, VLAN: 100, SrcIP: v4a, DstIP: v4b, Proto: ProtoUDP, SrcPort: 1000, DstPort: 53}, EtherTypeIPv4},
		{"tcp6", Spec{Src: a, Dst: b, SrcIP: v6a, DstIP: v6b, Proto: ProtoTCP, SrcPort: 40000, DstPort: 443}, EtherTypeIPv6},
		{"sctp4", Spec{Src: a, Dst: b, SrcIP: v4a, DstIP: v4b, Proto: ProtoSCTP, SrcPort: 1, DstPort: 2}, EtherTypeIPv4},
		{"icmp4", Spec{Src: a, Dst: b, SrcIP: v4a, DstIP: v4b, Proto: ProtoICMP}, EtherTypeIPv4},
		{"arp request", Spec{Src: a, Dst: Broadcast, SrcIP: v4a, DstIP: v4b, ARP: 1}, EtherTypeARP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eth, err := Build(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			var f Frame
			if err := Parse(eth, &f); err != nil {
				t.Fatal(err)
			}
			if f.Src != tc.s.Src || f.Dst != tc.s.Dst || f.VLAN != tc.s.VLAN || f.EtherType != tc.et || len(eth) < 60 {
				t.Fatalf("parsed %+v from % x", f, eth)
			}
			if tc.s.ARP == 0 && tc.s.SrcIP.IsValid() {
				src, dst := netip.AddrFrom16(f.SrcIP).Unmap(), netip.AddrFrom16(f.DstIP).Unmap()
				if !f.HasIP || src != tc.s.SrcIP || dst != tc.s.DstIP || f.Proto != tc.s.Proto ||
					f.SrcPort != tc.s.SrcPort || f.DstPort != tc.s.DstPort {
					t.Fatalf("parsed %+v, want %+v", f, tc.s)
				}
				if tc.et == EtherTypeIPv4 && checksum(eth[f.L3:f.L3+20]) != 0 {
					t.Fatal("IPv4 header checksum does not verify")
				}
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")
	for name, s := range map[string]Spec{
		"mixed families": {SrcIP: v4, DstIP: v6},
		"one address":    {SrcIP: v4},
		"ports no proto": {SrcIP: v4, DstIP: v4, SrcPort: 1},
		"proto no ip":    {Proto: ProtoUDP},
		"vlan 4095":      {VLAN: 4095},
		"arp v6":         {SrcIP: v6, DstIP: v6, ARP: 1},
	} {
		if _, err := Build(s); !errors.Is(err, ErrSpec) {
			t.Errorf("%s: Build = %v, want ErrSpec", name, err)
		}
	}
}
