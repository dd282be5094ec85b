package team

import (
	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
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
	// arp holds the ARP replies and neighbour advertisements
	// rx_translation sends in one batch.
	arp  [dataplane.BatchSize][]byte
	narp int
	// scr holds copies of flooded frames in the other VLAN form.
	scr  scratch
	tags vlanCounts
}

func (r *memberReceiver) batch(bufs [][]byte, sizes []int) {
	t, m := r.t, r.m
	s := t.snap.Load()
	now := t.now()
	r.narp = 0
	r.scr.n = 0
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
		if (f.ARP || f.ND) && s.pingw != nil && s.pingw.isReply(s.macs[m.id], f, eth) {
			s.pingw.replied[m.id].Store(now)
			continue // an arp_ping or nsna_ping answer, for the link watcher
		}
		if !s.collecting[m.id] {
			t.c.rxDroppedNotCollecting.Add(1)
			continue
		}
		if f.Proto == frame.ProtoTCP && t.measure.Load() {
			// An acknowledgment of a segment timed on a member
			// (lb.Delays.AckTCP: one atomic load unless one is timed).
			t.delays.AckTCP(f, eth, now)
		}
		vid, _ := frame.VLANTag(eth)
		if x := s.xlat; x != nil {
			if r.translate(x, f, eth, fr, vid) {
				continue
			}
		}
		switch verdict, owner := s.switchRx(t.fdb, f, vid, m.id, now); verdict {
		case rxFlood:
			if s.bcastRx >= 0 && !t.bcast.admit(m.id, eth, now) {
				// Around a move the filter keeps the old and the new
				// broadcast member from both delivering a copy
				// (broadcast.go).
				t.c.rxDroppedDupBroadcast.Add(1)
				continue
			}
			// Each vnic on the VLAN in the form it takes: as on the
			// wire, or bare (alt, the frame copied once with its tag
			// popped).
			var alt []byte
			for _, v := range s.vnics {
				if v == nil {
					continue
				}
				switch deliver, bare := s.vlanOf(v.id).egress(vid); {
				case !deliver:
				case !bare:
					r.out.toVNIC(v.id, fr)
				default:
					if alt == nil {
						alt, _ = r.tags.convert(r.scr.copyOf(fr), vid, false)
					}
					if alt != nil {
						r.out.toVNIC(v.id, alt)
					}
				}
			}
		case rxNoVLAN:
			t.c.rxDroppedVLAN.Add(1)
		case rxDupBroadcast:
			t.c.rxDroppedDupBroadcast.Add(1)
		case rxNotOwned:
			t.c.rxDroppedNotOwned.Add(1)
		case rxWrongMember:
			t.c.rxDroppedWrongMember.Add(1)
		default:
			deliver, bare := s.vlanOf(owner).egress(vid)
			if !deliver {
				t.c.rxDroppedVLAN.Add(1) // a reload took the owner off the VLAN
				continue
			}
			if bare {
				var ok bool
				if fr, ok = r.tags.convert(fr, vid, false); !ok {
					t.c.rxMalformed.Add(1)
					continue
				}
			}
			r.out.toVNIC(owner, fr)
		}
	}
	r.out.flush(s)
	r.tags.flush(t)
	// Counted once the batch is delivered (as on the vnic side).
	m.stats.rxPackets.Add(uint64(len(bufs)))
	m.stats.rxBytes.Add(rxBytes)
}

// rxVerdict is what the virtual switch does with a received frame.
type rxVerdict uint8

const (
	rxDeliver      rxVerdict = iota // to the vnic owning the destination
	rxFlood                         // a multicast: to every vnic
	rxDupBroadcast                  // a multicast on a member that does not take them in
	rxNotOwned                      // no vnic owns the destination
	rxWrongMember                   // the owner's MAC lives on another member
	rxNoVLAN                        // no vnic is on the frame's VLAN
)

// switchRx decides where a frame received on member m goes once
// rx_translation (if on) has readdressed it; the owner is the vnic for
// rxDeliver. The data path and explain share it. An rxFlood still passes
// the broadcast filter (bcastFilter.admit) when one member takes
// broadcasts in.
func (s *snapshot) switchRx(db *fdb, f *frame.Frame, vid uint16, m int, now int64) (rxVerdict, int) {
	if !s.onVLAN(vid) {
		return rxNoVLAN, -1
	}
	if f.Dst.IsMulticast() {
		if !s.takesBroadcasts(m, now) {
			// The switch floods broadcasts to every member; in
			// switch-independent mode one takes them in.
			return rxDupBroadcast, -1
		}
		return rxFlood, -1
	}
	owner := db.lookup(fdbKey{vid, f.Dst})
	if owner < 0 || owner >= len(s.vnics) || s.vnics[owner] == nil {
		// docs/contract.md §1: the virtual switch delivers only to
		// MACs a vnic owns. A reply sent to a member's own MAC (the
		// auto-last-hop bug, docs/bugs.md) ends here.
		return rxNotOwned, owner
	}
	if s.mode == modeSwitchIndependent {
		if h := s.home(owner); h >= 0 && h != m && !s.acceptsOnPrevHome(owner, m, now) {
			// The switch learned this MAC on its home member; a copy
			// on another member is a flood and would duplicate.
			return rxWrongMember, owner
		}
	}
	return rxDeliver, owner
}

