package neigh

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
)

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
	ipA  = [4]byte{192, 0, 2, 1}
	ipB  = [4]byte{192, 0, 2, 254}
)

// unhex decodes a frame written as hex with spaces between fields.
func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const zeros18 = "000000000000000000000000000000000000"

// TestBuilders compares each builder's frame with the bytes RFC 826 and
// RFC 903 lay out, field by field.
func TestBuilders(t *testing.T) {
	req := AppendRequest(nil, macA, ipA, ipB)
	for _, tt := range []struct {
		name string
		got  []byte
		want string // dst src type | htype ptype hlen plen op sha spa tha tpa | padding
	}{
		{"request", req,
			"ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a c0000201 000000000000 c00002fe " + zeros18},
		{"probe", AppendRequest(nil, macA, [4]byte{}, ipB),
			"ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a 00000000 000000000000 c00002fe " + zeros18},
		{"reply", AppendReply(nil, macB, ARP(req[EthernetLen:])),
			"02000000000a 02000000000b 0806 0001 0800 06 04 0002 02000000000b c00002fe 02000000000a c0000201 " + zeros18},
		{"gratuitous", AppendGratuitous(nil, macA, ipA),
			"ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a c0000201 000000000000 c0000201 " + zeros18},
		{"rarp", AppendRARP(nil, macA),
			"ffffffffffff 02000000000a 8035 0001 0800 06 04 0003 02000000000a 00000000 02000000000a 00000000 " + zeros18},
		{"after a header", AppendGratuitous([]byte{9, 9}, macA, ipA),
			"0909 ffffffffffff 02000000000a 0806 0001 0800 06 04 0001 02000000000a c0000201 000000000000 c0000201 " + zeros18},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if want := unhex(t, tt.want); !bytes.Equal(tt.got, want) {
				t.Errorf("got  %x\nwant %x", tt.got, want)
			}
		})
	}
}

func TestView(t *testing.T) {
	a := ARP(AppendRequest(nil, macA, ipA, ipB)[EthernetLen:])
	if !a.IsValid() {
		t.Fatal("a built request is not valid")
	}
	want := Packet{Op: OpRequest, SenderMAC: macA, SenderIP: ipA, TargetIP: ipB}
	if diff := cmp.Diff(want, a.Packet()); diff != "" {
		t.Errorf("Packet (-want +got):\n%s", diff)
	}
	if a.IsGratuitous() {
		t.Error("a request for another host is gratuitous")
	}
	if g := ARP(AppendGratuitous(nil, macA, ipA)[EthernetLen:]); !g.IsGratuitous() {
		t.Error("a gratuitous ARP is not")
	}
	a.SetSenderMAC(macB)
	a.SetTargetMAC(macA)
	if a.SenderMAC() != macB || a.TargetMAC() != macA || a.SenderIP() != ipA || a.TargetIP() != ipB {
		t.Errorf("after the setters: %+v", a.Packet())
	}
}

func TestInvalid(t *testing.T) {
	good := AppendRequest(nil, macA, ipA, ipB)[EthernetLen:]
	for _, tt := range []struct {
		name string
		edit func(b []byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"short", func(b []byte) []byte { return b[:ARPLen-1] }},
		{"token ring", func(b []byte) []byte { b[1] = 6; return b }},
		{"IPv6 protocol", func(b []byte) []byte { b[2], b[3] = 0x86, 0xdd; return b }},
		{"hardware length 8", func(b []byte) []byte { b[4] = 8; return b }},
		{"protocol length 16", func(b []byte) []byte { b[5] = 16; return b }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.edit(bytes.Clone(good))
			if ARP(b).IsValid() {
				t.Error("IsValid accepted it")
			}
			var p Packet
			if err := p.UnmarshalBinary(b); err != ErrNotARP {
				t.Errorf("UnmarshalBinary: %v, want ErrNotARP", err)
			}
		})
	}
}

func TestAllocs(t *testing.T) {
	buf := make([]byte, 0, 2*FrameLen)
	req := ARP(AppendRequest(nil, macA, ipA, ipB)[EthernetLen:])
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"request", func() { buf = AppendRequest(buf[:0], macA, ipA, ipB) }},
		{"reply", func() { buf = AppendReply(buf[:0], macB, req) }},
		{"gratuitous", func() { buf = AppendGratuitous(buf[:0], macA, ipA) }},
		{"rarp", func() { buf = AppendRARP(buf[:0], macA) }},
		{"view", func() {
			if req.IsValid() && req.Op() == OpRequest {
				req.SetSenderMAC(req.SenderMAC())
				_ = req.TargetIP()
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%v allocations", n)
			}
		})
	}
}

