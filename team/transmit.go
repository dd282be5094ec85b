package team

import (
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/lb"
)

// outbox gathers one batch's frames per destination port, so that each
// destination gets one Write per batch. It belongs to one goroutine and
// is reused for every batch: nothing is allocated per frame.
type outbox struct {
	members [lb.MaxMembers][][]byte
	vnics   [][][]byte
}

func (o *outbox) toVNIC(id int, fr []byte) {
	for id >= len(o.vnics) {
		o.vnics = append(o.vnics, make([][]byte, 0, dataplane.BatchSize))
	}
	o.vnics[id] = append(o.vnics[id], fr)
}

func (o *outbox) flush(s *snapshot) {
	for id := range o.members {
		if len(o.members[id]) == 0 {
			continue
		}
		if m := s.members[id]; m != nil {
			m.write(o.members[id])
		}
		clear(o.members[id])
		o.members[id] = o.members[id][:0]
	}
	for id := range o.vnics {
		if len(o.vnics[id]) == 0 {
			continue
		}
		if id < len(s.vnics) && s.vnics[id] != nil {
			s.vnics[id].write(o.vnics[id])
		}
		clear(o.vnics[id])
		o.vnics[id] = o.vnics[id][:0]
	}
}

func newBatch() ([][]byte, []int) {
	bufs := make([][]byte, dataplane.BatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, dataplane.MaxFrame)
	}
	return bufs, make([]int, dataplane.BatchSize)
}

// readVNIC is a vnic's goroutine: it reads the frames the VM sent (the
// vnic port's rx counters) and sends each to the vnic that owns its
// destination, or out of the team on the member the balancer picks;
// broadcasts and multicasts go to both.
func (t *Team) readVNIC(v *vnic) {
	t.startReader(&v.port, "vnic", v.fwd.batch)
}

// startReader starts p's goroutine, readLoop. Everything the goroutine
// needs is allocated here, before it starts, on the control path: a
// goroutine that allocated when the scheduler first ran it would do so at
// a moment nobody controls (on a loaded machine, in the middle of whatever
// runs next, such as another goroutine's allocation check).
func (t *Team) startReader(p *port, kind string, handle func(bufs [][]byte, sizes []int)) {
	bufs, sizes := newBatch()
	var own [][]byte
	if _, ok := p.dp.(dataplane.Loaner); ok {
		own = slices.Clone(bufs)
	}
	t.wg.Add(1)
	go t.readLoop(p, kind, handle, bufs, sizes, own)
}