// translate applies rx_translation to a received frame. It answers ARP
// requests and neighbour solicitations for the VMs' IPs itself
// (consuming them) and readdresses frames sent to the team MAC to the VM
// holding their destination IP. It reports whether the frame was
// consumed.
func (r *memberReceiver) translate(x *xlat, f *frame.Frame, eth, fr []byte, vid uint16) bool {
	t := r.t
	act, _, mac := x.rxAction(f, eth, vid)
	switch act {
	case xlatAnswerARP, xlatAnswerND:
		if r.arp[r.narp] == nil {
			r.arp[r.narp] = make([]byte, dataplane.VnetHdrLen+max(neigh.FrameLen, neigh.NDFrameLen)+frame.TagLen)
		}
		var reply []byte
		if act == xlatAnswerARP {
			reply = x.arpReply(r.arp[r.narp], untaggedARP(f, eth))
			t.c.arpAnswered.Add(1)
		} else {
			reply = x.ndReply(r.arp[r.narp], untaggedND(f, eth), f.Src)
			t.c.ndAnswered.Add(1)
		}
		r.narp++
		if vid != 0 {
			reply, _ = frame.PushTag(reply, vid) // answered on the request's VLAN
		}
		r.out.members[r.m.id] = append(r.out.members[r.m.id], reply)
		return true
	case xlatPass:
		return false
	case xlatMiss:
		t.c.rxTranslationMiss.Add(1)
		return true
	}
	copy(eth[0:6], mac[:])
	if arp := untaggedARP(f, eth); arp != nil {
		arp.SetTargetMAC(mac)
	}
	f.Dst = mac
	t.c.rxTranslated.Add(1)
	return false
}

// xlatAction is what rx_translation does with a received frame.
type xlatAction uint8

const (
	xlatPass      xlatAction = iota // not for the team MAC: left alone
	xlatAnswerARP                   // an ARP request for a VM's IP: the team answers
	xlatAnswerND                    // a neighbour solicitation for a VM's IPv6 address: the team answers
	xlatReaddress                   // for the team MAC: to the VM holding the IP
	xlatMiss                        // for the team MAC, no binding: dropped
)

// rxAction decides what rx_translation does with a received frame and,
// for xlatReaddress, the VM MAC it goes to; ip is the address the
// decision was made on (16 bytes, IPv4 mapped). The data path and
// explain share it.
func (x *xlat) rxAction(f *frame.Frame, eth []byte, vid uint16) (act xlatAction, ip [16]byte, mac frame.MAC) {
	arp := untaggedARP(f, eth)
	if arp != nil && arp.Op() == neigh.OpRequest {
		target := mapped4(arp.TargetIP())
		if _, ok := x.lookup(xlatKey{vid, target}); !ok || arp.IsGratuitous() {
			return xlatPass, target, mac // not ours, or a gratuitous ARP: pass it on
		}
		return xlatAnswerARP, target, mac
	}
	if nd := untaggedND(f, eth); nd != nil && nd.Type() == neigh.TypeNeighborSolicitation {
		target := nd.Target()
		if _, ok := x.lookup(xlatKey{vid, target}); !ok || nd.Src() == ([16]byte{}) {
			// Not ours, or duplicate address detection: the VM
			// defends its address itself (its NA leaves rewritten).
			return xlatPass, target, mac
		}
		return xlatAnswerND, target, mac
	}
	if f.Dst != x.teamMAC {
		return xlatPass, ip, mac
	}
	switch {
	case arp != nil:
		ip = mapped4(arp.TargetIP())
	case (f.EtherType == frame.EtherTypeIPv4 || f.EtherType == frame.EtherTypeIPv6) && f.HasIP:
		ip = f.DstIP
	default:
		return xlatMiss, ip, mac
	}
	mac, ok := x.lookup(xlatKey{vid, ip})
	if !ok {
		return xlatMiss, ip, mac
	}
	return xlatReaddress, ip, mac
}
