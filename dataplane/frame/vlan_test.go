package frame

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/dataplane"
)

// withVnet puts a virtio-net header h before eth in a buffer with room
// for a tag.
func withVnet(h dataplane.VnetHdr, eth []byte) []byte {
	b := make([]byte, dataplane.VnetHdrLen+len(eth), dataplane.VnetHdrLen+len(eth)+TagLen)
	h.Encode(b)
	copy(b[dataplane.VnetHdrLen:], eth)
	return b
}

// tagged returns eth with an 802.1Q tag tci after its MACs.
func tagged(eth []byte, tci uint16) []byte {
	out := append([]byte{}, eth[:12]...)
	out = binary.BigEndian.AppendUint16(out, EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, eth[12:]...)
}

func TestPushPopTag(t *testing.T) {
	plain := udp4(false)
	// A TCP super-frame as a VM's veth hands it up: checksum to fill in
	// from csum_start, GSO with the headers' length.
	gso := dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, GSOType: dataplane.VnetGSOTCPv4,
		HdrLen: 14 + 20 + 20, GSOSize: 1448, CsumStart: 14 + 20, CsumOffset: 16}
	csumOnly := dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, CsumStart: 34, CsumOffset: 6}
	valid := dataplane.VnetHdr{Flags: dataplane.VnetFlagDataValid}
	tests := []struct {
		name    string
		hdr     dataplane.VnetHdr
		wantHdr dataplane.VnetHdr // after the push
	}{
		{"plain", dataplane.VnetHdr{}, dataplane.VnetHdr{}},
		{"gso", gso, dataplane.VnetHdr{Flags: gso.Flags, GSOType: gso.GSOType, HdrLen: gso.HdrLen + 4,
			GSOSize: gso.GSOSize, CsumStart: gso.CsumStart + 4, CsumOffset: gso.CsumOffset}},
		{"checksum offload", csumOnly, dataplane.VnetHdr{Flags: csumOnly.Flags, CsumStart: 38, CsumOffset: 6}},
		{"data valid: offsets unused", valid, valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fr := withVnet(tt.hdr, plain)
			pushed, ok := PushTag(fr, 0x2000|10)
			if !ok {
				t.Fatal("PushTag refused")
			}
			if diff := cmp.Diff(tagged(plain, 0x2000|10), pushed[dataplane.VnetHdrLen:]); diff != "" {
				t.Errorf("pushed frame (-want +got):\n%s", diff)
			}
			if got := dataplane.DecodeVnetHdr(pushed); got != tt.wantHdr {
				t.Errorf("header after push = %+v, want %+v", got, tt.wantHdr)
			}
			if vid, ok := VLANTag(pushed[dataplane.VnetHdrLen:]); !ok || vid != 10 {
				t.Errorf("VLANTag = %d, %v; want 10, true", vid, ok)
			}
			var f Frame
			if err := Parse(pushed[dataplane.VnetHdrLen:], &f); err != nil || !f.Tagged || f.VLAN != 10 || f.DstPort != 80 {
				t.Errorf("Parse of the pushed frame: %v, tagged %v vlan %d dport %d", err, f.Tagged, f.VLAN, f.DstPort)
			}
			popped, tci, ok := PopTag(pushed)
			if !ok || tci != 0x2000|10 {
				t.Fatalf("PopTag = tci %#x, %v", tci, ok)
			}
			if diff := cmp.Diff(withVnet(tt.hdr, plain), popped); diff != "" {
				t.Errorf("popped frame (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTagRefusals(t *testing.T) {
	plain := udp4(false)
	noRoom := withVnet(dataplane.VnetHdr{}, plain)
	noRoom = noRoom[:len(noRoom):len(noRoom)]
	if _, ok := PushTag(noRoom, 10); ok {
		t.Error("PushTag into a full buffer succeeded")
	}
	short := make([]byte, dataplane.VnetHdrLen+11, 64)
	if _, ok := PushTag(short, 10); ok {
		t.Error("PushTag before the MACs are complete succeeded")
	}
	if _, _, ok := PopTag(withVnet(dataplane.VnetHdr{}, plain)); ok {
		t.Error("PopTag of an untagged frame succeeded")
	}
	qinq := tagged(plain, 10)
	binary.BigEndian.PutUint16(qinq[12:], EtherTypeQinQ)
	if _, _, ok := PopTag(withVnet(dataplane.VnetHdr{}, qinq)); ok {
		t.Error("PopTag of an 802.1ad S-tag succeeded")
	}
	if _, ok := VLANTag(qinq); ok {
		t.Error("VLANTag reads an 802.1ad S-tag as a VLAN tag")
	}
	// csum_start inside the Ethernet header: popping would wrap it.
	bad := withVnet(dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, CsumStart: 2}, tagged(plain, 10))
	before := bytes.Clone(bad)
	if _, _, ok := PopTag(bad); ok || !bytes.Equal(bad, before) {
		t.Errorf("PopTag with csum_start 2: ok %v, frame changed %v", ok, !bytes.Equal(bad, before))
	}
	badHL := withVnet(dataplane.VnetHdr{GSOType: dataplane.VnetGSOTCPv4, HdrLen: 3}, tagged(plain, 10))
	if _, _, ok := PopTag(badHL); ok {
		t.Error("PopTag with hdr_len 3 succeeded")
	}
}

func TestSetVID(t *testing.T) {
	fr := withVnet(dataplane.VnetHdr{}, tagged(udp4(false), 0xa000)) // priority 5, VLAN 0
	if !SetVID(fr, 30) {
		t.Fatal("SetVID refused")
	}
	if got := binary.BigEndian.Uint16(fr[dataplane.VnetHdrLen+14:]); got != 0xa000|30 {
		t.Errorf("TCI = %#x, want %#x (priority kept)", got, 0xa000|30)
	}
	if SetVID(withVnet(dataplane.VnetHdr{}, udp4(false)), 30) {
		t.Error("SetVID on an untagged frame succeeded")
	}
}

func TestTagAllocs(t *testing.T) {
	fr := withVnet(dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, CsumStart: 34}, udp4(false))
	if n := testing.AllocsPerRun(100, func() {
		fr, _ = PushTag(fr, 10)
		_, _ = VLANTag(fr[dataplane.VnetHdrLen:])
		SetVID(fr, 20)
		fr, _, _ = PopTag(fr)
	}); n != 0 {
		t.Errorf("push/pop: %v allocations, want 0", n)
	}
}

// FuzzTag pushes and pops tags on any frame (the first 10 bytes are
// the virtio-net header): neither panics, a push then a pop gives the
// frame back, and a pop then a push of the same TCI too. Seeds are in
// testdata/fuzz/FuzzTag.
func FuzzTag(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, tci uint16) {
		if len(b) > 4096 {
			return
		}
		fr := make([]byte, len(b), len(b)+TagLen)
		copy(fr, b)
		if pushed, ok := PushTag(fr, tci); ok {
			if vid, tagged := VLANTag(pushed[dataplane.VnetHdrLen:]); len(pushed) >= dataplane.VnetHdrLen+18 && (!tagged || vid != tci&VIDMask) {
				t.Fatalf("pushed tci %#x, VLANTag reads %d, %v", tci, vid, tagged)
			}
			back, got, ok := PopTag(pushed)
			hl := binary.LittleEndian.Uint16(b[2:4])
			cs := binary.LittleEndian.Uint16(b[6:8])
			// Offsets that wrap, or point inside the untagged frame's
			// Ethernet header, do not come back: PopTag refuses them.
			csum := b[0]&dataplane.VnetFlagNeedsCsum != 0
			odd := hl > 0xffff-TagLen || (hl != 0 && hl < 14) || (csum && (cs > 0xffff-TagLen || cs < 14))
			if len(pushed) >= dataplane.VnetHdrLen+18 && !odd {
				if !ok || got != tci || !bytes.Equal(back, b) {
					t.Fatalf("push then pop: ok %v tci %#x (want %#x), frame %x, want %x", ok, got, tci, back, b)
				}
			}
		} else if len(b) >= dataplane.VnetHdrLen+12 {
			t.Fatalf("PushTag refused a %d-byte frame with room", len(b))
		}
		fr = make([]byte, len(b), len(b)+TagLen)
		copy(fr, b)
		if popped, got, ok := PopTag(fr); ok {
			again, ok := PushTag(popped, got)
			if !ok || !bytes.Equal(again, b) {
				t.Fatalf("pop then push: ok %v, frame %x, want %x", ok, again, b)
			}
		}
	})
}