// readLoop is a port's goroutine: it reads batches into bufs until the
// port is closed and hands each to handle. A read error other than
// closing is logged (at most every 10 s, not per retry) and retried after
// 10 ms.
//
// A port that lends its frames (dataplane.Loaner: AF_XDP, whose frames
// are then handled where the kernel put them, in the UMEM, not copied
// out) is read with ReadLoan, the batch given back with Release once
// handle is done with it, and own, the goroutine's buffers, put back in
// bufs before each read (the lent slices replaced them).
func (t *Team) readLoop(p *port, kind string, handle func(bufs [][]byte, sizes []int), bufs [][]byte, sizes []int, own [][]byte) {
	defer t.wg.Done()
	defer close(p.done)
	loaner, _ := p.dp.(dataplane.Loaner)
	var logged time.Time
	r, _ := p.dp.(dataplane.Readier)
	w := newSpinWindow(0)
	for {
		if r != nil {
			t.spin(r, &w)
		}
		var (
			n   int
			err error
		)
		if loaner != nil {
			copy(bufs, own)
			n, err = loaner.ReadLoan(bufs, sizes)
		} else {
			n, err = p.dp.Read(bufs, sizes)
		}
		if r != nil && n > 0 {
			w.arrived(spinClock())
		}
		if err != nil {
			if errors.Is(err, dataplane.ErrClosed) {
				return
			}
			if time.Since(logged) > 10*time.Second {
				t.log.Warn(kind+" read failed; retrying", kind, p.name, "err", err)
				logged = time.Now()
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		handle(bufs[:n], sizes[:n])
		if loaner != nil {
			loaner.Release()
		}
	}
}

// spin is readLoop's wait before a Read: if the port's ring is empty,
// it spins on r for w's window (if the team lets it spin now).
func (t *Team) spin(r dataplane.Readier, w *spinWindow) {
	if r.Ready() {
		return // frames are waiting: no gap to measure
	}
	w.max = t.spinMax.Load()
	now := spinClock()
	win := w.wentIdle(now)
	if win <= 0 || !t.spinTake() {
		return
	}
	_, stolen := spinUntil(r, now+win, spinClock)
	t.spinGive()
	if stolen {
		w.stolen(spinClock())
	}
}

// vnicForwarder is a vnic goroutine's state, split out so that tests and
// benchmarks can drive one batch at a time.
type vnicForwarder struct {
	// mu is held while a batch is forwarded, so that explain can peek
	// at the Picker between batches (an uncontended lock per batch).
	mu     sync.Mutex
	t      *Team
	v      *vnic
	out    outbox
	f      frame.Frame
	picker lb.Picker
	bal    lb.Balancer
	// scr holds copies of flooded frames: in the other VLAN form
	// (vlan.go), and those rx_translation rewrites for the wire while
	// the vnics get the original.
	scr  scratch
	tags vlanCounts
}

func (w *vnicForwarder) batch(bufs [][]byte, sizes []int) {
	t, v := w.t, w.v
	s := t.snap.Load()
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.bal != w.bal {
		// A reload swapped the balancer: start a picker of the new one.
		w.bal, w.picker = s.bal, s.bal.NewPicker()
	}
	now := t.now()
	w.scr.n = 0
	pol := s.vlanOf(v.id)
	var rxBytes uint64
	for i := range bufs {
		fr := bufs[i][:sizes[i]]
		if len(fr) < dataplane.VnetHdrLen+14 {
			t.c.vnicDroppedMalformed.Add(1)
			continue
		}
		eth := fr[dataplane.VnetHdrLen:]
		rxBytes += uint64(len(eth))
		f := &w.f
		_ = frame.Parse(eth, f)
		if f.EtherType == frame.EtherTypeSlowProtocol {
			// LACPDUs and Markers belong to the link, not to VMs:
			// a VM must never speak LACP to the physical switch.
			t.c.vnicDroppedSlowProto.Add(1)
			continue
		}
		vid, in := pol.ingress(eth)
		switch in {
		case inDropVLAN:
			t.c.vnicDroppedVLAN.Add(1)
			v.src.droppedVLAN.Add(1)
			continue
		case inDropUntagged:
			t.c.vnicDroppedUntagged.Add(1)
			v.src.droppedVLAN.Add(1)
			continue
		case inPriority:
			frame.SetVID(fr, vid)
		}
		bare := in == inBare
		if pol != nil {
			// The balancer's vlan hash field reads the VLAN the
			// frame leaves with (a transparent vnic's frames keep
			// what the parser read, an S-tag's id too, as before).
			f.VLAN = vid
		}
		key := fdbKey{vid, f.Src}
		e, verdict := t.fdb.learn(key, v.id, v.src.locked.Load(), now)
		if verdict == learnLocked {
			e, verdict = w.learnPinned(key, now)
		}
		switch verdict {
		case learnOK:
			learnIPv4(e, f, eth)
			learnIPv6(e, f, eth, now)
		case learnSpoofed:
			// Never sent anywhere: not to a member (the physical
			// switch would move the MAC), not to another vnic.
			w.spoofed(s, key, now)
			continue
		case learnRefused:
			v.src.learnRefused.Add(1)
		}
		if owner, flood := switchTx(t.fdb, f, vid); !flood {
			if owner >= 0 {
				if owner != v.id {
					w.toVNIC(s, owner, vid, fr, bare)
				}
				continue
			}
			if bare {
				var ok bool
				if fr, ok = w.tags.convert(fr, vid, true); !ok {
					t.c.vnicDroppedMalformed.Add(1)
					continue
				}
				shiftOffsets(f, frame.TagLen)
			}
			w.toTeam(s, fr[dataplane.VnetHdrLen:], fr, vid, now)
			continue
		}
		// A flood: the vnics on the VLAN in the form each takes, the
		// team in the wire form; alt is the frame in the other form
		// than fr's, made once if anyone needs it.
		var alt []byte
		for _, o := range s.vnics {
			if o == nil || o.id == v.id {
				continue
			}
			deliver, wantBare := s.vlanOf(o.id).egress(vid)
			switch {
			case !deliver:
			case wantBare == bare:
				w.out.toVNIC(o.id, fr)
			default:
				if alt == nil {
					alt = w.other(fr, vid, bare)
				}
				if alt != nil {
					w.out.toVNIC(o.id, alt)
				}
			}
		}
		if bare {
			if alt == nil {
				alt = w.other(fr, vid, bare)
			}
			if alt == nil {
				t.c.vnicDroppedMalformed.Add(1)
				continue
			}
			fr = alt
			shiftOffsets(f, frame.TagLen)
		}
		w.toTeam(s, fr[dataplane.VnetHdrLen:], fr, vid, now)
	}
	w.out.flush(s)
	w.tags.flush(t)
	// Counted once the batch is forwarded: a reader of the counters
	// knows every frame counted has been handled.
	v.stats.rxPackets.Add(uint64(len(bufs)))
	v.stats.rxBytes.Add(rxBytes)
}

// toVNIC switches a frame of VLAN vid (bare: without its tag) to vnic
// id, in the form the vnic takes, converting it in place.
func (w *vnicForwarder) toVNIC(s *snapshot, id int, vid uint16, fr []byte, bare bool) {
	deliver, wantBare := s.vlanOf(id).egress(vid)
	if !deliver {
		// Its entry is on this VLAN, so the vnic was on it; a reload
		// took it off between the lookup and here.
		return
	}
	if wantBare != bare {
		var ok bool
		if fr, ok = w.tags.convert(fr, vid, bare); !ok {
			w.t.c.vnicDroppedMalformed.Add(1)
			return
		}
	}
	w.out.toVNIC(id, fr)
}

// other returns a copy of fr (of VLAN vid, bare or not) in the other
// form, or nil if it cannot be converted.
func (w *vnicForwarder) other(fr []byte, vid uint16, bare bool) []byte {
	alt, ok := w.tags.convert(w.scr.copyOf(fr), vid, bare)
	if !ok {
		return nil
	}
	return alt
}

// learnPinned decides for a locked vnic sending from a MAC that has no
// entry on the frame's VLAN: a transparent vnic may send from its
// pinned MACs on any VLAN (they are pinned on VLAN 0), and claims them
// there; any other source is spoofed.
func (w *vnicForwarder) learnPinned(k fdbKey, now int64) (*fdbEntry, learnVerdict) {
	if p := w.v.src.pins.Load(); p != nil && slices.Contains(*p, k.mac) && w.t.snap.Load().vlanOf(w.v.id) == nil {
		return w.t.fdb.claim(k, w.v.id, now)
	}
	return nil, learnSpoofed
}

// toTeam sends one frame of VLAN vid out of the team.
func (w *vnicForwarder) toTeam(s *snapshot, eth, fr []byte, vid uint16, now int64) {
	t, f := w.t, &w.f
	if len(s.view.Members) == 0 {
		t.c.txDroppedNoMember.Add(1)
		return
	}
	home := s.home(w.v.id)
	var m int
	if s.viaHome(f, home) {
		m = home
	} else {
		m = w.picker.Pick(&s.view, f, w.v.id, len(eth), now)
	}
	if t.measure.Load() {
		// Time a TCP segment on m now and then: its acknowledgment
		// gives m's round-trip time (lb.Delays.SampleTCP: one atomic
		// load per frame while m has one timed).
		t.delays.SampleTCP(m, f, eth, now)
	}
	if x := s.xlat; x != nil {
		if f.Dst.IsMulticast() {
			// The vnics keep the original; the wire gets a copy.
			fr = w.scr.copyOf(fr)
			eth = fr[dataplane.VnetHdrLen:]
		}
		if ip, isNew := x.tx(f, eth, vid, w.v.id, now); isNew {
			// A VM new to this host (started, or migrated in): tell
			// the network its IP now lives behind our team MAC, on
			// the VLAN it speaks on.
			var a []byte
			if a4, ok := frame.IPv4(ip); ok {
				a = gratuitousARP(x.teamMAC, binary.BigEndian.Uint32(a4[:]))
			} else {
				a = unsolicitedNA(x.teamMAC, ip)
			}
			if vid != 0 {
				a, _ = frame.PushTag(a, vid)
			}
			w.out.members[m] = append(w.out.members[m], a)
			t.c.announcements.Add(1)
		}
		t.c.txTranslated.Add(1)
		w.out.members[m] = append(w.out.members[m], fr)
		return
	}
	if s.rewritesSource(f, m, home) {
		copy(eth[6:12], s.macs[m][:])
		t.c.txSourceMACRewritten.Add(1)
	}
	w.out.members[m] = append(w.out.members[m], fr)
}

// The decisions below are shared by the data path and explain (explain.go),
// so that explain can never disagree with what the data path does.

// switchTx is the virtual switch's decision for a frame a vnic sent on
// VLAN vid: a multicast floods (every other vnic and the team); a unicast
// goes to the vnic owning its destination on the VLAN (owner >= 0; the
// sender itself: dropped), or else out of the team.
func switchTx(db *fdb, f *frame.Frame, vid uint16) (owner int, flood bool) {
	if f.Dst.IsMulticast() {
		return -1, true
	}
	return db.lookup(fdbKey{vid, f.Dst}), false
}

// viaHome reports whether a frame of a vnic whose home member is home
// leaves on that member whatever the balancer says: broadcasts and
// multicasts in switch-independent mode leave with the vnic's own MAC,
// like everything else the switch learns the vnic from.
func (s *snapshot) viaHome(f *frame.Frame, home int) bool {
	return f.Dst.IsMulticast() && s.mode == modeSwitchIndependent && home >= 0
}

// rewritesSource reports whether a frame of a vnic whose home is home,
// leaving on member m without rx_translation, takes m's MAC as source.
// docs/contract.md §3.1: a frame leaving a member other than its vnic's
// home takes that member's MAC as source, so the physical switch never
// sees one MAC on two ports. This is what triggers the auto-last-hop bug
// (docs/bugs.md).
func (s *snapshot) rewritesSource(f *frame.Frame, m, home int) bool {
	return m != home && home >= 0 && !f.Dst.IsMulticast() && s.rewriteOn()
}

// rewriteOn reports whether source MACs are rewritten in this snapshot.
func (s *snapshot) rewriteOn() bool {
	switch s.rewrite {
	case rewriteAlways:
		return true
	case rewriteNever:
		return false
	}
	return s.mode == modeSwitchIndependent && !s.hyperv
}

// learnIPv4 remembers the IPv4 address a MAC speaks for (from ARP or IPv4
// sources), used to announce it by gratuitous ARP after a failover.
func learnIPv4(e *fdbEntry, f *frame.Frame, eth []byte) {
	var ip uint32
	switch {
	case f.EtherType == frame.EtherTypeIPv4 && f.HasIP:
		a, _ := frame.IPv4(f.SrcIP)
		ip = binary.BigEndian.Uint32(a[:])
	case untaggedARP(f, eth) != nil:
		a := untaggedARP(f, eth).SenderIP()
		ip = binary.BigEndian.Uint32(a[:])
	default:
		return
	}
	if ip != 0 && e.ipv4.Load() != ip {
		e.ipv4.Store(ip)
	}
}

// learnIPv6 remembers the IPv6 addresses a MAC speaks for (its source
// addresses, and the target of its neighbour advertisements), used to
// announce them by unsolicited neighbour advertisement after a failover.
func learnIPv6(e *fdbEntry, f *frame.Frame, eth []byte, now int64) {
	if f.EtherType != frame.EtherTypeIPv6 || !f.HasIP {
		return
	}
	if learnableIPv6(f.SrcIP) {
		e.ipv6.learn(f.SrcIP, now)
	}
	if f.ND {
		// An advertisement's target is the sender's address (its own,
		// or one it answers for); a solicitation's source was learned
		// above.
		if nd := neigh.ND(eth[f.L3:]); nd.Type() == neigh.TypeNeighborAdvertisement && learnableIPv6(nd.Target()) {
			e.ipv6.learn(nd.Target(), now)
		}
	}
}
