package lbemu

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

var (
	macIn     = frame.MAC{0x02, 0, 0, 0, 0x0b, 0x01} // router, inside
	macOut    = frame.MAC{0x02, 0, 0, 0, 0x0b, 0x02} // router, outside
	macVM     = frame.MAC{0x02, 0, 0, 0, 0x00, 0x10}
	macMember = frame.MAC{0x02, 0, 0, 0, 0x01, 0x02} // a team member's MAC
	macClient = frame.MAC{0x02, 0, 0, 0, 0x0c, 0x10}
	macRouter = frame.MAC{0x02, 0, 0, 0, 0x0d, 0x01}

	ipIn     = netip.MustParseAddr("10.1.0.1")
	ipVM     = netip.MustParseAddr("10.1.0.10")
	ipOut    = netip.MustParseAddr("10.2.0.1")
	ipClient = netip.MustParseAddr("10.2.0.10")
	ipGW     = netip.MustParseAddr("10.1.0.254")
	ipFar    = netip.MustParseAddr("10.9.0.7")
)

// nullPort is a port nobody reads: the tests call handle directly.
type nullPort struct{}

func (nullPort) Read([]byte) (int, error)    { select {} }
func (nullPort) Write(b []byte) (int, error) { return len(b), nil }
func (nullPort) Close() error                { return nil }

func testRouter(t *testing.T, lastHop bool) *Router {
	t.Helper()
	r, err := newRouter(Config{
		Inside:  Interface{Name: "in0", Addr: netip.MustParsePrefix("10.1.0.1/24")},
		Outside: Interface{Name: "out0", Addr: netip.MustParsePrefix("10.2.0.1/24")},
		Routes:  []Route{{Dst: netip.MustParsePrefix("10.9.0.0/16"), Via: ipGW}},
		LastHop: lastHop,
	}, &iface{mac: macIn, mtu: 1500, port: nullPort{}}, &iface{mac: macOut, mtu: 1500, port: nullPort{}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	return r
}

// tcpFrame builds an Ethernet/IPv4/TCP frame with a correct IP checksum.
func tcpFrame(dst, src frame.MAC, sip, dip netip.Addr, sport, dport uint16, ttl uint8) []byte {
	fr := make([]byte, 14+20+20)
	copy(fr[0:6], dst[:])
	copy(fr[6:12], src[:])
	binary.BigEndian.PutUint16(fr[12:14], etherTypeIPv4)
	ip := fr[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], 40)
	ip[8], ip[9] = ttl, protoTCP
	s, d := sip.As4(), dip.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip[:20]))
	binary.BigEndian.PutUint16(ip[20:22], sport)
	binary.BigEndian.PutUint16(ip[22:24], dport)
	ip[33] = 0x02 // SYN
	return fr
}

