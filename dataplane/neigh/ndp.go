package neigh

import (
	"encoding/binary"
	"errors"
)

// IPv6 neighbour discovery (RFC 4861): the neighbour solicitation (NS)
// and advertisement (NA) that resolve an IPv6 address to a MAC, as ARP
// does for IPv4. Router solicitations, advertisements and redirects are
// not read here: the team has no use for them, and ND is not valid for
// them (they pass as plain ICMPv6).
//
// The ND view starts at the IPv6 header, not at the ICMPv6 message,
// because the ICMPv6 checksum covers the IPv6 source and destination
// (the pseudo-header, RFC 8200 8.1) and RFC 4861 7.1 makes the hop limit
// part of a message's validity. IPv6 addresses are [16]byte, as in
// frame.Key.
//
//	IPv6 header (40)     ver/class/flow | payload length | next 58 | hop limit 255
//	                     source (16) | destination (16)
//	ICMPv6 (24)          type 135/136 | code 0 | checksum | flags (NA) + reserved
//	                     target address (16)
//	options (8 each)     type 1 (source LL) or 2 (target LL) | length 1 | MAC (6)

// EtherTypeIPv6 is the EtherType of the frames built here.
const EtherTypeIPv6 = 0x86dd

// ProtoICMPv6 is the IPv6 next header of ICMPv6.
const ProtoICMPv6 = 58

// NDType is the ICMPv6 type of a neighbour discovery message.
type NDType uint8

// The ND messages read and built here (RFC 4861 4.3, 4.4).
const (
	TypeNeighborSolicitation  NDType = 135
	TypeNeighborAdvertisement NDType = 136
)

// NAFlags are the flags of a neighbour advertisement (RFC 4861 4.4), in
// the bit positions of the message's first byte after the checksum.
type NAFlags uint8

const (
	// FlagRouter says the sender is a router.
	FlagRouter NAFlags = 0x80
	// FlagSolicited says the advertisement answers a solicitation; it is
	// never set in one sent to a multicast address.
	FlagSolicited NAFlags = 0x40
	// FlagOverride says the advertised MAC replaces the one a neighbour
	// cache holds for the target (without it, only an empty entry is
	// filled).
	FlagOverride NAFlags = 0x20
)

// Lengths of neighbour discovery.
const (
	// IPv6Len is the length of an IPv6 header.
	IPv6Len = 40
	// NDMsgLen is the length of an NS or NA without options.
	NDMsgLen = 24
	// NDOptLen is the length of a link-layer address option for Ethernet.
	NDOptLen = 8
	// NDFrameLen is the longest frame the ND builders write: an
	// Ethernet header, an IPv6 header, an NS or NA and one link-layer
	// address option. Every built frame is longer than Ethernet's minimum,
	// so none is padded.
	NDFrameLen = EthernetLen + IPv6Len + NDMsgLen + NDOptLen
)

// Option types (RFC 4861 4.6).
const (
	optSourceLinkAddr = 1
	optTargetLinkAddr = 2
)

// Offsets in the IPv6 header and, from IPv6Len on, in the ND message.
const (
	ipPayloadLen = 4
	ipNext       = 6
	ipHopLimit   = 7
	ipSrc        = 8
	ipDst        = 24
	ndType       = IPv6Len + 0
	ndCode       = IPv6Len + 1
	ndChecksum   = IPv6Len + 2
	ndFlags      = IPv6Len + 4
	ndTarget     = IPv6Len + 8
	ndOptions    = IPv6Len + NDMsgLen
)

// hopLimitND is the hop limit every ND message is sent with, and the
// only one a receiver accepts: a router forwarding the packet would have
// lowered it, so 255 proves it comes from the link (RFC 4861 7.1).
const hopLimitND = 255

