package frame

import (
	"encoding/binary"

	"github.com/teamd-go/teamd-go/dataplane"
)

// 802.1Q tags on frames as the team's ports move them: a virtio-net
// header of dataplane.VnetHdrLen bytes, then the Ethernet frame. The
// helpers below work in place on such a buffer and allocate nothing.
//
//	untagged:  vnet | dst | src | type  | payload
//	tagged:    vnet | dst | src | 8100 TCI | type | payload
//
// Only TPID 0x8100 (a C-tag, 802.1Q-2018 9.5) is a VLAN tag here: a
// frame whose outer tag is an 802.1ad S-tag (0x88a8) is, to a C-VLAN
// switch, an untagged frame, as a Linux bridge with vlan_protocol
// 802.1Q treats it. The virtio-net header's csum_start and hdr_len are
// offsets from the start of the Ethernet frame, so a tag pushed or
// popped moves them by TagLen.

// TagLen is the length of an 802.1Q tag.
const TagLen = 4

// tagAt is the offset of the tag in a frame with its virtio-net header.
const tagAt = dataplane.VnetHdrLen + 12

// VIDMask selects the VLAN id in a TCI.
const VIDMask = 0x0fff

// VLANTag returns the VLAN id of the outer 802.1Q tag of the Ethernet
// frame eth (no virtio-net header) and whether it has one. A priority
// tag (VLAN id 0) is a tag with vid 0.
func VLANTag(eth []byte) (vid uint16, tagged bool) {
	if len(eth) < 18 || binary.BigEndian.Uint16(eth[12:14]) != EtherTypeVLAN {
		return 0, false
	}
	return binary.BigEndian.Uint16(eth[14:16]) & VIDMask, true
}

// PushTag inserts an 802.1Q tag with TCI tci after the MAC addresses of
// fr (virtio-net header and Ethernet frame), moving the rest of the
// frame on by TagLen within fr's capacity, and fixes the header's
// offsets. It returns the longer frame, or false (fr untouched) if fr
// is shorter than the MAC addresses or has no room for the tag.
func PushTag(fr []byte, tci uint16) ([]byte, bool) {
	n := len(fr)
	if n < tagAt || cap(fr)-n < TagLen {
		return fr, false
	}
	fr = fr[:n+TagLen]
	copy(fr[tagAt+TagLen:], fr[tagAt:n])
	binary.BigEndian.PutUint16(fr[tagAt:], EtherTypeVLAN)
	binary.BigEndian.PutUint16(fr[tagAt+2:], tci)
	h := fr[:dataplane.VnetHdrLen]
	if h[0]&dataplane.VnetFlagNeedsCsum != 0 {
		putLE16(h[6:], le16(h[6:])+TagLen)
	}
	if hl := le16(h[2:]); hl != 0 {
		putLE16(h[2:], hl+TagLen)
	}
	return fr, true
}

// PopTag removes the outer 802.1Q tag of fr (virtio-net header and
// Ethernet frame), moving the rest of the frame back, and fixes the
// header's offsets. It returns the shorter frame and the tag's TCI, or
// false (fr untouched) if fr has no 802.1Q tag, or if the header's
// offsets point inside the Ethernet and tag headers (no sane frame has
// them there).
func PopTag(fr []byte) ([]byte, uint16, bool) {
	n := len(fr)
	if n < tagAt+TagLen+2 || binary.BigEndian.Uint16(fr[tagAt:]) != EtherTypeVLAN {
		return fr, 0, false
	}
	h := fr[:dataplane.VnetHdrLen]
	const minOff = 12 + TagLen + 2 // MACs, tag, EtherType
	csum := h[0]&dataplane.VnetFlagNeedsCsum != 0
	if csum && le16(h[6:]) < minOff {
		return fr, 0, false
	}
	hl := le16(h[2:])
	if hl != 0 && hl < minOff {
		return fr, 0, false
	}
	tci := binary.BigEndian.Uint16(fr[tagAt+2:])
	copy(fr[tagAt:], fr[tagAt+TagLen:n])
	if csum {
		putLE16(h[6:], le16(h[6:])-TagLen)
	}
	if hl != 0 {
		putLE16(h[2:], hl-TagLen)
	}
	return fr[:n-TagLen], tci, true
}

// SetVID sets the VLAN id of fr's outer 802.1Q tag (virtio-net header
// and Ethernet frame), keeping its priority and DEI bits: a priority
// tag becomes a VLAN tag. It reports false if fr has no 802.1Q tag.
func SetVID(fr []byte, vid uint16) bool {
	if len(fr) < tagAt+TagLen || binary.BigEndian.Uint16(fr[tagAt:]) != EtherTypeVLAN {
		return false
	}
	tci := binary.BigEndian.Uint16(fr[tagAt+2:])
	binary.BigEndian.PutUint16(fr[tagAt+2:], tci&^VIDMask|vid&VIDMask)
	return true
}

func le16(b []byte) uint16       { return binary.LittleEndian.Uint16(b) }
func putLE16(b []byte, v uint16) { binary.LittleEndian.PutUint16(b, v) }
