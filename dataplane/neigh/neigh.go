// Package neigh reads and builds the frames of neighbour resolution: ARP
// for IPv4 (RFC 826), with its reverse form RARP (RFC 903) that
// hypervisors send to announce a migrated VM, and IPv6 neighbour
// discovery's solicitations and advertisements (RFC 4861) in the same
// shape.
//
// Reading is through byte views over a received frame (ARP, ND), in the
// style of gVisor's pkg/tcpip/header: a validity check, then accessors
// at fixed offsets, with no copy and no allocation; setters rewrite a
// field in place. Building is append-style (AppendRequest, AppendReply,
// ...): the caller passes the buffer, and a buffer with room for
// FrameLen (NDFrameLen for ND) more bytes is filled without allocating.
// Packet and NDPacket are the same content as a struct with
// UnmarshalBinary for code off the hot path.
//
// The package imports only the standard library; addresses are plain
// arrays, so frame.MAC, [4]byte IPv4 and [16]byte IPv6 addresses pass
// as they are.
package neigh

import "encoding/binary"

// EtherTypes of the frames built here.
const (
	EtherTypeARP  = 0x0806
	EtherTypeRARP = 0x8035
)

// Lengths.
const (
	// EthernetLen is the length of an untagged Ethernet header.
	EthernetLen = 14
	// ARPLen is the length of an ARP packet for Ethernet and IPv4.
	ARPLen = 28
	// FrameLen is the length of a built frame: an Ethernet header and an
	// ARP packet, padded to the 60-byte minimum of Ethernet (without FCS).
	FrameLen = 60
)

// Broadcast is the Ethernet broadcast address.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// appendEthernet appends an untagged Ethernet header.
func appendEthernet(b []byte, dst, src [6]byte, etherType uint16) []byte {
	b = append(b, dst[:]...)
	b = append(b, src[:]...)
	return binary.BigEndian.AppendUint16(b, etherType)
}

// pad appends zeros until the frame that starts at b[start] is
// FrameLen long.
func pad(b []byte, start int) []byte {
	for len(b)-start < FrameLen {
		b = append(b, 0)
	}
	return b
}
