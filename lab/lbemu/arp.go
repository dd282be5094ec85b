package lbemu

import (
	"net/netip"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// handleARP learns from an ARP packet received on side s: the sender of a
// reply or request addressed to the box. Replies for the kernel's own
// requests teach the Router too, harmlessly. It releases the frames that
// waited for the sender. Called without r.mu.
func (r *Router) handleARP(s Side, b []byte, out []output) []output {
	a := neigh.ARP(b)
	if !a.IsValid() {
		return out
	}
	in := r.ifs[s]
	ip, mac := a.SenderIP(), frame.MAC(a.SenderMAC())
	if a.TargetIP() != in.ip || ip == [4]byte{} || mac.IsMulticast() || mac.IsZero() {
		return out
	}
	if !in.cfg.Addr.Masked().Contains(netip.AddrFrom4(ip)) {
		return out
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	// The ARP sender hardware address, not the Ethernet source: a team
	// may have rewritten the latter; the former is who holds the IP.
	r.arp[ip] = arpEntry{mac: mac, side: s, expires: now.Add(arpTimeout)}
	r.stats.ARPLearned++
	p, ok := r.pending[ip]
	if !ok || p.side != s {
		return out
	}
	delete(r.pending, ip)
	for _, fr := range p.frames {
		r.stats.Routed++
		out = r.emit(s, mac, fr, out)
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
	pkt := make([]byte, r.vh, r.vh+neigh.FrameLen)
	r.stats.ARPRequests++
	return neigh.AppendRequest(pkt, in.mac, in.ip, target)
}
