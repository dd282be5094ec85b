package afpacket

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/dataplane"
)

func TestPutFrame(t *testing.T) {
	eth := []byte{
		1, 2, 3, 4, 5, 6, // dst
		7, 8, 9, 10, 11, 12, // src
		0x08, 0x00, // IPv4
		0x45, 0, 0, 20,
	}
	tagged := func(tpid, tci uint16) []byte {
		out := append([]byte{}, eth[:12]...)
		out = append(out, byte(tpid>>8), byte(tpid), byte(tci>>8), byte(tci))
		return append(out, eth[12:]...)
	}
	gso := dataplane.VnetHdr{
		Flags: dataplane.VnetFlagNeedsCsum, GSOType: dataplane.VnetGSOTCPv4,
		HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16,
	}
	tests := []struct {
		name      string
		hdr       dataplane.VnetHdr
		tagged    bool
		tpid, tci uint16
		dstLen    int
		wantHdr   dataplane.VnetHdr
		wantEth   []byte
		wantOK    bool
	}{
		{name: "untagged", dstLen: 100, wantEth: eth, wantOK: true},
		{name: "untagged GSO keeps header", hdr: gso, dstLen: 100, wantHdr: gso, wantEth: eth, wantOK: true},
		{
			name: "802.1Q", tagged: true, tpid: 0x8100, tci: 0xa064, dstLen: 100,
			wantEth: tagged(0x8100, 0xa064), wantOK: true,
		},
		{
			name: "802.1ad", tagged: true, tpid: 0x88a8, tci: 7, dstLen: 100,
			wantEth: tagged(0x88a8, 7), wantOK: true,
		},
		{
			name: "tag moves checksum start and header length", hdr: gso,
			tagged: true, tpid: 0x8100, tci: 100, dstLen: 100,
			wantHdr: dataplane.VnetHdr{
				Flags: dataplane.VnetFlagNeedsCsum, GSOType: dataplane.VnetGSOTCPv4,
				HdrLen: 70, GSOSize: 1448, CsumStart: 38, CsumOffset: 16,
			},
			wantEth: tagged(0x8100, 100), wantOK: true,
		},
		{
			name: "data valid only", hdr: dataplane.VnetHdr{Flags: dataplane.VnetFlagDataValid, CsumStart: 5},
			tagged: true, tpid: 0x8100, tci: 1, dstLen: 100,
			wantHdr: dataplane.VnetHdr{Flags: dataplane.VnetFlagDataValid, CsumStart: 5},
			wantEth: tagged(0x8100, 1), wantOK: true,
		},
		{name: "exact fit", tagged: true, tpid: 0x8100, dstLen: dataplane.VnetHdrLen + len(eth) + 4, wantEth: tagged(0x8100, 0), wantOK: true},
		{name: "one short", tagged: true, tpid: 0x8100, dstLen: dataplane.VnetHdrLen + len(eth) + 3},
		{name: "untagged one short", dstLen: dataplane.VnetHdrLen + len(eth) - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vnet := make([]byte, dataplane.VnetHdrLen)
			tt.hdr.Encode(vnet)
			dst := bytes.Repeat([]byte{0xee}, tt.dstLen)
			n, ok := putFrame(dst, vnet, eth, tt.tagged, tt.tpid, tt.tci)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tt.wantHdr, dataplane.DecodeVnetHdr(dst)); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEth, dst[dataplane.VnetHdrLen:n]); diff != "" {
				t.Errorf("frame (-want +got):\n%s", diff)
			}
			if !tt.tagged {
				return
			}
			// insertTag, used for frames read whole from the receive
			// queue, does the same in place.
			in := bytes.Repeat([]byte{0xee}, tt.dstLen)
			copy(in, vnet)
			copy(in[dataplane.VnetHdrLen:], eth)
			m, ok := insertTag(in, dataplane.VnetHdrLen+len(eth), tt.tpid, tt.tci)
			if !ok || !bytes.Equal(in[:m], dst[:n]) {
				t.Errorf("insertTag = %x, %v; putFrame gave %x", in[:m], ok, dst[:n])
			}
		})
	}
}

func TestPutFrameShortTagged(t *testing.T) {
	// A frame too short to hold MAC addresses is copied as is.
	dst := make([]byte, 64)
	n, ok := putFrame(dst, make([]byte, dataplane.VnetHdrLen), []byte{1, 2, 3}, true, 0x8100, 1)
	if !ok || n != dataplane.VnetHdrLen+3 {
		t.Fatalf("putFrame = %d, %v", n, ok)
	}
}

func FuzzPutFrame(f *testing.F) {
	f.Add([]byte{1, 1, 66, 0, 0xa8, 5, 34, 0, 16, 0}, []byte("0123456789abcdefghij"), true, uint16(0x8100), uint16(5), 100)
	f.Fuzz(func(t *testing.T, vnet, eth []byte, tagged bool, tpid, tci uint16, dstLen int) {
		if dstLen < 0 || dstLen > 1<<17 {
			return
		}
		dst := make([]byte, dstLen)
		n, ok := putFrame(dst, vnet, eth, tagged, tpid, tci)
		if ok && (n > dstLen || n < dataplane.VnetHdrLen+len(eth)) {
			t.Fatalf("n = %d for %d-byte frame into %d", n, len(eth), dstLen)
		}
	})
}