// Errors of ND.Check and NDPacket.UnmarshalBinary, one per rule of
// RFC 4861 7.1.1 and 7.1.2 a packet breaks.
var (
	// ErrNDShort: shorter than an IPv6 header, than its payload length,
	// or than an NS/NA message.
	ErrNDShort = errors.New("neighbour discovery: packet too short")
	// ErrNDNotICMPv6: not IPv6, or a next header other than ICMPv6
	// (extension headers are not walked).
	ErrNDNotICMPv6 = errors.New("neighbour discovery: not an IPv6 packet with ICMPv6 as next header")
	// ErrNDType: an ICMPv6 type other than NS and NA.
	ErrNDType = errors.New("neighbour discovery: not a neighbour solicitation or advertisement")
	// ErrNDHopLimit: a hop limit other than 255, so it may come from off
	// the link.
	ErrNDHopLimit = errors.New("neighbour discovery: hop limit not 255")
	// ErrNDCode: an ICMPv6 code other than 0.
	ErrNDCode = errors.New("neighbour discovery: ICMPv6 code not 0")
	// ErrNDChecksum: the ICMPv6 checksum does not match.
	ErrNDChecksum = errors.New("neighbour discovery: bad ICMPv6 checksum")
	// ErrNDOption: an option of length 0 (which would never end a walk
	// over them) or one running past the message.
	ErrNDOption = errors.New("neighbour discovery: option of length 0 or past the end")
	// ErrNDTarget: the target address is a multicast address.
	ErrNDTarget = errors.New("neighbour discovery: multicast target address")
	// ErrNDUnspecified: an NS from the unspecified address (duplicate
	// address detection) not sent to a solicited-node address, or with a
	// source link-layer option.
	ErrNDUnspecified = errors.New("neighbour discovery: solicitation from :: not to a solicited-node address, or with a source link-layer option")
	// ErrNDSolicited: an NA to a multicast address with the solicited
	// flag.
	ErrNDSolicited = errors.New("neighbour discovery: solicited advertisement to a multicast address")
)

// Well-known addresses.
var (
	// AllNodes is ff02::1, the link-local all-nodes address unsolicited
	// advertisements go to.
	AllNodes = [16]byte{0: 0xff, 1: 0x02, 15: 1}
	// AllNodesMAC is 33:33:00:00:00:01, the MAC of AllNodes.
	AllNodesMAC = [6]byte{0x33, 0x33, 0, 0, 0, 1}
)

// ND is a view of an IPv6 packet that carries a neighbour solicitation
// or advertisement: the bytes after the Ethernet header (and VLAN tags);
// bytes past the IPv6 payload length (Ethernet padding) are ignored.
// Check or IsValid it before calling any other method; the accessors
// assume a valid packet.
type ND []byte

// Check returns nil if n is a neighbour solicitation or advertisement
// that RFC 4861 7.1.1 or 7.1.2 lets a node accept, or the first rule it
// breaks. It never allocates.
func (n ND) Check() error {
	if len(n) < IPv6Len {
		return ErrNDShort
	}
	if n[0]>>4 != 6 || n[ipNext] != ProtoICMPv6 {
		return ErrNDNotICMPv6
	}
	end := IPv6Len + int(binary.BigEndian.Uint16(n[ipPayloadLen:]))
	if len(n) < end || end < ndOptions {
		return ErrNDShort
	}
	m := n[:end]
	t := NDType(m[ndType])
	if t != TypeNeighborSolicitation && t != TypeNeighborAdvertisement {
		return ErrNDType
	}
	if m[ipHopLimit] != hopLimitND {
		return ErrNDHopLimit
	}
	if m[ndCode] != 0 {
		return ErrNDCode
	}
	if ICMPv6Checksum(n.Src(), n.Dst(), m[IPv6Len:]) != 0 {
		return ErrNDChecksum
	}
	sll := false
	for off := ndOptions; off < end; {
		if end-off < 2 || m[off+1] == 0 || end-off < int(m[off+1])*8 {
			return ErrNDOption
		}
		sll = sll || m[off] == optSourceLinkAddr
		off += int(m[off+1]) * 8
	}
	if m[ndTarget] == 0xff {
		return ErrNDTarget
	}
	dstMulticast := m[ipDst] == 0xff
	switch t {
	case TypeNeighborSolicitation:
		if n.Src() == ([16]byte{}) && (sll || !isSolicitedNode(n.Dst())) {
			return ErrNDUnspecified
		}
	case TypeNeighborAdvertisement:
		if dstMulticast && NAFlags(m[ndFlags])&FlagSolicited != 0 {
			return ErrNDSolicited
		}
	}
	return nil
}

