package lbemu

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// ARP operations.
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// ARP is an Ethernet/IPv4 ARP packet (RFC 826), without the Ethernet
// header.
type ARP struct {
	Op        uint16
	SenderMAC frame.MAC
	SenderIP  netip.Addr
	TargetMAC frame.MAC
	TargetIP  netip.Addr
}

// arpLen is the length of an Ethernet/IPv4 ARP packet.
const arpLen = 28

// ErrNotARP is returned by UnmarshalBinary for input that is not an
// Ethernet/IPv4 ARP packet.
var ErrNotARP = errors.New("not an Ethernet/IPv4 ARP packet")

// UnmarshalBinary parses b; it never panics, whatever b holds.
func (a *ARP) UnmarshalBinary(b []byte) error {
	if len(b) < arpLen {
		return ErrNotARP
	}
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != etherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return ErrNotARP
	}
	a.Op = binary.BigEndian.Uint16(b[6:8])
	a.SenderMAC = frame.MAC(b[8:14])
	a.SenderIP = netip.AddrFrom4([4]byte(b[14:18]))
	a.TargetMAC = frame.MAC(b[18:24])
	a.TargetIP = netip.AddrFrom4([4]byte(b[24:28]))
	return nil
}

// MarshalBinary encodes a; both addresses must be IPv4.
func (a *ARP) MarshalBinary() ([]byte, error) {
	if !a.SenderIP.Is4() || !a.TargetIP.Is4() {
		return nil, ErrNotARP
	}
	b := make([]byte, arpLen)
	binary.BigEndian.PutUint16(b[0:2], 1)
	binary.BigEndian.PutUint16(b[2:4], etherTypeIPv4)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:8], a.Op)
	copy(b[8:14], a.SenderMAC[:])
	s, t := a.SenderIP.As4(), a.TargetIP.As4()
	copy(b[14:18], s[:])
	copy(b[18:24], a.TargetMAC[:])
	copy(b[24:28], t[:])
	return b, nil
}

// handleARP learns from an ARP packet received on side s: the sender of a
// reply or request addressed to the box. Replies for the kernel's own
// requests teach the Router too, harmlessly. It releases the frames that
// waited for the sender. Called without r.mu.
func (r *Router) handleARP(s Side, b []byte, out []output) []output {
	var a ARP
	if a.UnmarshalBinary(b) != nil {
		return out
	}
	in := r.ifs[s]
	if a.TargetIP.As4() != in.ip || !a.SenderIP.Is4() || a.SenderIP.IsUnspecified() ||
		a.SenderMAC.IsMulticast() || a.SenderMAC.IsZero() {
		return out
	}
	if !in.cfg.Addr.Masked().Contains(a.SenderIP) {
		return out
	}
	now := r.now()
	ip := a.SenderIP.As4()
	r.mu.Lock()
	defer r.mu.Unlock()
	// The ARP sender hardware address, not the Ethernet source: a team
	// may have rewritten the latter; the former is who holds the IP.
	r.arp[ip] = arpEntry{mac: a.SenderMAC, side: s, expires: now.Add(arpTimeout)}
	r.stats.ARPLearned++
	p, ok := r.pending[ip]
	if !ok || p.side != s {
		return out
	}
	delete(r.pending, ip)
	for _, fr := range p.frames {
		r.stats.Routed++
		out = r.emit(s, a.SenderMAC, fr, out)
	}
	return out
}

// queue keeps a copy of pkt (virtio-net header and frame) until nh on
// side egress is resolved, sending the first request now. Called with
// r.mu held.
func (r *Router) queue(egress Side, nh [4]byte, pkt []byte, now time.Time, out []output) []output {
	p, ok := r.pending[nh]
	if !ok {
		p = &pending{side: egress, tries: 1, next: now.Add(arpRetry)}
		r.pending[nh] = p
		out = append(out, output{egress, r.arpRequest(egress, nh)})
	}
	if len(p.frames) >= maxPending {
		r.stats.Unresolved++
		return out
	}
	p.frames = append(p.frames, append([]byte(nil), pkt...))
	return out
}

// arpRequest builds a broadcast who-has for target from side s, behind
// an all-zero virtio-net header if the ports have one (a plain frame).
// Called with r.mu held.
func (r *Router) arpRequest(s Side, target [4]byte) []byte {
	in := r.ifs[s]
	a := ARP{Op: ARPRequest, SenderMAC: in.mac, SenderIP: netip.AddrFrom4(in.ip), TargetIP: netip.AddrFrom4(target)}
	body, _ := a.MarshalBinary()
	pkt := make([]byte, r.vh+minFrameLength)
	fr := pkt[r.vh:]
	copy(fr[0:6], frame.Broadcast[:])
	copy(fr[6:12], in.mac[:])
	binary.BigEndian.PutUint16(fr[12:14], etherTypeARP)
	copy(fr[ethHeaderLen:], body)
	r.stats.ARPRequests++
	return pkt
}
