package lb

import (
	"sync/atomic"

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
// margin after the latest one left a: idle >= margin + wait - delay(b).
// Otherwise it stays on a and the refusal is counted.
func (p *dynamicPicker) Pick(v *View, f *frame.Frame, vnic, size int, now int64) int {
	set := p.members.of(v)
	e := &p.table[Hash(f, p.b.fields)&p.mask]
	id := int(e.member) - 1
	switch {
	case id < 0: // a new flow
		id = p.load.leastLoaded(v, set, home(v, vnic), now)
	case !has(set, id): // its member left: move now, gap or not
		id = p.load.leastLoaded(v, set, home(v, vnic), now)
		p.b.reassigned.Add(1)
	case now-e.last >= p.b.gap: // a new flowlet: it may move
		n := p.load.leastLoaded(v, set, id, now)
		switch {
		case n == id:
		case p.b.delays != nil && now-e.last < p.b.gap+int64(e.wait)-p.b.delays.Delay(n, now):
			p.b.refused.Add(1) // the previous flowlet may still be queued
		default:
			id = n
			p.b.moves.Add(1)
		}
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

// home returns the home member of vnic, -1 if none.
func home(v *View, vnic int) int {
	if uint(vnic) < uint(len(v.Home)) {
		return v.Home[vnic]
	}
	return -1
}