// TestTshark has Wireshark's ARP dissector read what the builders write.
func TestTshark(t *testing.T) {
	dataplanetest.Tshark(t, "-v") // skips, or fails in CI, when tshark is missing
	req := AppendRequest(nil, macA, ipA, ipB)
	frames := [][]byte{
		req,
		AppendReply(nil, macB, ARP(req[EthernetLen:])),
		AppendGratuitous(nil, macA, ipA),
		AppendRARP(nil, macA),
		AppendRequest(nil, macA, [4]byte{}, ipB),
	}
	pcap := filepath.Join(t.TempDir(), "arp.pcap")
	dataplanetest.WritePcap(t, pcap, frames)
	out := dataplanetest.Tshark(t, "-r", pcap, "-T", "fields", "-E", "separator=,",
		"-e", "eth.type", "-e", "arp.opcode", "-e", "arp.src.hw_mac", "-e", "arp.src.proto_ipv4",
		"-e", "arp.dst.hw_mac", "-e", "arp.dst.proto_ipv4", "-e", "arp.isgratuitous", "-e", "arp.isprobe")
	want := []string{
		"0x0806,1,02:00:00:00:00:0a,192.0.2.1,00:00:00:00:00:00,192.0.2.254,,",
		"0x0806,2,02:00:00:00:00:0b,192.0.2.254,02:00:00:00:00:0a,192.0.2.1,,",
		"0x0806,1,02:00:00:00:00:0a,192.0.2.1,00:00:00:00:00:00,192.0.2.1,1,",
		"0x8035,3,02:00:00:00:00:0a,0.0.0.0,02:00:00:00:00:0a,0.0.0.0,,",
		"0x0806,1,02:00:00:00:00:0a,0.0.0.0,00:00:00:00:00:00,192.0.2.254,,1",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(out), "\n")); diff != "" {
		t.Errorf("tshark fields (-want +got):\n%s", diff)
	}
	if exp := dataplanetest.Tshark(t, "-r", pcap, "-z", "expert", "-q"); strings.TrimSpace(exp) != "" {
		t.Errorf("tshark expert info:\n%s", exp)
	}
}

// FuzzARP checks that the view never panics once IsValid accepts, that
// UnmarshalBinary agrees with IsValid, and that a valid packet survives
// a round trip through Packet and AppendFrame.
func FuzzARP(f *testing.F) {
	req := AppendRequest(nil, macA, ipA, ipB)
	f.Add(req[EthernetLen:])
	f.Add(AppendReply(nil, macB, ARP(req[EthernetLen:]))[EthernetLen:])
	f.Add(AppendRARP(nil, macA)[EthernetLen:])
	f.Add([]byte{})
	f.Add(req[EthernetLen : EthernetLen+ARPLen-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		a := ARP(b)
		var p Packet
		err := p.UnmarshalBinary(b)
		if (err == nil) != a.IsValid() {
			t.Fatalf("UnmarshalBinary %v, IsValid %v", err, a.IsValid())
		}
		if err != nil {
			return
		}
		fr := AppendFrame(nil, Broadcast, p.SenderMAC, &p)
		if len(fr) != FrameLen {
			t.Fatalf("frame of %d bytes, want %d", len(fr), FrameLen)
		}
		if got := fr[EthernetLen : EthernetLen+ARPLen]; !bytes.Equal(got, b[:ARPLen]) {
			t.Fatalf("round trip changed %x into %x", b[:ARPLen], got)
		}
	})
}

// BenchmarkReply is what rx_translation does per ARP request it answers:
// check the view, read it, build the reply into a reused buffer.
func BenchmarkReply(b *testing.B) {
	req := AppendRequest(nil, macA, ipA, ipB)[EthernetLen:]
	buf := make([]byte, 0, FrameLen)
	b.ReportAllocs()
	for b.Loop() {
		a := ARP(req)
		if a.IsValid() && a.Op() == OpRequest && !a.IsGratuitous() {
			buf = AppendReply(buf[:0], macB, a)
		}
	}
}
