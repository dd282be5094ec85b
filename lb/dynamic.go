package lb

import (
	"sync/atomic"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// dynamic is the Dynamic balancer: what its Pickers share.
type dynamic struct {
	fields HashFields
	gap    int64 // FlowletGap, ns: the gap, or with delays its margin
	delays *Delays
	tau    float64
	slots  int

	bytes      [MaxMembers]counter
	moves      atomic.Uint64
	reassigned atomic.Uint64
	refused    atomic.Uint64
}

var (
	_ Balancer = (*dynamic)(nil)
	_ Statser  = (*dynamic)(nil)
)

func newDynamic(o Options) Balancer {
	return &dynamic{
		fields: o.Hash,
		gap:    int64(o.FlowletGap),
		delays: o.Delays,
		tau:    float64(o.LoadDecay),
		slots:  o.FlowSlots,
	}
}

func (*dynamic) Name() string { return Dynamic }

// NewPicker allocates the Picker's flow table; Pick never allocates.
func (b *dynamic) NewPicker() Picker {
	return &dynamicPicker{
		b:     b,
		table: make([]flowlet, b.slots),
		mask:  uint32(b.slots - 1),
		load:  loadView{shared: &b.bytes, tau: b.tau},
	}
}

// Stats returns the counts of all Pickers.
func (b *dynamic) Stats() Stats {
	return Stats{Moves: b.moves.Load(), Reassigned: b.reassigned.Load(), Refused: b.refused.Load()}
}

// flowlet is a flow table entry: the member a flow (or the flows that
// share its entry) is on and when it last sent.
type flowlet struct {
	last   int64 // time of the latest packet
	member int32 // member ID + 1; 0 marks a free entry
	wait   int32 // with Delays: how long the latest packet waits on member, ns
}

type dynamicPicker struct {
	b       *dynamic
	table   []flowlet // len is a power of two
	mask    uint32
	members memberSet
	load    loadView
}

// Pick looks the flow up in the table. A flow with no entry, or whose
// member left, goes to the least-loaded member; a flow idle for a gap may
// move to a strictly less loaded one; any other flow stays put. On a tie
// a new flow prefers the vnic's home member, which spares a source-MAC
// rewrite in switch-independent mode.
//
// With measured delays (Options.Delays) the gap depends on the move. The
// entry remembers how long the flow's latest packet waits in its member's
// queue (Delays.Delay when it was picked; one atomic load per frame, of a
// line its member's writer dirties once per batch, and it fits in the
// entry's padding). A flow idle for the margin that would move from a to
// b moves only if its next packet, waiting b's delay, leaves at least the
// margin after the latest one left a: idle >= margin + wait - delay(b),
// plus how much longer a's path is than b's beyond the queues
// (Delays.Excess: round-trip times of the TCP flows through each, read
// only at a flowlet boundary). Otherwise it stays on a and the refusal is
// counted.
func (p *dynamicPicker) Pick(v *View, f *frame.Frame, vnic, size int, now int64) int {
	set := p.members.of(v)
	e := &p.table[Hash(f, p.b.fields)&p.mask]
	id, why := p.decide(v, set, e, &p.load, vnic, now)
	switch why {
	case flowReassigned:
		p.b.reassigned.Add(1)
	case flowletMoved:
		p.b.moves.Add(1)
	case flowletRefused:
		p.b.refused.Add(1)
	}
	e.member = int32(id + 1)
	if now > e.last {
		e.last = now
	}
	if p.b.delays != nil {
		e.wait = int32(p.b.delays.Delay(id, now)) // at most MaxDelay
	}
	p.load.add(id, size, now)
	return id
}

// Why a dynamic Picker chose a member.
type flowDecision uint8

const (
	flowNew        flowDecision = iota // no entry: least loaded
	flowReassigned                     // its member left: least loaded
	flowletMoved                       // a new flowlet, moved
	flowletStays                       // a new flowlet, no less loaded member
	flowletRefused                     // a new flowlet, whose previous one may still be queued
	flowStays                          // within a flowlet
)

var flowReasons = [...]string{
	flowNew:        "a new flow: the least loaded member (the vnic's home on a tie)",
	flowReassigned: "its member left: moved at once to the least loaded member",
	flowletMoved:   "idle for a flowlet gap: moved to a less loaded member",
	flowletStays:   "idle for a flowlet gap, but no member is less loaded: stays",
	flowletRefused: "idle for the margin, but its previous flowlet may still be queued on its member: stays (a refused move)",
	flowStays:      "within a flowlet (idle less than the gap): stays on its member",
}

// decide is the choice Pick makes for the flow of entry e, with load
// view l; Peek makes it on copies of both.
func (p *dynamicPicker) decide(v *View, set uint64, e *flowlet, l *loadView, vnic int, now int64) (int, flowDecision) {
	id := int(e.member) - 1
	switch {
	case id < 0: // a new flow
		return l.leastLoaded(v, set, home(v, vnic), now), flowNew
	case !has(set, id): // its member left: move now, gap or not
		return l.leastLoaded(v, set, home(v, vnic), now), flowReassigned
	case now-e.last >= p.b.gap: // a new flowlet: it may move
		n := l.leastLoaded(v, set, id, now)
		switch {
		case n == id:
			return id, flowletStays
		case p.b.delays != nil && now-e.last < p.b.gap+int64(e.wait)-p.b.delays.Delay(n, now)+p.b.delays.Excess(id, n, now):
			return id, flowletRefused
		}
		return n, flowletMoved
	}
	return id, flowStays
}

// Peek runs decide on copies of the flow entry, the load view and the
// shared byte totals (so that publishing the Picker's pending bytes, which
// decide does first, publishes them nowhere).
func (p *dynamicPicker) Peek(v *View, f *frame.Frame, vnic, size int, now int64) Choice {
	ms := p.members
	set := ms.of(v)
	h := Hash(f, p.b.fields)
	slot := int(h & p.mask)
	e := p.table[slot]
	var shared [MaxMembers]counter
	for i := range shared {
		shared[i].n.Store(p.load.shared[i].n.Load())
	}
	l := p.load
	l.shared = &shared
	id, why := p.decide(v, set, &e, &l, vnic, now)
	fl := &FlowletEntry{Slot: slot, Member: int(e.member) - 1, Gap: time.Duration(p.b.gap)}
	if fl.Member >= 0 {
		fl.Idle = time.Duration(now - e.last)
	}
	if p.b.delays != nil {
		fl.Wait = time.Duration(e.wait)
	}
	fl.MayMove = why != flowStays && why != flowletRefused
	l.refresh(set, now)
	for _, m := range v.Members {
		if uint(m) < MaxMembers {
			fl.Loads = append(fl.Loads, l.load[m])
		}
	}
	return Choice{Member: id, Fields: p.b.fields, Hash: h, Reason: flowReasons[why], Flowlet: fl}
}

// home returns the home member of vnic, -1 if none.
func home(v *View, vnic int) int {
	if uint(vnic) < uint(len(v.Home)) {
		return v.Home[vnic]
	}
	return -1
}
