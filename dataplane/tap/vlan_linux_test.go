//go:build linux

package tap

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/afpacket"
	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

const vlanTCI = 5<<13 | 1<<12 | 30 // PCP 5, DEI, VID 30

// superFrame returns a TCP/IPv4 super-frame (tagged with tci unless
// tci < 0) carrying payload, its checksum partial, to be cut into
// mss-byte segments, as a stack hands it to a device with TSO.
func superFrame(dst, src [6]byte, tci int, mss int, payload []byte) []byte {
	l2 := 14
	if tci >= 0 {
		l2 = 18
	}
	f := make([]byte, dataplane.VnetHdrLen+l2+40+len(payload))
	dataplane.VnetHdr{
		Flags: dataplane.VnetFlagNeedsCsum, GSOType: dataplane.VnetGSOTCPv4,
		HdrLen: uint16(l2 + 40), GSOSize: uint16(mss), CsumStart: uint16(l2 + 20), CsumOffset: 16,
	}.Encode(f)
	eth := dataplane.Eth(f)
	copy(eth[0:], dst[:])
	copy(eth[6:], src[:])
	if tci >= 0 {
		binary.BigEndian.PutUint16(eth[12:], 0x8100)
		binary.BigEndian.PutUint16(eth[14:], uint16(tci))
	}
	binary.BigEndian.PutUint16(eth[l2-2:], 0x0800)
	ip := eth[l2:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	binary.BigEndian.PutUint16(ip[6:], 0x4000)
	copy(ip[12:], []byte{10, 9, 0, 1, 10, 9, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:20], 0)))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12], tcp[13] = 5<<4, 0x18
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[20:], payload)
	binary.BigEndian.PutUint16(tcp[16:], fold(sum(ip[12:20], 6+uint32(20+len(payload)))))
	return f
}

// checkSuper checks that fr is the tagged super-frame of payload, its
// header's offsets counted from the frame start with the tag in it, and
// that completing the checksum at csum_start gives a valid TCP segment.
func checkSuper(t *testing.T, fr []byte, mss int, payload []byte) {
	t.Helper()
	eth := dataplane.Eth(fr)
	if len(eth) != 18+40+len(payload) {
		t.Fatalf("%d bytes, want the %d-byte tagged super-frame", len(eth), 18+40+len(payload))
	}
	if tpid, tci := binary.BigEndian.Uint16(eth[12:]), binary.BigEndian.Uint16(eth[14:]); tpid != 0x8100 || tci != vlanTCI {
		t.Fatalf("tag %#04x %#04x, want 0x8100 %#04x", tpid, tci, vlanTCI)
	}
	h := dataplane.DecodeVnetHdr(fr)
	t.Logf("header %+v", h)
	if h.GSOType&^dataplane.VnetGSOECN != dataplane.VnetGSOTCPv4 || int(h.GSOSize) != mss || h.CsumStart != 38 || h.CsumOffset != 16 {
		t.Errorf("header %+v: want TCPv4 GSO of %d, csum_start 38 (after the tag), csum_offset 16", h, mss)
	}
	s, o := int(h.CsumStart), int(h.CsumStart+h.CsumOffset)
	binary.BigEndian.PutUint16(eth[o:], ^fold(sum(eth[s:], 0)))
	ip := eth[18:]
	if c := fold(sum(ip[:20], 0)); c != 0xffff {
		t.Errorf("bad IPv4 header checksum")
	}
	if c := fold(sum(ip[20:], sum(ip[12:20], 6+uint32(len(ip)-20)))); c != 0xffff {
		t.Errorf("bad TCP checksum")
	}
	if !bytes.Equal(ip[40:], payload) {
		t.Error("payload differs")
	}
}

// sum and fold are the one's-complement checksum arithmetic.
var sum, fold = dataplanetest.Sum, dataplanetest.Fold

// tagFrame returns a 200-byte test frame with id in its payload, tagged
// with tci unless tci < 0.
func tagFrame(dst, src [6]byte, id byte, tci int) []byte {
	f := make([]byte, dataplane.VnetHdrLen+200)
	e := dataplane.Eth(f)
	copy(e[0:], dst[:])
	copy(e[6:], src[:])
	o := 12
	if tci >= 0 {
		binary.BigEndian.PutUint16(e[12:], 0x8100)
		binary.BigEndian.PutUint16(e[14:], uint16(tci))
		o = 16
	}
	binary.BigEndian.PutUint16(e[o:], 0x88b5)
	for i := o + 2; i < len(e); i++ {
		e[i] = id
	}
	return f
}