// IsValid reports whether Check accepts n.
func (n ND) IsValid() bool { return n.Check() == nil }

// Type returns the message type.
func (n ND) Type() NDType { return NDType(n[ndType]) }

// Flags returns the flags of an advertisement (0 for a solicitation).
func (n ND) Flags() NAFlags {
	if n.Type() != TypeNeighborAdvertisement {
		return 0
	}
	return NAFlags(n[ndFlags]) & (FlagRouter | FlagSolicited | FlagOverride)
}

// Src returns the IPv6 source address: the soliciting or advertising
// node's own address, :: in duplicate address detection.
func (n ND) Src() [16]byte { return [16]byte(n[ipSrc:]) }

// Dst returns the IPv6 destination address.
func (n ND) Dst() [16]byte { return [16]byte(n[ipDst:]) }

// Target returns the target address: the address asked for in a
// solicitation, the one whose MAC an advertisement gives.
func (n ND) Target() [16]byte { return [16]byte(n[ndTarget:]) }

// SourceLinkAddr returns the MAC of the source link-layer address
// option (the solicitor's MAC in an NS), if there is one for Ethernet.
func (n ND) SourceLinkAddr() ([6]byte, bool) { return n.linkAddr(optSourceLinkAddr) }

// TargetLinkAddr returns the MAC of the target link-layer address
// option (the target's MAC in an NA), if there is one for Ethernet.
func (n ND) TargetLinkAddr() ([6]byte, bool) { return n.linkAddr(optTargetLinkAddr) }

// SetSourceLinkAddr rewrites the MAC of the source link-layer address
// option in place and fixes the checksum; it reports false, changing
// nothing, when there is no such option.
func (n ND) SetSourceLinkAddr(mac [6]byte) bool { return n.setLinkAddr(optSourceLinkAddr, mac) }

// SetTargetLinkAddr rewrites the MAC of the target link-layer address
// option in place and fixes the checksum; it reports false, changing
// nothing, when there is no such option.
func (n ND) SetTargetLinkAddr(mac [6]byte) bool { return n.setLinkAddr(optTargetLinkAddr, mac) }

// linkOpt returns the offset of the MAC in the first link-layer address
// option of type typ with Ethernet's length (one 8-byte unit), 0 if none.
func (n ND) linkOpt(typ byte) int {
	end := n.end()
	for off := ndOptions; off+NDOptLen <= end && n[off+1] != 0; off += int(n[off+1]) * 8 {
		if n[off] == typ && n[off+1] == 1 {
			return off + 2
		}
	}
	return 0
}

func (n ND) linkAddr(typ byte) ([6]byte, bool) {
	off := n.linkOpt(typ)
	if off == 0 {
		return [6]byte{}, false
	}
	return [6]byte(n[off:]), true
}

func (n ND) setLinkAddr(typ byte, mac [6]byte) bool {
	off := n.linkOpt(typ)
	if off == 0 {
		return false
	}
	copy(n[off:], mac[:])
	n.fixChecksum()
	return true
}

// end returns where the IPv6 payload of n ends, within n.
func (n ND) end() int {
	return min(len(n), IPv6Len+int(binary.BigEndian.Uint16(n[ipPayloadLen:])))
}

// fixChecksum recomputes the ICMPv6 checksum of n.
func (n ND) fixChecksum() {
	end := n.end()
	binary.BigEndian.PutUint16(n[ndChecksum:], 0)
	binary.BigEndian.PutUint16(n[ndChecksum:], ICMPv6Checksum(n.Src(), n.Dst(), n[IPv6Len:end]))
}

