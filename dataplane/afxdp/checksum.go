package afxdp

import (
	"encoding/binary"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Partial checksums on receive
//
// A frame an XDP program redirects carries no skb metadata, so a TCP or
// UDP frame that its sender left CHECKSUM_PARTIAL (a veth whose other end
// has checksum offload, which is every VM's veth by default) arrives with
// only the pseudo-header sum in its checksum field (tcp_v4_send_check and
// friends store it uncomplemented), and would be dropped by whoever
// receives it as is. markPartial finds those frames and says so in the
// virtio-net header, exactly as AF_PACKET would have (NEEDS_CSUM,
// csum_start, csum_offset), so whichever Port sends the frame has the
// checksum completed: by the kernel behind an AF_PACKET or TAP socket,
// by Write on an AF_XDP one. A frame whose checksum is neither correct
// nor the bare pseudo-header sum is left alone (damaged: the receiver
// drops it, as it would have).

// markPartial inspects the Ethernet frame of frame (virtio-net header
// first, all zero) and sets the header's NEEDS_CSUM fields if it is a
// TCP or UDP frame, over IPv4 or IPv6, with up to two VLAN tags, whose
// checksum field holds the pseudo-header sum instead of a checksum. It
// reports whether it did.
func markPartial(frame []byte) bool {
	eth := frame[dataplane.VnetHdrLen:]
	off := 12
	et := uint16(0)
	for range 3 {
		if len(eth) < off+2 {
			return false
		}
		et = binary.BigEndian.Uint16(eth[off:])
		if et != 0x8100 && et != 0x88a8 {
			break
		}
		off += 4
	}
	off += 2
	var (
		proto      uint8
		l4         int
		l4len      int
		pseudoAddr []byte
	)
	switch et {
	case 0x0800:
		ip := eth[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		frag := binary.BigEndian.Uint16(ip[6:])
		if ihl < 20 || total < ihl || total > len(ip) || frag&0x3fff != 0 {
			return false // short, or a fragment: no L4 checksum to see
		}
		proto, l4, l4len, pseudoAddr = ip[9], off+ihl, total-ihl, ip[12:20]
	case 0x86dd:
		ip := eth[off:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+plen > len(ip) {
			return false
		}
		// Extension headers are not followed: offloaded TCP and UDP
		// come straight after the fixed header.
		proto, l4, l4len, pseudoAddr = ip[6], off+40, plen, ip[8:40]
	default:
		return false
	}
	var csumOff int
	switch proto {
	case 6:
		csumOff = 16
	case 17:
		csumOff = 6
	default:
		return false
	}
	if l4len < csumOff+2 {
		return false
	}
	seg := eth[l4 : l4+l4len]
	field := binary.BigEndian.Uint16(seg[csumOff:])
	if proto == 17 && field == 0 && et == 0x0800 {
		return false // IPv4 UDP without a checksum
	}
	pseudo := sum(pseudoAddr, uint64(proto)+uint64(l4len))
	if fold(sum(seg, pseudo)) == 0xffff {
		return false // correct
	}
	if p := fold(pseudo); field != p && !(field == 0 && p == 0xffff) {
		return false // damaged, not partial
	}
	dataplane.VnetHdr{
		Flags:      dataplane.VnetFlagNeedsCsum,
		CsumStart:  uint16(l4),
		CsumOffset: uint16(csumOff),
	}.Encode(frame)
	return true
}
