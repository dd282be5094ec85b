//go:build linux

package afpacket

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestVLANOutOfBand: frames whose skb carries the tag beside the frame
// (what a VLAN device or VLAN-filtering bridge sends on a veth with
// tx-vlan-offload; here a tc program) arrive with the tag in the frame,
// PCP and DEI kept, through the ring (tp_vlan_tci) and beside it
// (frames over a slot: PACKET_AUXDATA).
func TestVLANOutOfBand(t *testing.T) {
	for _, tpid := range []uint16{0x8100, 0x88a8} {
		t.Run(map[uint16]string{0x8100: "802.1Q", 0x88a8: "802.1ad"}[tpid], func(t *testing.T) {
			const tci = 6<<13 | 1<<12 | 20 // PCP 6, DEI, VID 20
			a, b := pair(t)
			a.MustRun(t, "ip", "link", "set", "a0", "mtu", "9000")
			b.MustRun(t, "ip", "link", "set", "b0", "mtu", "9000")
			// The tc program sees only what goes through the qdisc layer.
			pa := openIn(t, a, "a0", Options{NoQdiscBypass: true})
			pb := openIn(t, b, "b0", Options{})
			nstest.PushVLAN(t, a, "a0", tpid, tci)
			const magic = 0x00b
			var sent, want [][]byte
			for i, size := range []int{60, 1000, 1514, 4000, 9014, 61} {
				f := testFrame(pb.MAC(), pa.MAC(), magic, uint32(i), size)
				sent = append(sent, f)
				want = append(want, testFrame(pb.MAC(), pa.MAC(), magic, uint32(i), size+4, tag{tpid, tci}))
				// testFrame fills the payload by offset: build the
				// expectation from the sent frame instead.
				w := want[i]
				copy(w[dataplane.VnetHdrLen+16:], f[dataplane.VnetHdrLen+12:])
			}
			writeAll(t, pa, sent)
			got := collectOrdered(t, pb, magic, len(want), 5*time.Second)
			for i, w := range want {
				if !bytes.Equal(got[i], w) {
					t.Errorf("frame %d (%d bytes):\n got %x\nwant %x", i, len(w), got[i][:min(40, len(got[i]))], w[:40])
				}
			}
			if st := pb.Stats(); st.Copied != 2 {
				t.Errorf("b0 stats %+v: want Copied 2 (frames over a slot)", st)
			}
		})
	}
}

// TestVLANOutOfBandGSO: a TCP super-frame with a partial checksum whose
// tag the kernel holds out of band arrives whole, tagged in the frame,
// with csum_start and hdr_len moved on by the tag, so that completing
// the checksum where the header says gives a valid segment.
func TestVLANOutOfBandGSO(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{NoQdiscBypass: true})
	pb := openIn(t, b, "b0", Options{})
	const tci = 3<<13 | 100
	nstest.PushVLAN(t, a, "a0", 0x8100, tci)
	const mss, segs = 1448, 10
	payload := make([]byte, mss*segs)
	rand.NewChaCha8([32]byte{4}).Read(payload)
	// An untagged super-frame: the tc program adds the tag beside it.
	tagged := tcpSuperFrame(pb.MAC(), pa.MAC(), tag{0x8100, tci}, mss, payload)
	plain := append(append([]byte{}, tagged[:dataplane.VnetHdrLen+12]...), tagged[dataplane.VnetHdrLen+16:]...)
	h := dataplane.DecodeVnetHdr(plain)
	h.HdrLen -= 4
	h.CsumStart -= 4
	h.Encode(plain)
	writeAll(t, pa, [][]byte{plain})

	got := readTCP(t, pb, len(payload), 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("got %d frames, want the super-frame whole", len(got))
	}
	fr := got[0]
	eth := dataplane.Eth(fr)
	if tpid, c := binary.BigEndian.Uint16(eth[12:]), binary.BigEndian.Uint16(eth[14:]); tpid != 0x8100 || c != tci {
		t.Fatalf("tag %#04x %#04x, want 0x8100 %#04x", tpid, c, tci)
	}
	gh := dataplane.DecodeVnetHdr(fr)
	if gh.GSOType != dataplane.VnetGSOTCPv4 || gh.GSOSize != mss || gh.CsumStart != 18+20 || gh.CsumOffset != 16 {
		t.Errorf("header %+v: want TCPv4 GSO of %d, csum_start 38 (after the tag), csum_offset 16", gh, mss)
	}
	if gh.HdrLen != 0 && gh.HdrLen < 18+20+20 {
		t.Errorf("header %+v: hdr_len %d short of the tagged headers (58)", gh, gh.HdrLen)
	}
	s, o := int(gh.CsumStart), int(gh.CsumStart+gh.CsumOffset)
	binary.BigEndian.PutUint16(eth[o:], ^fold(sum(eth[s:], 0)))
	if err := checkTCP(eth[18:]); err != nil {
		t.Fatalf("%+v: %v", gh, err)
	}
	if !bytes.Equal(eth[18+40:], payload) {
		t.Error("payload differs")
	}
	t.Logf("received header %+v", gh)
}
