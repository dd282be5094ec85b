//go:build linux

package afxdp

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/afpacket"
	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// withTag returns frame with the tag (tpid, tci) put in after the MACs.
func withTag(frame []byte, tpid, tci uint16) []byte {
	const m = dataplane.VnetHdrLen + 12
	out := append([]byte{}, frame[:m]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, frame[m:]...)
}

// writePacket writes frames on the AF_PACKET port p.
func writePacket(t *testing.T, p *afpacket.Port, frames [][]byte) {
	t.Helper()
	if n, err := p.Write(frames); err != nil || n != len(frames) {
		t.Fatalf("%s: write: %d of %d accepted: %v", p.Name(), n, len(frames), err)
	}
}

// TestVLANReceive: a tagged frame reaches the socket with its tag in the
// frame, PCP and DEI bits included, whether the sender put the tag in the
// frame (it stays there up to XDP) or beside it in the skb (a VLAN device
// or VLAN-filtering bridge sending on a veth with tx-vlan-offload, here a
// tc program: veth holds it out of band, and the device-bound XDP program
// of driver mode hands it over in the metadata). Tagged and untagged
// frames alternate through a small UMEM, so each UMEM frame is reused
// with and without metadata: no frame inherits a stale tag.
func TestVLANReceive(t *testing.T) {
	const tci = 5<<13 | 1<<12 | 10 // PCP 5, DEI, VID 10
	tests := []struct {
		name      string
		mode      xskprog.Mode
		outOfBand bool
		tpid      uint16
	}{
		{"driver in band 802.1Q", xskprog.ModeDriver, false, 0x8100},
		{"driver in band 802.1ad", xskprog.ModeDriver, false, 0x88a8},
		{"driver out of band 802.1Q", xskprog.ModeDriver, true, 0x8100},
		{"driver out of band 802.1ad", xskprog.ModeDriver, true, 0x88a8},
		{"generic in band 802.1Q", xskprog.ModeGeneric, false, 0x8100},
		// Generic XDP cannot see an out-of-band tag (xskprog docs).
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := pair(t)
			// The tc program sees what goes through the qdisc layer, so
			// of two AF_PACKET senders on a0 only the one without
			// PACKET_QDISC_BYPASS has its frames tagged out of band.
			var tagged, plain *afpacket.Port
			if err := a.Do(func() (err error) {
				if tagged, err = afpacket.Open("a0", afpacket.Options{NoQdiscBypass: true}); err != nil {
					return err
				}
				plain, err = afpacket.Open("a0", afpacket.Options{})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tagged.Close(); plain.Close() })
			if tt.outOfBand {
				nstest.PushVLAN(t, a, "a0", tt.tpid, tci)
			}
			p := openIn(t, b, "b0", Options{Mode: tt.mode, NumFrames: 64})

			const count, magic = 200, 0x71a9
			var want [][]byte
			for i := range count {
				f := testFrame(p.MAC(), tagged.MAC(), magic, uint32(i), 60+i*7)
				w := withTag(f, tt.tpid, tci)
				if i%3 != 0 { // a third tagged: each UMEM frame sees both kinds
					w = f
					writePacket(t, plain, [][]byte{f})
				} else if tt.outOfBand {
					writePacket(t, tagged, [][]byte{f})
				} else {
					writePacket(t, plain, [][]byte{w})
				}
				want = append(want, w)
				if i%16 == 15 {
					// Let the reader keep up: the RX ring holds 32.
					collectInto(t, p, magic, want[i-15:], 5*time.Second)
				}
			}
			collectInto(t, p, magic, want[count-count%16:], 5*time.Second)
			c := p.Stats().Program
			if tt.outOfBand && c.VLANTags != (count+2)/3 {
				t.Errorf("program counted %d out-of-band tags, want %d (%+v)", c.VLANTags, (count+2)/3, c)
			}
			if !tt.outOfBand && c.VLANTags != 0 {
				t.Errorf("program counted %d out-of-band tags, want none (%+v)", c.VLANTags, c)
			}
			if c.VLANLost != 0 {
				t.Errorf("program lost %d tags", c.VLANLost)
			}
		})
	}
}

// collectInto reads len(want) test frames from p and compares them with
// want, in order.
func collectInto(t *testing.T, p *Port, magic uint64, want [][]byte, timeout time.Duration) {
	t.Helper()
	if len(want) == 0 {
		return
	}
	got := collect(t, p, magic, len(want), timeout)
	first, _ := frameID(dataplane.Eth(want[0]), magic)
	for i, w := range want {
		if g := got[first+uint32(i)]; !bytes.Equal(g, w) {
			t.Errorf("frame %d:\n got %x\nwant %x", first+uint32(i), g, w)
		}
	}
}

// TestVLANTransmit: tagged frames written to the socket leave with their
// tags: an AF_PACKET reader on the peer (which gets them back from the
// kernel's out-of-band copy) sees them byte for byte.
func TestVLANTransmit(t *testing.T) {
	a, b := pair(t)
	p := openIn(t, a, "a0", Options{})
	var r *afpacket.Port
	if err := b.Do(func() (err error) { r, err = afpacket.Open("b0", afpacket.Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	const magic = 0x7a9
	var want [][]byte
	for _, tg := range []struct{ tpid, tci uint16 }{
		{0x8100, 7<<13 | 4094}, {0x8100, 0}, {0x8100, 1<<12 | 1}, {0x88a8, 3<<13 | 100},
	} {
		for _, size := range []int{60, 1000, 1514} {
			want = append(want, withTag(testFrame(r.MAC(), p.MAC(), magic, uint32(len(want)), size), tg.tpid, tg.tci))
		}
	}
	writeAll(t, p, want)
	got := make(map[uint32][]byte)
	frames, sizes := newBatch()
	wd := time.AfterFunc(5*time.Second, func() { r.Close() })
	defer wd.Stop()
	for len(got) < len(want) {
		n, err := r.Read(frames, sizes)
		if err != nil {
			t.Fatalf("got %d of %d frames: %v", len(got), len(want), err)
		}
		for i := range n {
			f := frames[i][:sizes[i]]
			if id, ok := frameID(dataplane.Eth(f), magic); ok {
				got[id] = bytes.Clone(f)
			}
		}
	}
	for i, w := range want {
		if g := got[uint32(i)]; !bytes.Equal(g, w) {
			t.Errorf("frame %d:\n got %x\nwant %x", i, g, w)
		}
	}
}
