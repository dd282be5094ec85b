package neigh

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
)

var (
	ip6A = netip.MustParseAddr("2001:db8::a").As16()
	ip6B = netip.MustParseAddr("2001:db8::1:2:3").As16()
)

// ethOf splits a built frame into its Ethernet destination, source,
// EtherType and the IPv6 packet.
func ethOf(t *testing.T, fr []byte) (dst, src [6]byte, et uint16, ip ND) {
	t.Helper()
	if len(fr) < EthernetLen {
		t.Fatalf("frame of %d bytes", len(fr))
	}
	return [6]byte(fr), [6]byte(fr[6:]), binary.BigEndian.Uint16(fr[12:]), ND(fr[EthernetLen:])
}

func TestNDHelpers(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"solicited-node", netip.AddrFrom16(SolicitedNode(ip6B)), netip.MustParseAddr("ff02::1:ff02:3")},
		{"multicast MAC of solicited-node", MulticastMAC(SolicitedNode(ip6B)), [6]byte{0x33, 0x33, 0xff, 0x02, 0x00, 0x03}},
		{"multicast MAC of all nodes", MulticastMAC(AllNodes), AllNodesMAC},
		{"link-local, local MAC", netip.AddrFrom16(LinkLocal(macA)), netip.MustParseAddr("fe80::ff:fe00:a")},
		{"link-local, universal MAC", netip.AddrFrom16(LinkLocal([6]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})),
			netip.MustParseAddr("fe80::5054:ff:fe12:3456")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestICMPv6Checksum checks the checksum against one computed by hand
// for a 4-byte echo request, and that a message carrying its checksum
// sums to 0 (odd lengths included).
func TestICMPv6Checksum(t *testing.T) {
	src := netip.MustParseAddr("::1").As16()
	dst := netip.MustParseAddr("::2").As16()
	// pseudo-header: 0x0001 + 0x0002 + length 4 + next header 58 = 0x0041;
	// message 0x8000 + 0x0000: sum 0x8041, checksum 0x7fbe.
	msg := []byte{128, 0, 0, 0}
	if got := ICMPv6Checksum(src, dst, msg); got != 0x7fbe {
		t.Errorf("checksum %#04x, want 0x7fbe", got)
	}
	for _, n := range []int{4, 5, 6, 7, 33} {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(0xf0 + i)
		}
		msg[2], msg[3] = 0, 0
		binary.BigEndian.PutUint16(msg[2:], ICMPv6Checksum(ip6A, ip6B, msg))
		if got := ICMPv6Checksum(ip6A, ip6B, msg); got != 0 {
			t.Errorf("length %d: a message with its checksum sums to %#04x, want 0", n, got)
		}
	}
}

