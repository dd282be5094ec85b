package frame

import (
	"encoding/binary"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// arp4 returns a gratuitous ARP for 10.0.0.1, tagged with VLAN 42 if vlan.
func arp4(vlan bool) []byte {
	b := neigh.AppendGratuitous(nil, [6]byte{0x02, 0, 0, 0, 0, 1}, [4]byte{10, 0, 0, 1})
	if vlan {
		b = append(b[:12:12], append([]byte{0x81, 0x00, 0x00, 0x2a}, b[12:]...)...)
	}
	return b
}

// ns6 returns a neighbour solicitation for 2001:db8::2, tagged with
// VLAN 42 if vlan.
func ns6(vlan bool) []byte {
	mac := [6]byte{0x02, 0, 0, 0, 0, 1}
	b := neigh.AppendNS(nil, mac, neigh.LinkLocal(mac), [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 2})
	if vlan {
		b = append(b[:12:12], append([]byte{0x81, 0x00, 0x00, 0x2a}, b[12:]...)...)
	}
	return b
}

// udp4 returns an Ethernet+IPv4+UDP frame, tagged with VLAN 42 if vlan.
func udp4(vlan bool) []byte {
	b := make([]byte, 0, 64)
	b = append(b, 0x02, 0, 0, 0, 0, 2) // dst
	b = append(b, 0x02, 0, 0, 0, 0, 1) // src
	if vlan {
		b = append(b, 0x81, 0x00, 0x00, 0x2a)
	}
	b = append(b, 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0] = 0x45
	ip[9] = ProtoUDP
	copy(ip[12:], []byte{10, 0, 0, 1})
	copy(ip[16:], []byte{10, 0, 0, 2})
	b = append(b, ip...)
	l4 := make([]byte, 8)
	binary.BigEndian.PutUint16(l4, 1234)
	binary.BigEndian.PutUint16(l4[2:], 80)
	return append(b, l4...)
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
		check   func(t *testing.T, f *Frame)
	}{
		{name: "short", in: make([]byte, 13), wantErr: true},
		{name: "udp4", in: udp4(false), check: func(t *testing.T, f *Frame) {
			if f.EtherType != EtherTypeIPv4 || !f.HasIP || f.Proto != ProtoUDP || f.SrcPort != 1234 || f.DstPort != 80 {
				t.Errorf("got %+v", f)
			}
			if ip, ok := IPv4(f.DstIP); !ok || ip != [4]byte{10, 0, 0, 2} {
				t.Errorf("dst ip %v %v", ip, ok)
			}
			if f.Src.String() != "02:00:00:00:00:01" {
				t.Errorf("src %v", f.Src)
			}
		}},
		{name: "vlan udp4", in: udp4(true), check: func(t *testing.T, f *Frame) {
			if !f.Tagged || f.VLAN != 42 || f.SrcPort != 1234 || f.L3 != 18 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "arp", in: arp4(false), check: func(t *testing.T, f *Frame) {
			if !f.ARP || f.L3 != 14 || f.HasIP || f.EtherType != EtherTypeARP {
				t.Fatalf("got %+v", f)
			}
			if a := neigh.ARP(arp4(false)[f.L3:]); a.SenderIP() != [4]byte{10, 0, 0, 1} {
				t.Errorf("sender IP %v", a.SenderIP())
			}
			if f.Key != (Key{Src: f.Src, Dst: Broadcast, EtherType: EtherTypeARP}) {
				t.Errorf("ARP fields leaked into the flow key: %+v", f.Key)
			}
		}},
		{name: "vlan arp", in: arp4(true), check: func(t *testing.T, f *Frame) {
			if !f.ARP || f.L3 != 18 || !f.Tagged || f.VLAN != 42 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "truncated arp", in: arp4(false)[:14+27], check: func(t *testing.T, f *Frame) {
			if f.ARP || f.L3 != 0 || f.EtherType != EtherTypeARP {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "arp for IPv6", in: func() []byte { b := arp4(false); b[16] = 0x86; b[17] = 0xdd; return b }(), check: func(t *testing.T, f *Frame) {
			if f.ARP {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "nd", in: ns6(false), check: func(t *testing.T, f *Frame) {
			if !f.ND || f.L3 != 14 || !f.HasIP || f.Proto != ProtoICMPv6 || f.L4 != 0 || f.ARP {
				t.Fatalf("got %+v", f)
			}
			if n := neigh.ND(ns6(false)[f.L3:]); n.Type() != neigh.TypeNeighborSolicitation || n.Target()[15] != 2 {
				t.Errorf("type %d, target %x", n.Type(), n.Target())
			}
		}},
		{name: "vlan nd", in: ns6(true), check: func(t *testing.T, f *Frame) {
			if !f.ND || f.L3 != 18 || !f.Tagged || f.VLAN != 42 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "nd with a bad checksum", in: func() []byte { b := ns6(false); b[14+40+2] ^= 1; return b }(), check: func(t *testing.T, f *Frame) {
			if f.ND || !f.HasIP || f.Proto != ProtoICMPv6 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "icmpv6 echo", in: func() []byte { b := ns6(false); b[14+40] = 128; return b }(), check: func(t *testing.T, f *Frame) {
			if f.ND || f.Proto != ProtoICMPv6 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "truncated nd", in: ns6(false)[:14+41], check: func(t *testing.T, f *Frame) {
			if f.ND {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "truncated ip", in: udp4(false)[:20], check: func(t *testing.T, f *Frame) {
			if f.HasIP || f.EtherType != EtherTypeIPv4 {
				t.Errorf("got %+v", f)
			}
		}},
		{name: "truncated l4", in: udp4(false)[:36], check: func(t *testing.T, f *Frame) {
			if !f.HasIP || f.L4 != 0 || f.SrcPort != 0 {
				t.Errorf("got %+v", f)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Frame
			err := Parse(tt.in, &f)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, &f)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	m, err := ParseMAC("02:aB:cc:dd:ee:0f")
	if err != nil || m.String() != "02:ab:cc:dd:ee:0f" {
		t.Fatalf("got %v %v", m, err)
	}
	for _, bad := range []string{"", "02:ab:cc:dd:ee", "02:ab:cc:dd:ee:0g", "02.ab.cc.dd.ee.0f"} {
		if _, err := ParseMAC(bad); err == nil {
			t.Errorf("ParseMAC(%q) succeeded", bad)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	for name, b := range map[string][]byte{"udp4": udp4(true), "arp": arp4(true), "nd": ns6(true)} {
		var f Frame
		if n := testing.AllocsPerRun(1000, func() { _ = Parse(b, &f) }); n != 0 {
			t.Errorf("Parse(%s) allocates %v times per frame", name, n)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(udp4(false))
	f.Add(udp4(true))
	f.Add([]byte{})
	v6 := make([]byte, 14+40+8)
	v6[12], v6[13] = 0x86, 0xdd
	v6[14] = 0x60
	v6[14+6] = 0 // hop-by-hop with zero length
	f.Add(v6)
	f.Add(arp4(false))
	f.Add(arp4(true))
	f.Add(ns6(false))
	f.Add(ns6(true))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		_ = Parse(b, &fr)
		if fr.L4 != 0 && fr.L4+4 > len(b) {
			t.Fatalf("L4 offset %d beyond frame of %d", fr.L4, len(b))
		}
		if fr.ARP && !neigh.ARP(b[fr.L3:]).IsValid() {
			t.Fatalf("ARP set, but no valid ARP packet at offset %d of %x", fr.L3, b)
		}
		if fr.ND && (fr.ARP || !neigh.ND(b[fr.L3:]).IsValid()) {
			t.Fatalf("ND set, but no valid NS/NA at offset %d of %x", fr.L3, b)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	buf := udp4(false)
	var f Frame
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Parse(buf, &f)
	}
}
