package neigh

import (
	"encoding/binary"
	"errors"
)

// Op is an ARP operation code.
type Op uint16

// ARP operations (RFC 826, and RFC 903 for the reverse ones).
const (
	OpRequest        Op = 1
	OpReply          Op = 2
	OpReverseRequest Op = 3
	OpReverseReply   Op = 4
)

// The fixed fields of ARP for Ethernet and IPv4.
const (
	hwEthernet = 1      // ARPHRD_ETHER
	protoIPv4  = 0x0800 // the EtherType of IPv4
)

// Offsets in an ARP packet for Ethernet and IPv4.
const (
	arpHType     = 0
	arpPType     = 2
	arpHLen      = 4
	arpPLen      = 5
	arpOp        = 6
	arpSenderMAC = 8
	arpSenderIP  = 14
	arpTargetMAC = 18
	arpTargetIP  = 24
)

// ARP is a view of an ARP packet: the bytes after the Ethernet header
// (and VLAN tags). Check IsValid before calling any other method; the
// accessors assume an Ethernet/IPv4 packet of at least ARPLen bytes.
type ARP []byte

// IsValid reports whether a is an ARP packet for Ethernet hardware
// addresses and IPv4 protocol addresses, the only kind teamd-go reads.
func (a ARP) IsValid() bool {
	return len(a) >= ARPLen &&
		binary.BigEndian.Uint16(a[arpHType:]) == hwEthernet &&
		binary.BigEndian.Uint16(a[arpPType:]) == protoIPv4 &&
		a[arpHLen] == 6 && a[arpPLen] == 4
}

// Op returns the operation.
func (a ARP) Op() Op { return Op(binary.BigEndian.Uint16(a[arpOp:])) }

// SenderMAC returns the sender hardware address: who holds SenderIP.
func (a ARP) SenderMAC() [6]byte { return [6]byte(a[arpSenderMAC:]) }

// SenderIP returns the sender protocol address.
func (a ARP) SenderIP() [4]byte { return [4]byte(a[arpSenderIP:]) }

// TargetMAC returns the target hardware address (zero in a request).
func (a ARP) TargetMAC() [6]byte { return [6]byte(a[arpTargetMAC:]) }

// TargetIP returns the target protocol address: the address asked for
// in a request.
func (a ARP) TargetIP() [4]byte { return [4]byte(a[arpTargetIP:]) }

// SetSenderMAC rewrites the sender hardware address in place.
func (a ARP) SetSenderMAC(m [6]byte) { copy(a[arpSenderMAC:], m[:]) }

// SetTargetMAC rewrites the target hardware address in place.
func (a ARP) SetTargetMAC(m [6]byte) { copy(a[arpTargetMAC:], m[:]) }

// IsGratuitous reports whether a announces its sender's own address
// (sender and target IP equal, RFC 5227 section 3) rather than asking
// for or answering about another host.
func (a ARP) IsGratuitous() bool { return a.SenderIP() == a.TargetIP() }

// Packet returns the fields of a.
func (a ARP) Packet() Packet {
	return Packet{Op: a.Op(), SenderMAC: a.SenderMAC(), SenderIP: a.SenderIP(), TargetMAC: a.TargetMAC(), TargetIP: a.TargetIP()}
}

// Packet is the content of an ARP packet for Ethernet and IPv4.
type Packet struct {
	Op        Op
	SenderMAC [6]byte
	SenderIP  [4]byte
	TargetMAC [6]byte
	TargetIP  [4]byte
}

// ErrNotARP is returned by UnmarshalBinary for bytes that are not an
// ARP packet for Ethernet and IPv4.
var ErrNotARP = errors.New("not an Ethernet/IPv4 ARP packet")

// UnmarshalBinary reads an ARP packet (the bytes after the Ethernet
// header; trailing padding is ignored). It never panics.
func (p *Packet) UnmarshalBinary(b []byte) error {
	a := ARP(b)
	if !a.IsValid() {
		return ErrNotARP
	}
	*p = a.Packet()
	return nil
}

// Append appends p as an ARPLen-byte ARP packet.
func (p *Packet) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, hwEthernet)
	b = binary.BigEndian.AppendUint16(b, protoIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Op))
	b = append(b, p.SenderMAC[:]...)
	b = append(b, p.SenderIP[:]...)
	b = append(b, p.TargetMAC[:]...)
	return append(b, p.TargetIP[:]...)
}

// AppendFrame appends a FrameLen-byte Ethernet frame from src to dst
// carrying p: EtherType RARP for the reverse operations, ARP otherwise.
func AppendFrame(b []byte, dst, src [6]byte, p *Packet) []byte {
	start := len(b)
	et := uint16(EtherTypeARP)
	if p.Op == OpReverseRequest || p.Op == OpReverseReply {
		et = EtherTypeRARP
	}
	b = appendEthernet(b, dst, src, et)
	b = p.Append(b)
	return pad(b, start)
}

// AppendRequest appends a broadcast request from mac for target. The
// sender IP may be 0.0.0.0, which makes it an ARP probe (RFC 5227): the
// asking host claims no address, and the answer comes back to 0.0.0.0.
func AppendRequest(b []byte, mac [6]byte, ip, target [4]byte) []byte {
	return AppendFrame(b, Broadcast, mac, &Packet{Op: OpRequest, SenderMAC: mac, SenderIP: ip, TargetIP: target})
}

// AppendReply appends the answer to req sent on behalf of a host that
// holds req's target IP at mac, unicast back to the requester. req
// must be valid.
func AppendReply(b []byte, mac [6]byte, req ARP) []byte {
	return AppendFrame(b, req.SenderMAC(), mac, &Packet{Op: OpReply,
		SenderMAC: mac, SenderIP: req.TargetIP(), TargetMAC: req.SenderMAC(), TargetIP: req.SenderIP()})
}

// AppendGratuitous appends a broadcast gratuitous ARP, a request from
// mac for its own ip with a zero target MAC, as Linux sends it: every
// host that has ip in its cache updates it to mac, and switches learn
// mac on the port it arrived from.
func AppendGratuitous(b []byte, mac [6]byte, ip [4]byte) []byte {
	return AppendFrame(b, Broadcast, mac, &Packet{Op: OpRequest, SenderMAC: mac, SenderIP: ip, TargetIP: ip})
}

// AppendRARP appends a broadcast reverse request from mac for mac with
// zero IPs: the frame QEMU and Hyper-V send after moving a VM, so that
// switches learn its MAC on the new port. It carries no IPv4 address,
// so it works for VMs whose address the sender does not know.
func AppendRARP(b []byte, mac [6]byte) []byte {
	return AppendFrame(b, Broadcast, mac, &Packet{Op: OpReverseRequest, SenderMAC: mac, TargetMAC: mac})
}