// TestNDBuilders parses every builder's frame back: Ethernet header,
// IPv6 addresses, flags and options as RFC 4861 7.2 sends them.
func TestNDBuilders(t *testing.T) {
	ns := AppendNS(nil, macA, LinkLocal(macA), ip6B)
	dad := AppendNS(nil, macA, [16]byte{}, ip6A)
	snB := SolicitedNode(ip6B)
	for _, tt := range []struct {
		name     string
		fr       []byte
		dst, src [6]byte
		want     NDPacket
	}{
		{"solicitation", ns, MulticastMAC(snB), macA, NDPacket{Type: TypeNeighborSolicitation,
			Src: LinkLocal(macA), Dst: snB, Target: ip6B, SourceLinkAddr: macA, HasSourceLinkAddr: true}},
		{"DAD solicitation", dad, [6]byte{0x33, 0x33, 0xff, 0, 0, 0x0a}, macA, NDPacket{Type: TypeNeighborSolicitation,
			Dst: SolicitedNode(ip6A), Target: ip6A}},
		{"solicited advertisement", AppendNA(nil, macB, ND(ns[EthernetLen:]), macA, FlagOverride), macA, macB,
			NDPacket{Type: TypeNeighborAdvertisement, Flags: FlagSolicited | FlagOverride,
				Src: ip6B, Dst: LinkLocal(macA), Target: ip6B, TargetLinkAddr: macB, HasTargetLinkAddr: true}},
		{"router's advertisement", AppendNA(nil, macB, ND(ns[EthernetLen:]), macA, FlagRouter), macA, macB,
			NDPacket{Type: TypeNeighborAdvertisement, Flags: FlagRouter | FlagSolicited,
				Src: ip6B, Dst: LinkLocal(macA), Target: ip6B, TargetLinkAddr: macB, HasTargetLinkAddr: true}},
		{"answer to DAD", AppendNA(nil, macB, ND(dad[EthernetLen:]), macA, FlagOverride|FlagSolicited), AllNodesMAC, macB,
			NDPacket{Type: TypeNeighborAdvertisement, Flags: FlagOverride,
				Src: ip6A, Dst: AllNodes, Target: ip6A, TargetLinkAddr: macB, HasTargetLinkAddr: true}},
		{"unsolicited advertisement", AppendUnsolicitedNA(nil, macA, ip6A, FlagOverride|FlagSolicited), AllNodesMAC, macA,
			NDPacket{Type: TypeNeighborAdvertisement, Flags: FlagOverride,
				Src: ip6A, Dst: AllNodes, Target: ip6A, TargetLinkAddr: macA, HasTargetLinkAddr: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst, src, et, ip := ethOf(t, tt.fr)
			if dst != tt.dst || src != tt.src || et != EtherTypeIPv6 {
				t.Errorf("Ethernet %x > %x type %#04x, want %x > %x type 0x86dd", src, dst, et, tt.src, tt.dst)
			}
			if len(tt.fr) > NDFrameLen {
				t.Errorf("frame of %d bytes, longer than NDFrameLen %d", len(tt.fr), NDFrameLen)
			}
			var p NDPacket
			if err := p.UnmarshalBinary(ip); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("packet (-want +got):\n%s", diff)
			}
			if again := p.Append(nil); !bytes.Equal(again, ip) {
				t.Errorf("Append of the parsed packet:\n got %x\nwant %x", again, ip)
			}
		})
	}
	if got := AppendNS([]byte{9, 9}, macA, LinkLocal(macA), ip6B); !bytes.Equal(got[2:], ns) {
		t.Errorf("after a header: %x, want 0909%x", got, ns)
	}
}

// fix recomputes the checksum of an edited packet, so that a test case
// breaks only the rule it names.
func fix(b []byte) []byte {
	if len(b) >= ndOptions {
		ND(b).fixChecksum()
	}
	return b
}

