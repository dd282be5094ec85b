package frame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// Spec describes a frame to Build: what `teamd-go ctl explain` is told
// on its command line. Zero fields are left out: no VLAN tag without
// VLAN, no IP header without addresses, no ports without a transport.
type Spec struct {
	Src, Dst MAC
	// VLAN is the 802.1Q VLAN ID, 0 for an untagged frame.
	VLAN uint16
	// SrcIP and DstIP give an IPv4 or IPv6 header (both of one family).
	SrcIP, DstIP netip.Addr
	// Proto is the IP protocol; with TCP, UDP or SCTP the ports follow.
	Proto            uint8
	SrcPort, DstPort uint16
	// ARP makes an IPv4 ARP packet instead (1 request, 2 reply): sender
	// Src/SrcIP, target DstIP (and Dst for a reply).
	ARP uint16
}

// ErrSpec is returned by Build for a description no frame fits.
var ErrSpec = errors.New("bad frame description")

// Build returns the Ethernet frame s describes, padded to 60 bytes, such
// that Parse reads s back.
func Build(s Spec) ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, s.Dst[:]...)
	b = append(b, s.Src[:]...)
	if s.VLAN != 0 {
		if s.VLAN > 4094 {
			return nil, fmt.Errorf("%w: VLAN %d (1-4094)", ErrSpec, s.VLAN)
		}
		b = binary.BigEndian.AppendUint16(b, EtherTypeVLAN)
		b = binary.BigEndian.AppendUint16(b, s.VLAN)
	}
	switch {
	case s.ARP != 0:
		if !s.SrcIP.Is4() || !s.DstIP.Is4() {
			return nil, fmt.Errorf("%w: ARP needs IPv4 source and destination addresses", ErrSpec)
		}
		b = binary.BigEndian.AppendUint16(b, EtherTypeARP)
		p := neigh.Packet{Op: neigh.Op(s.ARP), SenderMAC: s.Src, SenderIP: s.SrcIP.As4(), TargetIP: s.DstIP.As4()}
		if p.Op != neigh.OpRequest {
			p.TargetMAC = s.Dst
		}
		b = p.Append(b)
	case !s.SrcIP.IsValid() && !s.DstIP.IsValid():
		if s.Proto != 0 || s.SrcPort != 0 || s.DstPort != 0 {
			return nil, fmt.Errorf("%w: a protocol or ports need IP addresses", ErrSpec)
		}
		b = binary.BigEndian.AppendUint16(b, 0x88b5) // IEEE local experimental
	case s.SrcIP.Is4() && s.DstIP.Is4():
		b = binary.BigEndian.AppendUint16(b, EtherTypeIPv4)
		l3 := len(b)
		b = append(b, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, s.Proto, 0, 0)
		src, dst := s.SrcIP.As4(), s.DstIP.As4()
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
		var err error
		if b, err = appendL4(b, s); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(b[l3+2:], uint16(len(b)-l3))
		binary.BigEndian.PutUint16(b[l3+10:], checksum(b[l3:l3+20]))
	case s.SrcIP.Is6() && s.DstIP.Is6() && !s.SrcIP.Is4In6() && !s.DstIP.Is4In6():
		b = binary.BigEndian.AppendUint16(b, EtherTypeIPv6)
		l3 := len(b)
		b = append(b, 0x60, 0, 0, 0, 0, 0, s.Proto, 64)
		src, dst := s.SrcIP.As16(), s.DstIP.As16()
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
		var err error
		if b, err = appendL4(b, s); err != nil {
			return nil, err
		}
		binary.BigEndian.PutUint16(b[l3+4:], uint16(len(b)-l3-40))
	default:
		return nil, fmt.Errorf("%w: source and destination addresses must both be IPv4 or both IPv6", ErrSpec)
	}
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b, nil
}

// appendL4 appends a transport header with the ports (checksums left 0)
// and a few bytes of payload.
func appendL4(b []byte, s Spec) ([]byte, error) {
	switch s.Proto {
	case ProtoTCP:
		b = binary.BigEndian.AppendUint16(b, s.SrcPort)
		b = binary.BigEndian.AppendUint16(b, s.DstPort)
		b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0)
	case ProtoUDP:
		b = binary.BigEndian.AppendUint16(b, s.SrcPort)
		b = binary.BigEndian.AppendUint16(b, s.DstPort)
		b = binary.BigEndian.AppendUint16(b, 8+4)
		b = append(b, 0, 0)
	case ProtoSCTP:
		b = binary.BigEndian.AppendUint16(b, s.SrcPort)
		b = binary.BigEndian.AppendUint16(b, s.DstPort)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	default:
		if s.SrcPort != 0 || s.DstPort != 0 {
			return nil, fmt.Errorf("%w: ports need tcp, udp or sctp (protocol %d)", ErrSpec, s.Proto)
		}
	}
	return append(b, 't', 'e', 'a', 'm'), nil
}

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