func arpFrame(op neigh.Op, sha frame.MAC, spa, tpa netip.Addr, ethSrc frame.MAC) []byte {
	return neigh.AppendFrame(nil, frame.Broadcast, ethSrc, &neigh.Packet{Op: op, SenderMAC: sha, SenderIP: spa.As4(), TargetIP: tpa.As4()})
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		if i == 10 {
			continue
		}
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// sent summarises an output frame.
type sent struct {
	Side     Side
	Dst, Src string
	TTL      uint8
	ARP      bool
}

func summarise(t *testing.T, out []output) []sent {
	t.Helper()
	var got []sent
	for _, o := range out {
		s := sent{Side: o.side, Dst: frame.MAC(o.frame[0:6]).String(), Src: frame.MAC(o.frame[6:12]).String()}
		if binary.BigEndian.Uint16(o.frame[12:14]) == etherTypeARP {
			s.ARP = true
		} else {
			ip := o.frame[14:]
			s.TTL = ip[8]
			if want := ipChecksum(ip[:20]); binary.BigEndian.Uint16(ip[10:12]) != want {
				t.Errorf("bad IPv4 checksum %#04x, want %#04x", binary.BigEndian.Uint16(ip[10:12]), want)
			}
		}
		got = append(got, s)
	}
	return got
}

// TestLastHop: the SYN opened by a team member's MAC gets its SYN-ACK
// sent to that MAC with the feature on, and to the VM's (by ARP) with it
// off, although the ARP request carried the member's MAC as Ethernet
// source too.
func TestLastHop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lastHop bool
		wantDst frame.MAC
	}{
		{"on", true, macMember},
		{"off", false, macVM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRouter(t, tc.lastHop)
			// The VM resolves its gateway; the team rewrote the Ethernet
			// source, not the ARP sender.
			if out := r.handle(Inside, arpFrame(neigh.OpRequest, macVM, ipVM, ipIn, macMember), nil); len(out) != 0 {
				t.Fatalf("ARP request produced output: %v", summarise(t, out))
			}
			// The SYN, sent by the VM out of the second member.
			out := r.handle(Inside, tcpFrame(macIn, macMember, ipVM, ipClient, 40001, 7000, 64), nil)
			if diff := cmp.Diff([]sent{{Side: Outside, Dst: "ff:ff:ff:ff:ff:ff", Src: macOut.String(), ARP: true}}, summarise(t, out)); diff != "" {
				t.Fatalf("SYN to an unresolved client (-want +got):\n%s", diff)
			}
			out = r.handle(Outside, arpFrame(neigh.OpReply, macClient, ipClient, ipOut, macClient), nil)
			if diff := cmp.Diff([]sent{{Side: Outside, Dst: macClient.String(), Src: macOut.String(), TTL: 63}}, summarise(t, out)); diff != "" {
				t.Fatalf("SYN after ARP reply (-want +got):\n%s", diff)
			}
			// The SYN-ACK.
			out = r.handle(Outside, tcpFrame(macOut, macClient, ipClient, ipVM, 7000, 40001, 64), nil)
			if diff := cmp.Diff([]sent{{Side: Inside, Dst: tc.wantDst.String(), Src: macIn.String(), TTL: 63}}, summarise(t, out)); diff != "" {
				t.Fatalf("SYN-ACK (-want +got):\n%s", diff)
			}
			st := r.Stats()
			if tc.lastHop {
				want := Stats{LastHop: true, FromInside: 1, FromOutside: 1, ToLastHop: 1, Routed: 1, Connections: 1,
					LastHopMACs: map[string]uint64{macMember.String(): 1}, Openers: map[string]uint64{macMember.String(): 1},
					Conns: []Conn{{Proto: protoTCP, Src: netip.AddrPortFrom(ipVM, 40001), Dst: netip.AddrPortFrom(ipClient, 7000),
						Side: "inside", LastHop: macMember.String(), Returned: 1}},
					InsideMACs:  map[string]uint64{macMember.String(): 1},
					ARPRequests: 1, ARPLearned: 2}
				if diff := cmp.Diff(want, st, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
					t.Errorf("stats (-want +got):\n%s", diff)
				}
			} else if st.ToLastHop != 0 || st.Routed != 2 || st.Connections != 0 {
				t.Errorf("stats with the feature off: %+v", st)
			}
		})
	}
}

// TestRetransmitKeepsLastHop: a retransmitted SYN from the VM's own MAC
// does not repair a connection opened from another MAC.
func TestRetransmitKeepsLastHop(t *testing.T) {
	r := testRouter(t, true)
	r.arp[ipClient.As4()] = arpEntry{mac: macClient, side: Outside, expires: r.now().Add(time.Hour)}
	r.handle(Inside, tcpFrame(macIn, macMember, ipVM, ipClient, 40001, 7000, 64), nil)
	r.handle(Inside, tcpFrame(macIn, macVM, ipVM, ipClient, 40001, 7000, 64), nil)
	out := r.handle(Outside, tcpFrame(macOut, macClient, ipClient, ipVM, 7000, 40001, 64), nil)
	if got := summarise(t, out); len(got) != 1 || got[0].Dst != macMember.String() {
		t.Fatalf("SYN-ACK went to %v, want the opener's MAC %v", got, macMember)
	}
}

