package afpacket

import (
	"encoding/binary"

	"github.com/teamd-go/teamd-go/dataplane"
)

// vlanLen is the length of an 802.1Q/802.1ad tag.
const vlanLen = 4

// putFrame copies a received frame into dst: the virtio-net header vnet,
// then the Ethernet frame eth, with the VLAN tag (tpid, tci) that the
// kernel stripped put back after the MAC addresses when tagged is set.
// It returns the length written, or false if dst is too short.
//
// The kernel computed the header's csum_start and hdr_len for the frame
// without the tag; both are offsets from the start of the Ethernet frame,
// so they move on by the tag's four bytes.
func putFrame(dst, vnet, eth []byte, tagged bool, tpid, tci uint16) (int, bool) {
	if tagged && len(eth) < 12 {
		tagged = false // no room for MAC addresses: nothing sane to do
	}
	n := dataplane.VnetHdrLen + len(eth)
	if tagged {
		n += vlanLen
	}
	if n > len(dst) || len(vnet) < dataplane.VnetHdrLen {
		return 0, false
	}
	h := dst[:dataplane.VnetHdrLen]
	copy(h, vnet)
	out := dst[dataplane.VnetHdrLen:n]
	if !tagged {
		copy(out, eth)
		return n, true
	}
	copy(out[:12], eth[:12])
	binary.BigEndian.PutUint16(out[12:14], tpid)
	binary.BigEndian.PutUint16(out[14:16], tci)
	copy(out[16:], eth[12:])
	shiftVnetHdr(h)
	return n, true
}

// insertTag puts the VLAN tag (tpid, tci) back into the frame of n bytes
// (virtio-net header and Ethernet frame) at the start of dst, in place,
// like putFrame. It returns the new length, or false if dst is too short.
func insertTag(dst []byte, n int, tpid, tci uint16) (int, bool) {
	const macs = dataplane.VnetHdrLen + 12
	if n < macs || n+vlanLen > len(dst) {
		return 0, false
	}
	copy(dst[macs+vlanLen:n+vlanLen], dst[macs:n])
	binary.BigEndian.PutUint16(dst[macs:], tpid)
	binary.BigEndian.PutUint16(dst[macs+2:], tci)
	shiftVnetHdr(dst[:dataplane.VnetHdrLen])
	return n + vlanLen, true
}

// shiftVnetHdr moves the offsets of the virtio-net header h on by a tag.
func shiftVnetHdr(h []byte) {
	if h[0]&dataplane.VnetFlagNeedsCsum != 0 {
		cs := binary.LittleEndian.Uint16(h[6:8])
		binary.LittleEndian.PutUint16(h[6:8], cs+vlanLen)
	}
	if hl := binary.LittleEndian.Uint16(h[2:4]); hl != 0 {
		binary.LittleEndian.PutUint16(h[2:4], hl+vlanLen)
	}
}