// Packet returns the fields of n.
func (n ND) Packet() NDPacket {
	p := NDPacket{Type: n.Type(), Flags: n.Flags(), Src: n.Src(), Dst: n.Dst(), Target: n.Target()}
	p.SourceLinkAddr, p.HasSourceLinkAddr = n.SourceLinkAddr()
	p.TargetLinkAddr, p.HasTargetLinkAddr = n.TargetLinkAddr()
	return p
}

// NDPacket is the content of an IPv6 packet carrying a neighbour
// solicitation or advertisement. Options other than the Ethernet
// link-layer address ones are not kept.
type NDPacket struct {
	Type     NDType
	Flags    NAFlags // advertisements only
	Src, Dst [16]byte
	Target   [16]byte
	// The link-layer address options, each present when its Has is set.
	SourceLinkAddr, TargetLinkAddr       [6]byte
	HasSourceLinkAddr, HasTargetLinkAddr bool
}

// UnmarshalBinary reads an IPv6 packet carrying an NS or NA (the bytes
// after the Ethernet header), returning the error of ND.Check for one a
// node must not accept. It never panics.
func (p *NDPacket) UnmarshalBinary(b []byte) error {
	n := ND(b)
	if err := n.Check(); err != nil {
		return err
	}
	*p = n.Packet()
	return nil
}

// Append appends p as an IPv6 packet (hop limit 255, checksum set), the
// source link-layer option before the target one.
func (p *NDPacket) Append(b []byte) []byte {
	start := len(b)
	plen := NDMsgLen
	if p.HasSourceLinkAddr {
		plen += NDOptLen
	}
	if p.HasTargetLinkAddr {
		plen += NDOptLen
	}
	b = append(b, 0x60, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(plen))
	b = append(b, ProtoICMPv6, hopLimitND)
	b = append(b, p.Src[:]...)
	b = append(b, p.Dst[:]...)
	var flags NAFlags
	if p.Type == TypeNeighborAdvertisement {
		flags = p.Flags
	}
	b = append(b, byte(p.Type), 0, 0, 0, byte(flags), 0, 0, 0)
	b = append(b, p.Target[:]...)
	if p.HasSourceLinkAddr {
		b = append(b, optSourceLinkAddr, 1)
		b = append(b, p.SourceLinkAddr[:]...)
	}
	if p.HasTargetLinkAddr {
		b = append(b, optTargetLinkAddr, 1)
		b = append(b, p.TargetLinkAddr[:]...)
	}
	ND(b[start:]).fixChecksum()
	return b
}

// AppendNDFrame appends an Ethernet frame from src to dst carrying p.
func AppendNDFrame(b []byte, dst, src [6]byte, p *NDPacket) []byte {
	b = appendEthernet(b, dst, src, EtherTypeIPv6)
	return p.Append(b)
}

// AppendNS appends a neighbour solicitation from mac and src for target,
// sent as address resolution does (RFC 4861 7.2.2): to target's
// solicited-node address and its multicast MAC, with a source
// link-layer option giving mac. With src :: it is a duplicate address
// detection probe (RFC 4862 5.4.2), which carries no such option.
func AppendNS(b []byte, mac [6]byte, src, target [16]byte) []byte {
	dst := SolicitedNode(target)
	p := NDPacket{Type: TypeNeighborSolicitation, Src: src, Dst: dst, Target: target}
	if src != ([16]byte{}) {
		p.SourceLinkAddr, p.HasSourceLinkAddr = mac, true
	}
	return AppendNDFrame(b, MulticastMAC(dst), mac, &p)
}