func TestRouting(t *testing.T) {
	r := testRouter(t, true)
	exp := r.now().Add(time.Hour)
	r.arp[ipClient.As4()] = arpEntry{mac: macClient, side: Outside, expires: exp}
	r.arp[ipGW.As4()] = arpEntry{mac: macRouter, side: Inside, expires: exp}
	for _, tc := range []struct {
		name string
		side Side
		fr   []byte
		want []sent
	}{
		{"via a route's gateway", Outside, tcpFrame(macOut, macClient, ipClient, ipFar, 1, 2, 9),
			[]sent{{Side: Inside, Dst: macRouter.String(), Src: macIn.String(), TTL: 8}}},
		{"TTL 1 is dropped", Inside, tcpFrame(macIn, macVM, ipVM, ipClient, 3, 4, 1), nil},
		{"no route", Inside, tcpFrame(macIn, macVM, ipVM, netip.MustParseAddr("192.0.2.1"), 3, 4, 64), nil},
		{"for the box itself", Inside, tcpFrame(macIn, macVM, ipVM, ipOut, 3, 4, 64), nil},
		{"for another MAC", Inside, tcpFrame(macClient, macVM, ipVM, ipClient, 3, 4, 64), nil},
		{"short", Inside, tcpFrame(macIn, macVM, ipVM, ipClient, 3, 4, 64)[:30], nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, summarise(t, r.handle(tc.side, tc.fr, nil))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if st := r.Stats(); st.TTLExpired != 1 || st.NoRoute != 1 || st.Malformed != 1 {
		t.Errorf("drop counters: %+v", st)
	}
}

func TestARPGivesUp(t *testing.T) {
	r := testRouter(t, false)
	now := r.now()
	r.now = func() time.Time { return now }
	out := r.handle(Inside, tcpFrame(macIn, macVM, ipVM, ipClient, 3, 4, 64), nil)
	requests := len(out)
	for i := 0; i < 10; i++ {
		now = now.Add(arpRetry)
		r.tick()
	}
	st := r.Stats()
	if requests != 1 || st.ARPRequests != arpTries || st.Unresolved != 1 || len(r.pending) != 0 {
		t.Errorf("first output %d frames; after retries: %d requests, %d unresolved, %d pending",
			requests, st.ARPRequests, st.Unresolved, len(r.pending))
	}
}

// TestVnetHeader: with virtio-net headers on the ports, a GSO super-frame
// longer than the MTU is forwarded with its header untouched, a plain
// frame that long is dropped, and the Router's own ARP requests carry an
// all-zero header.
func TestVnetHeader(t *testing.T) {
	r, err := newRouter(Config{
		Inside:  Interface{Name: "in0", Addr: netip.MustParsePrefix("10.1.0.1/24")},
		Outside: Interface{Name: "out0", Addr: netip.MustParsePrefix("10.2.0.1/24")},
		LastHop: true,
	}, &iface{mac: macIn, mtu: 1500, port: nullPort{}, vnet: true}, &iface{mac: macOut, mtu: 1500, port: nullPort{}, vnet: true})
	if err != nil {
		t.Fatal(err)
	}
	// A TSO super-frame as a veth with offloads hands it up: 2 MSS of
	// payload, L4 checksum left to the device.
	super := func(gsoType uint8) []byte {
		fr := tcpFrame(macIn, macVM, ipVM, ipClient, 40001, 7000, 64)
		fr = append(fr, make([]byte, 2*1448)...)
		ip := fr[14:]
		binary.BigEndian.PutUint16(ip[2:4], uint16(len(ip)))
		binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip[:20]))
		hdr := make([]byte, dataplane.VnetHdrLen)
		dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, GSOType: gsoType, HdrLen: 54, GSOSize: 1448,
			CsumStart: 34, CsumOffset: 16}.Encode(hdr)
		return append(hdr, fr...)
	}
	out := r.handle(Inside, super(dataplane.VnetGSOTCPv4), nil)
	if len(out) != 1 || binary.BigEndian.Uint16(out[0].frame[dataplane.VnetHdrLen+12:]) != etherTypeARP {
		t.Fatalf("want only an ARP request for the client (the frame waits), got %d outputs", len(out))
	}
	if !bytes.Equal(out[0].frame[:dataplane.VnetHdrLen], make([]byte, dataplane.VnetHdrLen)) {
		t.Errorf("ARP request header %x, want zeros", out[0].frame[:dataplane.VnetHdrLen])
	}
	r.mu.Lock()
	r.arp[ipClient.As4()] = arpEntry{mac: macClient, side: Outside, expires: r.now().Add(time.Hour)}
	r.mu.Unlock()
	in := super(dataplane.VnetGSOTCPv4)
	want := append([]byte(nil), in...)
	out = r.handle(Inside, in, nil)
	if len(out) != 1 {
		t.Fatalf("super-frame: %d outputs, want 1", len(out))
	}
	got := out[0].frame
	if !bytes.Equal(got[:dataplane.VnetHdrLen], want[:dataplane.VnetHdrLen]) {
		t.Errorf("header %x, want it untouched: %x", got[:dataplane.VnetHdrLen], want[:dataplane.VnetHdrLen])
	}
	eth := got[dataplane.VnetHdrLen:]
	if frame.MAC(eth[0:6]) != macClient || frame.MAC(eth[6:12]) != macOut || eth[22] != 63 ||
		binary.BigEndian.Uint16(eth[24:26]) != ipChecksum(eth[14:34]) {
		t.Errorf("forwarded super-frame: dst %v src %v TTL %d", frame.MAC(eth[0:6]), frame.MAC(eth[6:12]), eth[22])
	}
	if !bytes.Equal(eth[34:], want[dataplane.VnetHdrLen+34:]) {
		t.Error("TCP header or payload changed")
	}
	if out := r.handle(Inside, super(dataplane.VnetGSONone), nil); len(out) != 0 {
		t.Errorf("a plain frame over the MTU was forwarded")
	}
	if st := r.Stats(); st.GSO != 2 || st.TooBig != 1 {
		t.Errorf("GSO %d, too big %d; want 2, 1", st.GSO, st.TooBig)
	}
}