func TestNDInvalid(t *testing.T) {
	ns := AppendNS(nil, macA, LinkLocal(macA), ip6B)[EthernetLen:]
	na := AppendUnsolicitedNA(nil, macA, ip6A, FlagOverride)[EthernetLen:]
	dad := AppendNS(nil, macA, [16]byte{}, ip6A)[EthernetLen:]
	setLen := func(b []byte, n int) { binary.BigEndian.PutUint16(b[ipPayloadLen:], uint16(n)) }
	for _, tt := range []struct {
		name string
		good []byte
		edit func(b []byte) []byte
		want error
	}{
		{"empty", ns, func(b []byte) []byte { return nil }, ErrNDShort},
		{"IPv6 header only", ns, func(b []byte) []byte { return b[:IPv6Len] }, ErrNDShort},
		{"payload length past the end", ns, func(b []byte) []byte { setLen(b, 100); return b }, ErrNDShort},
		{"payload shorter than an NS", ns, func(b []byte) []byte { setLen(b, NDMsgLen-1); return b }, ErrNDShort},
		{"IPv4", ns, func(b []byte) []byte { b[0] = 0x45; return b }, ErrNDNotICMPv6},
		{"hop-by-hop header", ns, func(b []byte) []byte { b[ipNext] = 0; return b }, ErrNDNotICMPv6},
		{"UDP", ns, func(b []byte) []byte { b[ipNext] = 17; return b }, ErrNDNotICMPv6},
		{"echo request", ns, func(b []byte) []byte { b[ndType] = 128; return fix(b) }, ErrNDType},
		{"router solicitation", ns, func(b []byte) []byte { b[ndType] = 133; return fix(b) }, ErrNDType},
		{"redirect", ns, func(b []byte) []byte { b[ndType] = 137; return fix(b) }, ErrNDType},
		{"hop limit 64", ns, func(b []byte) []byte { b[ipHopLimit] = 64; return b }, ErrNDHopLimit},
		{"hop limit 254", na, func(b []byte) []byte { b[ipHopLimit] = 254; return b }, ErrNDHopLimit},
		{"code 1", ns, func(b []byte) []byte { b[ndCode] = 1; return fix(b) }, ErrNDCode},
		{"checksum", ns, func(b []byte) []byte { b[ndChecksum] ^= 1; return b }, ErrNDChecksum},
		{"target changed", na, func(b []byte) []byte { b[ndTarget+15] ^= 1; return b }, ErrNDChecksum},
		{"source address changed", na, func(b []byte) []byte { b[ipSrc+15] ^= 1; return b }, ErrNDChecksum},
		{"option of length 0", ns, func(b []byte) []byte { b[ndOptions+1] = 0; return fix(b) }, ErrNDOption},
		{"option past the end", ns, func(b []byte) []byte { b[ndOptions+1] = 2; return fix(b) }, ErrNDOption},
		{"option header cut", ns, func(b []byte) []byte { setLen(b, NDMsgLen+1); return fix(b[:ndOptions+1]) }, ErrNDOption},
		{"zero-length option after a good one", ns, func(b []byte) []byte {
			b = append(b, 14, 0, 1, 2, 3, 4, 5, 6)
			setLen(b, NDMsgLen+2*NDOptLen)
			return fix(b)
		}, ErrNDOption},
		{"multicast target", ns, func(b []byte) []byte { b[ndTarget] = 0xff; return fix(b) }, ErrNDTarget},
		{"multicast target in an NA", na, func(b []byte) []byte { copy(b[ndTarget:], AllNodes[:]); return fix(b) }, ErrNDTarget},
		{"from :: with a source link-layer option", ns, func(b []byte) []byte {
			clear(b[ipSrc : ipSrc+16])
			return fix(b)
		}, ErrNDUnspecified},
		{"from :: to a unicast address", dad, func(b []byte) []byte { copy(b[ipDst:], ip6B[:]); return fix(b) }, ErrNDUnspecified},
		{"solicited to all nodes", na, func(b []byte) []byte { b[ndFlags] |= byte(FlagSolicited); return fix(b) }, ErrNDSolicited},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(bytes.Clone(tt.good))
			if err := ND(b).Check(); err != tt.want {
				t.Errorf("Check: %v, want %v", err, tt.want)
			}
			var p NDPacket
			if err := p.UnmarshalBinary(b); err != tt.want {
				t.Errorf("UnmarshalBinary: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestNDAccepted: what RFC 4861 says a receiver must take, beyond what
// the builders write.
func TestNDAccepted(t *testing.T) {
	ns := AppendNS(nil, macA, LinkLocal(macA), ip6B)[EthernetLen:]
	for _, tt := range []struct {
		name string
		edit func(b []byte) []byte
		want NDPacket
	}{
		{"Ethernet padding after the payload", func(b []byte) []byte { return append(b, 0, 0, 0, 0) },
			ND(ns).Packet()},
		{"unknown option before the link-layer one (a nonce)", func(b []byte) []byte {
			b = append(b[:ndOptions:ndOptions], append([]byte{14, 1, 1, 2, 3, 4, 5, 6}, b[ndOptions:]...)...)
			binary.BigEndian.PutUint16(b[ipPayloadLen:], NDMsgLen+2*NDOptLen)
			return fix(b)
		}, ND(ns).Packet()},
		{"link-layer option of another length is not Ethernet's", func(b []byte) []byte {
			b[ndOptions+1] = 2
			b = append(b, make([]byte, 8)...)
			binary.BigEndian.PutUint16(b[ipPayloadLen:], NDMsgLen+2*NDOptLen)
			return fix(b)
		}, NDPacket{Type: TypeNeighborSolicitation, Src: LinkLocal(macA), Dst: SolicitedNode(ip6B), Target: ip6B}},
		{"reserved bits set", func(b []byte) []byte { b[ndFlags] = 0xff; b[ndFlags+3] = 1; return fix(b) },
			ND(ns).Packet()},
		{"no options", func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[ipPayloadLen:], NDMsgLen)
			return fix(b[:ndOptions])
		}, NDPacket{Type: TypeNeighborSolicitation, Src: LinkLocal(macA), Dst: SolicitedNode(ip6B), Target: ip6B}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(bytes.Clone(ns))
			var p NDPacket
			if err := p.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("packet (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNDSetLinkAddr rewrites the link-layer options in place: the new
// MAC reads back and the checksum is right again.
func TestNDSetLinkAddr(t *testing.T) {
	ns := ND(AppendNS(nil, macA, LinkLocal(macA), ip6B)[EthernetLen:])
	na := ND(AppendNA(nil, macA, ns, macA, FlagOverride)[EthernetLen:])
	if !ns.SetSourceLinkAddr(macB) {
		t.Fatal("SetSourceLinkAddr found no option in an NS")
	}
	if err := ns.Check(); err != nil {
		t.Errorf("NS after SetSourceLinkAddr: %v", err)
	}
	if m, ok := ns.SourceLinkAddr(); !ok || m != macB {
		t.Errorf("source link-layer address %x %v, want %x", m, ok, macB)
	}
	if ns.SetTargetLinkAddr(macB) {
		t.Error("SetTargetLinkAddr rewrote an option an NS does not have")
	}
	if !na.SetTargetLinkAddr(macB) {
		t.Fatal("SetTargetLinkAddr found no option in an NA")
	}
	if err := na.Check(); err != nil {
		t.Errorf("NA after SetTargetLinkAddr: %v", err)
	}
	if m, ok := na.TargetLinkAddr(); !ok || m != macB {
		t.Errorf("target link-layer address %x %v, want %x", m, ok, macB)
	}
	before := bytes.Clone(na)
	if na.SetSourceLinkAddr(macA) || !bytes.Equal(before, na) {
		t.Error("SetSourceLinkAddr changed an NA that has no source option")
	}
}

func TestNDAllocs(t *testing.T) {
	buf := make([]byte, 0, 2*NDFrameLen)
	ns := ND(AppendNS(nil, macA, LinkLocal(macA), ip6B)[EthernetLen:])
	na := ND(AppendUnsolicitedNA(nil, macB, ip6B, FlagOverride)[EthernetLen:])
	src := LinkLocal(macA)
	var p NDPacket
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"NS", func() { buf = AppendNS(buf[:0], macA, src, ip6B) }},
		{"NA", func() { buf = AppendNA(buf[:0], macB, ns, macA, FlagOverride) }},
		{"unsolicited NA", func() { buf = AppendUnsolicitedNA(buf[:0], macA, ip6A, FlagOverride) }},
		{"check and read", func() {
			if ns.IsValid() && ns.Type() == TypeNeighborSolicitation {
				_, _ = ns.SourceLinkAddr()
				_ = ns.Target()
			}
		}},
		{"check a bad one", func() { _ = ND(buf[:10]).Check() }},
		{"unmarshal", func() { _ = p.UnmarshalBinary(na) }},
		{"rewrite", func() { na.SetTargetLinkAddr(macA) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%v allocations", n)
			}
		})
	}
}

// TestNDTshark has Wireshark's ICMPv6 dissector read what the builders
// write: types, addresses, flags, options, and the checksum it computes
// itself.
func TestNDTshark(t *testing.T) {
	dataplanetest.Tshark(t, "-v") // skips, or fails in CI, when tshark is missing
	ns := AppendNS(nil, macA, LinkLocal(macA), ip6B)
	dad := AppendNS(nil, macA, [16]byte{}, ip6A)
	rewritten := bytes.Clone(ns)
	ND(rewritten[EthernetLen:]).SetSourceLinkAddr(macB)
	frames := [][]byte{
		ns,
		dad,
		AppendNA(nil, macB, ND(ns[EthernetLen:]), macA, FlagOverride),
		AppendNA(nil, macB, ND(dad[EthernetLen:]), macA, FlagOverride),
		AppendUnsolicitedNA(nil, macA, ip6A, FlagOverride),
		rewritten,
	}
	pcap := filepath.Join(t.TempDir(), "nd.pcap")
	dataplanetest.WritePcap(t, pcap, frames)
	out := dataplanetest.Tshark(t, "-r", pcap, "-T", "fields", "-E", "separator=,", "-E", "occurrence=f",
		"-e", "eth.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.hlim", "-e", "icmpv6.type", "-e", "icmpv6.code",
		"-e", "icmpv6.checksum.status", "-e", "icmpv6.nd.ns.target_address", "-e", "icmpv6.nd.na.target_address",
		"-e", "icmpv6.nd.na.flag.r", "-e", "icmpv6.nd.na.flag.s", "-e", "icmpv6.nd.na.flag.o",
		"-e", "icmpv6.opt.type", "-e", "icmpv6.opt.length", "-e", "icmpv6.opt.linkaddr")
	// checksum status 1 is Good; the flags are R, S, O.
	want := []string{
		"33:33:ff:02:00:03,fe80::ff:fe00:a,ff02::1:ff02:3,255,135,0,1,2001:db8::1:2:3,,,,,1,1,02:00:00:00:00:0a",
		"33:33:ff:00:00:0a,::,ff02::1:ff00:a,255,135,0,1,2001:db8::a,,,,,,,",
		"02:00:00:00:00:0a,2001:db8::1:2:3,fe80::ff:fe00:a,255,136,0,1,,2001:db8::1:2:3,0,1,1,2,1,02:00:00:00:00:0b",
		"33:33:00:00:00:01,2001:db8::a,ff02::1,255,136,0,1,,2001:db8::a,0,0,1,2,1,02:00:00:00:00:0b",
		"33:33:00:00:00:01,2001:db8::a,ff02::1,255,136,0,1,,2001:db8::a,0,0,1,2,1,02:00:00:00:00:0a",
		"33:33:ff:02:00:03,fe80::ff:fe00:a,ff02::1:ff02:3,255,135,0,1,2001:db8::1:2:3,,,,,1,1,02:00:00:00:00:0b",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(out), "\n")); diff != "" {
		t.Errorf("tshark fields (-want +got):\n%s", diff)
	}
	verbose := dataplanetest.Tshark(t, "-r", pcap, "-V")
	if n := strings.Count(verbose, "[Checksum Status: Good]"); n != len(frames) {
		t.Errorf("tshark -V says [Checksum Status: Good] %d times, want %d:\n%s", n, len(frames), verbose)
	}
	if exp := dataplanetest.Tshark(t, "-r", pcap, "-z", "expert", "-q"); strings.TrimSpace(exp) != "" {
		t.Errorf("tshark expert info:\n%s", exp)
	}
}

// FuzzND checks that Check never panics, that UnmarshalBinary agrees
// with it, that the accessors and setters of an accepted packet stay in
// bounds and keep it valid, and that a valid packet survives a round
// trip through NDPacket and Append.
func FuzzND(f *testing.F) {
	ns := AppendNS(nil, macA, LinkLocal(macA), ip6B)
	f.Add(ns[EthernetLen:])
	f.Add(AppendNS(nil, macA, [16]byte{}, ip6A)[EthernetLen:])
	f.Add(AppendNA(nil, macB, ND(ns[EthernetLen:]), macA, FlagOverride|FlagRouter)[EthernetLen:])
	f.Add(AppendUnsolicitedNA(nil, macA, ip6A, FlagOverride)[EthernetLen:])
	f.Add([]byte{})
	f.Add(ns[EthernetLen : EthernetLen+IPv6Len])
	f.Fuzz(func(t *testing.T, b []byte) {
		n := ND(b)
		err := n.Check()
		var p NDPacket
		if uerr := p.UnmarshalBinary(b); uerr != err {
			t.Fatalf("UnmarshalBinary %v, Check %v", uerr, err)
		}
		if err != nil {
			return
		}
		if q := n.Packet(); q != p {
			t.Fatalf("Packet %+v, UnmarshalBinary %+v", q, p)
		}
		built := p.Append(nil)
		var q NDPacket
		if err := q.UnmarshalBinary(built); err != nil {
			t.Fatalf("the packet appended from %+v: %v", p, err)
		}
		if q != p {
			t.Fatalf("round trip changed %+v into %+v", p, q)
		}
		c := ND(bytes.Clone(b))
		c.SetSourceLinkAddr(macB)
		c.SetTargetLinkAddr(macB)
		if err := c.Check(); err != nil {
			t.Fatalf("after rewriting the link-layer options: %v", err)
		}
	})
}

// BenchmarkNA is what rx_translation does per NS it answers: check the
// view, read it, build the advertisement into a reused buffer.
func BenchmarkNA(b *testing.B) {
	ns := AppendNS(nil, macA, LinkLocal(macA), ip6B)[EthernetLen:]
	buf := make([]byte, 0, NDFrameLen)
	b.ReportAllocs()
	for b.Loop() {
		n := ND(ns)
		if n.IsValid() && n.Type() == TypeNeighborSolicitation {
			buf = AppendNA(buf[:0], macB, n, macA, FlagOverride)
		}
	}
}
