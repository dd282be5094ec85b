package lb

import (
	"sync/atomic"
	"time"
)

// Transmit delay, for dynamic's automatic flowlet gap.
//
// A flowlet may move from member a to member b without reordering only if
// its first frame on b cannot leave before the last frame of the previous
// flowlet has left a: the flow's idle time must cover the difference
// between the delays of the two members' transmit queues (FLARE, Kandula
// et al. 2007). A fixed gap guesses that difference; Delays holds it as
// measured.
//
// What is measured is the one delay a sender can see: the time its own
// frames spend between being handed to the kernel and leaving the device
// (qdisc, driver ring until transmit completion), estimated per member by
// QueueMeter from the bytes the kernel still holds for the member's
// socket (SIOCOUTQ on AF_PACKET; on AF_XDP the bytes on the TX ring not
// yet completed, read from the completion ring with no syscall). Delays
// downstream of the device (a switch's egress queues, a virtual switch's
// receive queues) are not visible to a sender; the gap's margin
// (Options.FlowletGap) stands for them, as the fixed gap did. The bench
// (bench/hops.go) measures them where it can: behind Open vSwitch's
// userspace datapath on a loaded 2-core host every reordering of its
// probe happened inside the switch, none in the team, and the gap each
// would have needed (the switch's delay difference between its ports at
// that moment) was 1.4-2.4 ms at the median and up to tens of ms. Seeing
// that from the team would take a path measurement (for instance the RTT
// of the TCP flows it forwards, member by member), not a queue reading.

// MaxDelay bounds a member's measured delay: a queue that takes longer
// than this to drain is treated as taking this long, so a stuck member
// holds its flows at most MaxDelay plus the margin before they may move.
const MaxDelay = int64(100 * time.Millisecond)

// Delays is, per member, the time (on the team's monotonic clock, ns) at
// which the frames queued on it so far will have left. A member's writer
// publishes it after each write; balancers read it without a lock. A
// frame sent on a member now waits until then: Delay. Storing the drain
// time rather than the delay makes an idle member age by itself: the
// delay of a member nobody writes to falls to zero exactly when its queue
// has drained, with no timer and no stale estimate.
type Delays struct {
	drained [MaxMembers]clock
	path    paths // round-trip times through each member (path.go)
}

// clock is one member's drain time, alone on its cache line: members are
// written by different goroutines.
type clock struct {
	t atomic.Int64
	_ [56]byte
}

// Publish records that a frame sent on member id at now leaves after
// delay ns (clamped to [0, MaxDelay]). The drain time never goes back: a
// queue is first in, first out, so a later measurement cannot make what
// was queued before leave sooner (and the frames of a flow table entry
// leave in the order they were picked). Each member has one writer at a
// time, so a load and a store suffice.
func (d *Delays) Publish(id int, now, delay int64) {
	if d == nil || uint(id) >= MaxMembers {
		return
	}
	c := &d.drained[id].t
	if t := now + min(max(delay, 0), MaxDelay); t > c.Load() {
		c.Store(t)
	}
}

// Forget clears member id's estimate (it left the team, or returns with
// a new socket).
func (d *Delays) Forget(id int) {
	if d != nil && uint(id) < MaxMembers {
		d.drained[id].t.Store(0)
		d.path.forget(id)
	}
}

// Delay returns how long a frame sent on member id at now waits before it
// leaves: 0 for an unknown member or a drained queue, at most MaxDelay.
func (d *Delays) Delay(id int, now int64) int64 {
	if d == nil || uint(id) >= MaxMembers {
		return 0
	}
	return min(max(d.drained[id].t.Load()-now, 0), MaxDelay)
}

// Gap returns the idle time a flow whose last frame is sent on member
// from at now needs before its next frame may go to member to: margin
// plus how much longer from's queue takes to drain than to's, so that the
// new flowlet leaves at least margin after the previous one. A move to a
// slower member needs only the margin. The difference of the two
// members' path delays beyond their queues (Excess, path.go) is added.
func (d *Delays) Gap(from, to int, margin, now int64) int64 {
	return margin + max(d.Delay(from, now)-d.Delay(to, now), 0) + d.Excess(from, to, now)
}

// QueueMeter estimates one member's transmit delay from its socket's
// queue occupancy, by Little's law: delay = bytes queued / drain rate.
// The occupancy is exact at the instant it is read; the drain rate is
// measured from the same readings, so both are in the kernel's own unit
// (skb truesize, not frame bytes) and no link speed is needed:
//
//   - before a write, the queue holds what the previous write left minus
//     what the device sent since; while it never ran empty (before > 0)
//     the device was sending all along, so (previous after - before) /
//     elapsed is its drain rate;
//   - after the write, the queue holds everything not yet sent, and the
//     frames just written are last in it: they leave after after/rate.
//
// The rate is smoothed (EWMA, weight 1/4 per busy interval) and bounded
// below by minRate and above by maxRate, so a burst (which grows the
// queue, not the rate), an idle member (no busy interval: the rate is
// kept) or a stalled device (a low rate, a delay capped at MaxDelay)
// cannot drive the estimate to zero or infinity. A queue found empty
// before a write drained within the interval, which bounds the rate from
// below (previous after / elapsed): a measured rate is raised to that
// bound if it was lower. Until a busy interval has been seen the rate is
// unknown and the delay counts as 0: a queue that empties between writes
// is short (the margin covers it), and one that does not is measured at
// the next write.
//
// A QueueMeter is a pure value with the clock passed in; it belongs to
// the member's writer (one at a time).
type QueueMeter struct {
	rate  float64 // bytes per ns, 0 until measured
	after int     // queue occupancy after the previous write
	at    int64   // time of that reading
}

// Bounds of QueueMeter's drain rate, bytes per ns: 1 Mbit/s and 8 Tbit/s.
const (
	minRate = 1e6 / 8 / 1e9
	maxRate = 1e3
)

// Observe takes the queue occupancy read just before a write (at
// tBefore) and just after it (at tAfter), and returns the delay of the
// frames just written. The drain rate is measured between the previous
// reading after a write and this reading before one: a write may take
// long (a full device queue makes it back off), and what drains during it
// cannot be told from what it added.
func (m *QueueMeter) Observe(tBefore int64, before int, tAfter int64, after int) int64 {
	if dt := tBefore - m.at; m.at != 0 && dt > 0 && m.after >= before {
		r := min(max(float64(m.after-before)/float64(dt), minRate), maxRate)
		switch {
		case before <= 0: // drained at some point: r is a lower bound
			if m.rate != 0 && m.after > 0 {
				m.rate = max(m.rate, r)
			}
		case m.rate == 0:
			m.rate = r
		default:
			m.rate += (r - m.rate) / 4
		}
	}
	m.after, m.at = max(after, 0), tAfter
	if after <= 0 || m.rate == 0 {
		return 0
	}
	return min(int64(float64(after)/m.rate), MaxDelay)
}

// Rate returns the measured drain rate in bytes per second, 0 if unknown.
func (m *QueueMeter) Rate() float64 { return m.rate * 1e9 }