func TestUpdateChecksum(t *testing.T) {
	for ttl := 1; ttl < 256; ttl++ {
		fr := tcpFrame(macIn, macVM, ipVM, ipClient, 1, 2, uint8(ttl))
		ip := fr[14:34]
		decrementTTL(ip)
		if got, want := binary.BigEndian.Uint16(ip[10:12]), ipChecksum(ip); got != want {
			t.Fatalf("TTL %d: incremental checksum %#04x, recomputed %#04x", ttl, got, want)
		}
	}
}

func TestICMPEchoKey(t *testing.T) {
	req := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, protoICMP, 0, 0, 10, 1, 0, 10, 10, 2, 0, 10, 8, 0, 0, 0, 0x12, 0x34, 0, 1}
	rep := append([]byte(nil), req...)
	copy(rep[12:16], req[16:20])
	copy(rep[16:20], req[12:16])
	rep[20] = 0
	if k, kr := keyOf(req, 20), keyOf(rep, 20); k != kr.reverse() {
		t.Errorf("echo request key %+v is not the reverse of the reply's %+v", k, kr)
	}
}

// FuzzHandle feeds arbitrary frames to both sides: no panic.
func FuzzHandle(f *testing.F) {
	f.Add(tcpFrame(macIn, macVM, ipVM, ipClient, 1, 2, 64), false)
	f.Add(arpFrame(neigh.OpReply, macClient, ipClient, ipOut, macClient), true)
	f.Fuzz(func(t *testing.T, b []byte, outside bool) {
		r := testRouter(t, true)
		s := Inside
		if outside {
			s = Outside
		}
		r.handle(s, b, nil)
	})
}
