package team

import (
	"encoding/binary"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// readMember is a member's goroutine: it reads the frames from the
// physical switch (the member port's rx counters) and delivers each to
// the vnic that owns its destination MAC. Nothing is ever forwarded from
// one member to another.
func (t *Team) readMember(m *member) {
	r := &memberReceiver{t: t, m: m}
	t.startReader(&m.port, "member", r.batch)
}

type memberReceiver struct {
	t   *Team
	m   *member
	out outbox
	f   frame.Frame
	// arp holds ARP replies rx_translation sends in one batch.
	arp  [dataplane.BatchSize][]byte
	narp int
}

func (r *memberReceiver) batch(bufs [][]byte, sizes []int) {
	t, m := r.t, r.m
	s := t.snap.Load()
	now := t.now()
	r.narp = 0
	var rxBytes uint64
	for i := range bufs {
		fr := bufs[i][:sizes[i]]
		if len(fr) < dataplane.VnetHdrLen+14 {
			t.c.rxMalformed.Add(1)
			continue
		}
		eth := fr[dataplane.VnetHdrLen:]
		rxBytes += uint64(len(eth))
		f := &r.f
		_ = frame.Parse(eth, f)
		if f.EtherType == frame.EtherTypeSlowProtocol {
			t.c.rxSlowProtocol.Add(1)
			t.slowProtocol(m, eth)
			continue
		}
		if f.EtherType == frame.EtherTypeARP && s.arpw != nil && s.arpw.reply(m.id, s.macs[m.id], eth, now) {
			continue // an arp_ping reply, for the link watcher
		}
		if !s.collecting[m.id] {
			t.c.rxDroppedNotCollecting.Add(1)
			continue
		}
		if x := s.xlat; x != nil {
			if r.translate(x, f, eth, fr) {
				continue
			}
		}
		if f.Dst.IsMulticast() {
			if s.bcastRx >= 0 && (!s.takesBroadcasts(m.id, now) || !t.bcast.admit(m.id, eth, now)) {
				// The switch floods broadcasts to every member; in
				// switch-independent mode one takes them in, and
				// around a move the filter keeps the old and the new
				// one from both delivering a copy (broadcast.go).
				t.c.rxDroppedDupBroadcast.Add(1)
				continue
			}
			for _, v := range s.vnics {
				if v != nil {
					r.out.toVNIC(v.id, fr)
				}
			}
			continue
		}
		owner := t.fdb.lookup(f.Dst)
		if owner < 0 || owner >= len(s.vnics) || s.vnics[owner] == nil {
			// SPEC §1: the virtual switch delivers only to MACs a vnic
			// owns. A reply sent to a member's own MAC (the first seed)
			// ends here.
			t.c.rxDroppedNotOwned.Add(1)
			continue
		}
		if s.mode == modeSwitchIndependent {
			if h := s.home(owner); h >= 0 && h != m.id && !s.acceptsOnPrevHome(owner, m.id, now) {
				// The switch learned this MAC on its home member; a copy
				// on another member is a flood and would duplicate.
				t.c.rxDroppedWrongMember.Add(1)
				continue
			}
		}
		r.out.toVNIC(owner, fr)
	}
	r.out.flush(s)
	// Counted once the batch is delivered (as on the vnic side).
	m.stats.rxPackets.Add(uint64(len(bufs)))
	m.stats.rxBytes.Add(rxBytes)
}

// slowProtocol handles a LACPDU or Marker received on a member. Without
// LACP they are counted and dropped; they never reach a vnic.
func (t *Team) slowProtocol(m *member, eth []byte) {
	if h := t.slowHandler.Load(); h != nil {
		(*h)(m.id, eth)
	}
}

// translate applies rx_translation to a received frame. It answers ARP
// requests for the VMs' IPs itself (consuming them) and readdresses
// frames sent to the team MAC to the VM holding their destination IP. It
// reports whether the frame was consumed.
func (r *memberReceiver) translate(x *xlat, f *frame.Frame, eth, fr []byte) bool {
	t := r.t
	arp := isARPv4(f, eth)
	if arp && binary.BigEndian.Uint16(eth[20:22]) == 1 {
		target := [4]byte(eth[38:42])
		if _, ok := x.lookup(target); !ok || [4]byte(eth[28:32]) == target {
			return false // not ours, or a gratuitous ARP: pass it on
		}
		if r.arp[r.narp] == nil {
			r.arp[r.narp] = make([]byte, dataplane.VnetHdrLen+60)
		}
		reply := x.arpReply(r.arp[r.narp], eth)
		r.narp++
		r.out.members[r.m.id] = append(r.out.members[r.m.id], reply)
		t.c.arpAnswered.Add(1)
		return true
	}
	if f.Dst != x.teamMAC {
		return false
	}
	var ip [4]byte
	switch {
	case arp:
		ip = [4]byte(eth[38:42])
	case f.EtherType == frame.EtherTypeIPv4 && f.HasIP:
		ip, _ = frame.IPv4(f.DstIP)
	default:
		t.c.rxTranslationMiss.Add(1)
		return true
	}
	mac, ok := x.lookup(ip)
	if !ok {
		t.c.rxTranslationMiss.Add(1)
		return true
	}
	copy(eth[0:6], mac[:])
	if arp {
		copy(eth[32:38], mac[:])
	}
	f.Dst = mac
	t.c.rxTranslated.Add(1)
	return false
}