// hostPort opens an AF_PACKET Port on the TAP's host side, through the
// qdisc layer so that a tc program on the TAP sees what it sends.
func hostPort(t *testing.T, ns *nstest.NS, dev string) *afpacket.Port {
	t.Helper()
	var p *afpacket.Port
	if err := ns.Do(func() (err error) {
		p, err = afpacket.Open(dev, afpacket.Options{NoQdiscBypass: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// readN reads frames of EtherType 0x88b5 or IPv4 (after a tag) from
// read until it has n, or fails after timeout.
func readN(t *testing.T, read func([][]byte, []int) (int, error), closer func(), n int) [][]byte {
	t.Helper()
	wd := time.AfterFunc(5*time.Second, closer)
	defer wd.Stop()
	frames, sizes := newBatch()
	var got [][]byte
	for len(got) < n {
		m, err := read(frames, sizes)
		if err != nil {
			t.Fatalf("got %d of %d frames: %v", len(got), n, err)
		}
		for i := range m {
			e := dataplane.Eth(frames[i][:sizes[i]])
			if len(e) > 18 && binary.BigEndian.Uint16(e[12:]) == 0x8100 {
				if et := binary.BigEndian.Uint16(e[16:]); et == 0x88b5 || et == 0x0800 {
					got = append(got, bytes.Clone(frames[i][:sizes[i]]))
				}
			}
		}
	}
	return got
}

// TestVLANRead: frames the host stack sends on the TAP with the tag held
// beside the frame (a VLAN device on the TAP, which offers
// tx-vlan-offload; here a tc program) reach Read with the tag in the
// frame, and a super-frame's header counts csum_start from the tagged
// frame's start (the kernel does both: tun_put_user). Its hdr_len is the
// kernel's skb_headlen, not moved by the tag: only a hint, which Linux
// raises itself where it matters (packet_snd_vnet_parse, tun_get_user).
func TestVLANRead(t *testing.T) {
	ns := newNS(t, "vlr")
	p := createIn(t, ns, "tapv", tapMAC)
	host := hostPort(t, ns, "tapv")
	nstest.PushVLAN(t, ns, "tapv", 0x8100, vlanTCI)
	const mss = 1448
	payload := make([]byte, mss*8)
	rand.NewChaCha8([32]byte{7}).Read(payload)
	sent := [][]byte{tagFrame(peerMAC, tapMAC, 1, -1), superFrame(peerMAC, tapMAC, -1, mss, payload), tagFrame(peerMAC, tapMAC, 2, -1)}
	if n, err := host.Write(sent); err != nil || n != len(sent) {
		t.Fatalf("host write: %d, %v", n, err)
	}
	got := readN(t, p.Read, func() { p.Close() }, 3)
	for i, id := range []byte{1, 0, 2} {
		if id == 0 {
			checkSuper(t, got[i], mss, payload)
			continue
		}
		// The sent frame with the tag after the MACs.
		u := sent[i]
		w := append(append(append([]byte{}, u[:dataplane.VnetHdrLen+12]...), 0x81, 0, vlanTCI>>8, vlanTCI&0xff), u[dataplane.VnetHdrLen+12:]...)
		if !bytes.Equal(got[i], w) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, got[i], w)
		}
	}
}

// TestVLANWrite: tagged frames and a tagged super-frame written to the
// TAP enter the host stack with their tag: an AF_PACKET reader on the TAP
// gets them back the same, the super-frame whole.
func TestVLANWrite(t *testing.T) {
	ns := newNS(t, "vlw")
	p := createIn(t, ns, "tapw", tapMAC)
	host := hostPort(t, ns, "tapw")
	const mss = 1448
	payload := make([]byte, mss*8)
	rand.NewChaCha8([32]byte{8}).Read(payload)
	sent := [][]byte{tagFrame(tapMAC, peerMAC, 1, vlanTCI), superFrame(tapMAC, peerMAC, vlanTCI, mss, payload), tagFrame(tapMAC, peerMAC, 2, 0)}
	if n, err := p.Write(sent); err != nil || n != len(sent) {
		t.Fatalf("tap write: %d, %v", n, err)
	}
	got := readN(t, host.Read, func() { host.Close() }, 3)
	for i, w := range sent {
		if i == 1 {
			checkSuper(t, got[i], mss, payload)
			continue
		}
		if !bytes.Equal(got[i], w) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, got[i], w)
		}
	}
}
