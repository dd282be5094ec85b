// Package frame parses Ethernet frames into a caller-owned struct without
// allocating: MAC addresses, VLAN tag, EtherType, IPv4/IPv6 addresses and
// TCP/UDP/SCTP ports, gathered into a comparable flow key, and where an
// ARP packet or an IPv6 neighbour solicitation or advertisement starts
// (read them with the neigh.ARP and neigh.ND views).
package frame

import (
	"encoding/binary"
	"errors"

	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// MAC is an Ethernet address. It is comparable and pointer-free.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports whether the group bit is set (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 != 0 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, v := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hex[v>>4]
		b[i*3+1] = hex[v&0xf]
	}
	return string(b[:])
}

// ParseMAC parses "aa:bb:cc:dd:ee:ff" (or with '-').
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if len(s) != 17 {
		return m, errMAC
	}
	for i := 0; i < 6; i++ {
		hi, ok1 := unhex(s[i*3])
		lo, ok2 := unhex(s[i*3+1])
		if !ok1 || !ok2 || (i < 5 && s[i*3+2] != ':' && s[i*3+2] != '-') {
			return m, errMAC
		}
		m[i] = hi<<4 | lo
	}
	return m, nil
}

var errMAC = errors.New("invalid MAC address")

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// EtherTypes the dataplane cares about.
const (
	EtherTypeIPv4         = 0x0800
	EtherTypeARP          = neigh.EtherTypeARP
	EtherTypeRARP         = neigh.EtherTypeRARP
	EtherTypeVLAN         = 0x8100
	EtherTypeQinQ         = 0x88a8
	EtherTypeIPv6         = 0x86dd
	EtherTypeSlowProtocol = 0x8809
)

// IP protocol numbers used for port extraction.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// Errors returned by Parse. The frame is then only partly described.
var (
	// ErrShort means the frame ends before its Ethernet header does.
	ErrShort = errors.New("frame shorter than an Ethernet header")
)

// Key identifies a flow. It is comparable, so it can key a map, and holds
// no pointers. Fields a frame does not have are zero. IPv4 addresses are
// stored in the IPv4-mapped IPv6 form.
type Key struct {
	Src, Dst         MAC
	VLAN             uint16
	EtherType        uint16
	SrcIP, DstIP     [16]byte
	Proto            uint8
	SrcPort, DstPort uint16
}

// Frame is what Parse learns about an Ethernet frame.
type Frame struct {
	Key
	// L3 is the offset of the network header (IPv4, IPv6, or the ARP
	// packet when ARP is set) in the frame, 0 if none.
	L3 int
	// L4 is the offset of the transport header, 0 if none (or a fragment).
	L4 int
	// HasIP is set for IPv4 and IPv6 frames whose header was complete.
	HasIP bool
	// Tagged is set when the frame carries an 802.1Q tag.
	Tagged bool
	// ARP is set for an ARP frame (EtherType ARP) whose packet is a
	// complete Ethernet/IPv4 one: neigh.ARP(eth[f.L3:]) reads it. ARP
	// fields are not part of the Key: a flow hash sees an ARP frame by
	// its MACs only, as teamd's tx_hash does.
	ARP bool
	// ND is set for an IPv6 neighbour solicitation or advertisement that
	// neigh.ND accepts (ICMPv6 right after the IPv6 header, hop limit
	// 255, checksum and options right): neigh.ND(eth[f.L3:]) reads it.
	// Its Key is the IPv6 one (Proto ProtoICMPv6, no ports).
	ND bool
}

var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

// Parse fills f from the Ethernet frame eth. Only a frame shorter than an
// Ethernet header is an error; truncated upper layers simply stop the
// parse. Parse never allocates and never panics.
func Parse(eth []byte, f *Frame) error {
	*f = Frame{}
	if len(eth) < 14 {
		return ErrShort
	}
	copy(f.Dst[:], eth[0:6])
	copy(f.Src[:], eth[6:12])
	et := binary.BigEndian.Uint16(eth[12:14])
	off := 14
	for (et == EtherTypeVLAN || et == EtherTypeQinQ) && len(eth) >= off+4 {
		if !f.Tagged {
			f.VLAN = binary.BigEndian.Uint16(eth[off:]) & 0x0fff
			f.Tagged = true
		}
		et = binary.BigEndian.Uint16(eth[off+2:])
		off += 4
	}
	f.EtherType = et
	switch et {
	case EtherTypeARP:
		if neigh.ARP(eth[off:]).IsValid() {
			f.L3 = off
			f.ARP = true
		}
	case EtherTypeIPv4:
		b := eth[off:]
		if len(b) < 20 || b[0]>>4 != 4 {
			return nil
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return nil
		}
		f.L3 = off
		f.HasIP = true
		copy(f.SrcIP[:12], v4InV6Prefix[:])
		copy(f.DstIP[:12], v4InV6Prefix[:])
		copy(f.SrcIP[12:], b[12:16])
		copy(f.DstIP[12:], b[16:20])
		f.Proto = b[9]
		fragOff := binary.BigEndian.Uint16(b[6:8]) & 0x1fff
		if fragOff != 0 {
			return nil // not the first fragment: no ports
		}
		parseL4(eth, off+ihl, f)
	case EtherTypeIPv6:
		b := eth[off:]
		if len(b) < 40 || b[0]>>4 != 6 {
			return nil
		}
		f.L3 = off
		f.HasIP = true
		copy(f.SrcIP[:], b[8:24])
		copy(f.DstIP[:], b[24:40])
		next := b[6]
		l4 := off + 40
		// Walk a bounded number of extension headers.
		for i := 0; i < 8; i++ {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(eth) < l4+8 {
					f.Proto = next
					return nil
				}
				next2 := eth[l4]
				l4 += (int(eth[l4+1]) + 1) * 8
				next = next2
				continue
			case 44: // fragment
				if len(eth) < l4+8 {
					f.Proto = next
					return nil
				}
				frag := binary.BigEndian.Uint16(eth[l4+2:]) &^ 7
				next = eth[l4]
				l4 += 8
				f.Proto = next
				if frag != 0 {
					return nil
				}
				continue
			}
			break
		}
		f.Proto = next
		if next == ProtoICMPv6 && l4 == off+40 && isND(eth[off:]) {
			f.ND = true
		}
		parseL4(eth, l4, f)
	}
	return nil
}

// isND reports whether the IPv6 packet ip (ICMPv6 as next header) is a
// valid NS or NA: the type is looked at first, so other ICMPv6 messages
// cost no checksum.
func isND(ip []byte) bool {
	if len(ip) < 41 {
		return false
	}
	t := neigh.NDType(ip[40])
	return (t == neigh.TypeNeighborSolicitation || t == neigh.TypeNeighborAdvertisement) && neigh.ND(ip).IsValid()
}

func parseL4(eth []byte, off int, f *Frame) {
	switch f.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP:
		if off < 0 || len(eth) < off+4 {
			return
		}
		f.L4 = off
		f.SrcPort = binary.BigEndian.Uint16(eth[off:])
		f.DstPort = binary.BigEndian.Uint16(eth[off+2:])
	}
}

// IPv4 returns the 4-byte form of an IPv4-mapped address in a Key.
func IPv4(a [16]byte) (ip [4]byte, ok bool) {
	if [12]byte(a[:12]) != v4InV6Prefix {
		return ip, false
	}
	return [4]byte(a[12:]), true
}
