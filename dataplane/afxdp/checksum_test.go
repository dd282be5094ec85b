package afxdp

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/dataplane"
)

// tcp6Frame is Ethernet + IPv6 + a 20-byte TCP header + plen bytes, with
// its checksum field holding the pseudo-header sum.
func tcp6Frame(plen int) []byte {
	f := make([]byte, 14+40+20+plen)
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := f[14:]
	ip[0], ip[6], ip[7] = 0x60, 6, 64
	binary.BigEndian.PutUint16(ip[4:], uint16(20+plen))
	for i := 8; i < 40; i++ {
		ip[i] = byte(i)
	}
	tcp := ip[40:]
	tcp[12] = 5 << 4
	for i := range plen {
		tcp[20+i] = byte(i * 3)
	}
	binary.BigEndian.PutUint16(tcp[16:], fold(sum(ip[8:40], 6+uint64(20+plen))))
	return f
}

func vlan(f []byte, tpid uint16) []byte {
	out := append([]byte{}, f[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, 100)
	return append(out, f[12:]...)
}

func TestMarkPartial(t *testing.T) {
	complete := func(f []byte, start, off int) []byte {
		g := append([]byte{}, f...)
		completeChecksum(g, start, off)
		return g
	}
	damaged := complete(udpFrame(30), 34, 6)
	damaged[50] ^= 1
	fragment := udpFrame(30)
	fragment[14+6] = 0x20 // more fragments
	noCsum := udpFrame(30)
	binary.BigEndian.PutUint16(noCsum[40:], 0)
	tests := []struct {
		name string
		eth  []byte
		want dataplane.VnetHdr // zero: left alone
	}{
		{"UDPv4 partial", udpFrame(30), dataplane.VnetHdr{Flags: 1, CsumStart: 34, CsumOffset: 6}},
		{"UDPv4 partial, odd length", udpFrame(31), dataplane.VnetHdr{Flags: 1, CsumStart: 34, CsumOffset: 6}},
		{"UDPv4 complete", complete(udpFrame(30), 34, 6), dataplane.VnetHdr{}},
		{"UDPv4 no checksum", noCsum, dataplane.VnetHdr{}},
		{"UDPv4 damaged", damaged, dataplane.VnetHdr{}},
		{"IPv4 fragment", fragment, dataplane.VnetHdr{}},
		{"TCPv6 partial", tcp6Frame(1000), dataplane.VnetHdr{Flags: 1, CsumStart: 54, CsumOffset: 16}},
		{"TCPv6 complete", complete(tcp6Frame(1000), 54, 16), dataplane.VnetHdr{}},
		{"802.1Q UDPv4 partial", vlan(udpFrame(30), 0x8100), dataplane.VnetHdr{Flags: 1, CsumStart: 38, CsumOffset: 6}},
		{"QinQ TCPv6 partial", vlan(vlan(tcp6Frame(9), 0x8100), 0x88a8), dataplane.VnetHdr{Flags: 1, CsumStart: 62, CsumOffset: 16}},
		{"ARP", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 8, 6}, make([]byte, 46)...), dataplane.VnetHdr{}},
		{"runt", []byte{1, 2, 3}, dataplane.VnetHdr{}},
		{"truncated IPv4", udpFrame(30)[:40], dataplane.VnetHdr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := append(make([]byte, dataplane.VnetHdrLen), tt.eth...)
			marked := markPartial(f)
			if diff := cmp.Diff(tt.want, dataplane.DecodeVnetHdr(f)); diff != "" {
				t.Fatalf("header (-want +got):\n%s", diff)
			}
			if marked != (tt.want != dataplane.VnetHdr{}) {
				t.Errorf("markPartial = %v", marked)
			}
			if !marked {
				return
			}
			// Completing it as Write does gives a frame that verifies.
			h := dataplane.DecodeVnetHdr(f)
			eth := f[dataplane.VnetHdrLen:]
			completeChecksum(eth, int(h.CsumStart), int(h.CsumOffset))
			g := append(make([]byte, dataplane.VnetHdrLen), eth...)
			if markPartial(g) || dataplane.DecodeVnetHdr(g) != (dataplane.VnetHdr{}) {
				t.Errorf("completed frame still looks partial")
			}
		})
	}
}

// FuzzMarkPartial: any frame, never a panic, and a header it writes
// points inside the frame.
func FuzzMarkPartial(f *testing.F) {
	f.Add(udpFrame(30))
	f.Add(tcp6Frame(9))
	f.Add(vlan(udpFrame(1), 0x8100))
	f.Fuzz(func(t *testing.T, eth []byte) {
		fr := append(make([]byte, dataplane.VnetHdrLen), eth...)
		if markPartial(fr) {
			h := dataplane.DecodeVnetHdr(fr)
			if int(h.CsumStart)+int(h.CsumOffset)+2 > len(eth) {
				t.Fatalf("header %+v points outside a %d-byte frame", h, len(eth))
			}
		}
	})
}

func TestMarkPartialAllocs(t *testing.T) {
	f := append(make([]byte, dataplane.VnetHdrLen), tcp6Frame(1400)...)
	if a := testing.AllocsPerRun(100, func() { clear(f[:dataplane.VnetHdrLen]); markPartial(f) }); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

func BenchmarkMarkPartial(b *testing.B) {
	f := append(make([]byte, dataplane.VnetHdrLen), tcp6Frame(1440)...)
	completeChecksum(f[dataplane.VnetHdrLen:], 54, 16)
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		markPartial(f)
	}
}