// AppendNA appends the advertisement answering ns (which must be valid)
// on behalf of a node that holds ns's target at mac (RFC 4861 7.2.4):
// from the target address, with a target link-layer option giving mac.
// It goes back to the solicitor, at its source address and at
// solicitor, the MAC the solicitation came from, with FlagSolicited set;
// a solicitation from :: is answered to all nodes, without it. flags add
// FlagRouter and FlagOverride as the answering node wants them.
func AppendNA(b []byte, mac [6]byte, ns ND, solicitor [6]byte, flags NAFlags) []byte {
	p := NDPacket{Type: TypeNeighborAdvertisement, Src: ns.Target(), Dst: ns.Src(), Target: ns.Target(),
		Flags: flags | FlagSolicited, TargetLinkAddr: mac, HasTargetLinkAddr: true}
	if p.Dst == ([16]byte{}) {
		p.Dst, p.Flags, solicitor = AllNodes, flags&^FlagSolicited, AllNodesMAC
	}
	return AppendNDFrame(b, solicitor, mac, &p)
}

// AppendUnsolicitedNA appends an unsolicited advertisement (RFC 4861
// 7.2.6) from mac for ip to all nodes, with a target link-layer option
// giving mac: the IPv6 counterpart of a gratuitous ARP. With
// FlagOverride every neighbour that has ip in its cache updates it to
// mac, and switches learn mac on the port it arrived from: what a
// failover announces. FlagSolicited is never set; FlagRouter should be
// what the node's own advertisements say, as a neighbour that sees it
// cleared stops using the node as a router (RFC 4861 7.2.5).
func AppendUnsolicitedNA(b []byte, mac [6]byte, ip [16]byte, flags NAFlags) []byte {
	p := NDPacket{Type: TypeNeighborAdvertisement, Src: ip, Dst: AllNodes, Target: ip,
		Flags: flags &^ FlagSolicited, TargetLinkAddr: mac, HasTargetLinkAddr: true}
	return AppendNDFrame(b, AllNodesMAC, mac, &p)
}

// SolicitedNode returns the solicited-node multicast address of a
// (RFC 4291 2.7.1): ff02::1:ff and a's low 24 bits.
func SolicitedNode(a [16]byte) [16]byte {
	return [16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]}
}

// isSolicitedNode reports whether a is a solicited-node address.
func isSolicitedNode(a [16]byte) bool { return SolicitedNode(a) == a }

// MulticastMAC returns the MAC an IPv6 multicast address a is sent to
// on Ethernet (RFC 2464 7): 33:33 and a's low 32 bits.
func MulticastMAC(a [16]byte) [6]byte {
	return [6]byte{0x33, 0x33, a[12], a[13], a[14], a[15]}
}

// LinkLocal returns the link-local address a node with MAC mac forms
// from it (RFC 4862 5.3, RFC 4291 appendix A): fe80:: and the modified
// EUI-64 interface identifier, mac with ff:fe in the middle and the
// universal/local bit inverted.
func LinkLocal(mac [6]byte) [16]byte {
	return [16]byte{0: 0xfe, 1: 0x80,
		8: mac[0] ^ 0x02, 9: mac[1], 10: mac[2], 11: 0xff, 12: 0xfe, 13: mac[3], 14: mac[4], 15: mac[5]}
}

// ICMPv6Checksum returns the ICMPv6 checksum (RFC 4443 2.3) of msg sent
// from src to dst: the Internet checksum of the IPv6 pseudo-header
// (RFC 8200 8.1) followed by msg. Computed with msg's checksum field
// zero, it is the value to put there; over a msg whose field is right, it
// is 0.
func ICMPv6Checksum(src, dst [16]byte, msg []byte) uint16 {
	var sum uint64
	for i := 0; i < 16; i += 4 {
		sum += uint64(binary.BigEndian.Uint32(src[i:])) + uint64(binary.BigEndian.Uint32(dst[i:]))
	}
	sum += uint64(len(msg)) + ProtoICMPv6
	for len(msg) >= 4 {
		sum += uint64(binary.BigEndian.Uint32(msg))
		msg = msg[4:]
	}
	if len(msg) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(msg))
		msg = msg[2:]
	}
	if len(msg) == 1 {
		sum += uint64(msg[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
