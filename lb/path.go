package lb

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// Path delay, for what no queue reading shows.
//
// A member's transmit queue is only the first place a frame waits; the
// switch behind the members has queues too, one per port it receives
// on, and they need not be equal: the bench (bench/hops.go) found every
// reordering of its probe inside Open vSwitch's userspace datapath,
// which polls its ports' receive queues in turns, none in the team, with
// the two ports' delays differing by 1.4-2.4 ms at the median and tens
// of ms at worst on a loaded host. No socket of the team holds those
// queues, but the TCP flows the team forwards cross them: a segment sent
// on member m is acknowledged one round trip later, and the return path
// is the same whichever member the segment took, so the difference
// between two members' round-trip times is the difference between their
// forward paths, switch included.
//
// Paths times one segment per member at a time (as TCP itself times one
// per round trip): Sample claims the member's free slot with a CAS and
// notes the flow, the sequence number just past the segment and the time;
// Ack, on a TCP segment coming back on any member, completes the slot of
// each member that has one outstanding for the reverse flow once the
// acknowledgment covers it. Each member keeps a smoothed round-trip time
// and its mean deviation (RFC 6298 weights, 1/8 and 1/4). Cost: per frame
// sent, a protocol check and one atomic load of the member's slot (a CAS
// and four stores when it is free, about once per round trip); per frame
// received, one atomic load of the outstanding mask (no member timing:
// nothing else), else a 4-tuple hash and a compare per outstanding slot.
// No lock, no allocation.
//
// Excess(from, to) is how much later than a frame sent on to a frame sent
// on from may arrive: the difference of the smoothed round-trip times plus
// twice the two deviations (the delays move: a gap covering the means
// alone would still be short half the time), bounded by MaxDelay. It is 0
// while either member has no estimate fresher than pathStale: a member
// that carried no TCP lately (idle, down, only UDP) has no path to compare,
// and the measured queues and the margin are all that is left.

// Bounds of the path estimates.
const (
	// pathStale is how long a member's round-trip estimate stays usable
	// without a new sample.
	pathStale = int64(time.Second)
	// sampleTimeout frees a slot whose segment was never acknowledged
	// (lost, or the flow ended): a new sample may take it.
	sampleTimeout = int64(time.Second)
)

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// Slot states besides a send time (> 0).
const (
	slotFree = 0
	slotBusy = -1 // being filled or completed
)

// pathSlot is one member's timed segment and estimate, on its own lines.
type pathSlot struct {
	sent   atomic.Int64  // send time of the timed segment, or a slot state
	flow   atomic.Uint64 // reverse-direction key of its flow
	seq    atomic.Uint32 // sequence number just past it
	srtt   atomic.Int64  // ns, 0 until the first sample
	rttvar atomic.Int64  // ns
	at     atomic.Int64  // time of the latest sample
	_      [16]byte
}

// paths is the per-member path state of Delays.
type paths struct {
	slot [MaxMembers]pathSlot
	// outstanding has a bit per member with a timed segment.
	outstanding atomic.Uint64
}

// tcpSegment returns the flow key of f in its direction (or reversed),
// its sequence and acknowledgment numbers, its flags and payload length;
// ok is false for anything but a complete TCP header.
func tcpSegment(f *frame.Frame, eth []byte, reverse bool) (key uint64, seq, ack uint32, flags uint8, payload int, ok bool) {
	if f.Proto != frame.ProtoTCP || f.L4 == 0 || f.L4+20 > len(eth) {
		return 0, 0, 0, 0, 0, false
	}
	h := eth[f.L4:]
	off := int(h[12]>>4) * 4
	if off < 20 || f.L4+off > len(eth) {
		return 0, 0, 0, 0, 0, false
	}
	a, b, pa, pb := f.SrcIP, f.DstIP, f.SrcPort, f.DstPort
	if reverse {
		a, b, pa, pb = b, a, pb, pa
	}
	key = mix64(binary.LittleEndian.Uint64(a[8:])^bits.RotateLeft64(binary.LittleEndian.Uint64(a[:8]), 17),
		binary.LittleEndian.Uint64(b[8:])^bits.RotateLeft64(binary.LittleEndian.Uint64(b[:8]), 29),
		uint64(pa)<<16|uint64(pb))
	// The payload ends where the IP packet says (a short frame is padded
	// on the wire), or at the frame's end (a GSO super-frame of a
	// BIG TCP stack leaves an IPv4 length of 0).
	end := len(eth)
	if ip := eth[f.L3:]; f.L3 > 0 && len(ip) >= 6 {
		var l int
		switch ip[0] >> 4 {
		case 4:
			l = int(binary.BigEndian.Uint16(ip[2:]))
		case 6:
			if pl := int(binary.BigEndian.Uint16(ip[4:])); pl > 0 {
				l = 40 + pl
			}
		}
		if l > 0 && f.L3+l < end {
			end = f.L3 + l
		}
	}
	return key, binary.BigEndian.Uint32(h[4:]), binary.BigEndian.Uint32(h[8:]), h[13], max(end-f.L4-off, 0), true
}

func mix64(a, b, c uint64) uint64 {
	h := a*0x9e3779b97f4a7c15 ^ bits.RotateLeft64(b*0xc2b2ae3d27d4eb4f, 31) ^ c*0x165667b19e3779f9
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	return (h ^ h>>32) | 1 // never 0
}

// SampleTCP times the TCP segment eth (parsed into f) sent on member id
// at now, if the member has no segment timed yet (or its timed one is
// older than sampleTimeout). Segments without payload are not timed: no
// acknowledgment has to follow them.
func (d *Delays) SampleTCP(id int, f *frame.Frame, eth []byte, now int64) {
	if d == nil || uint(id) >= MaxMembers || f.Proto != frame.ProtoTCP || now <= 0 {
		return
	}
	s := &d.path.slot[id]
	t := s.sent.Load()
	if t != slotFree && (t < 0 || now-t < sampleTimeout) {
		return
	}
	key, seq, _, flags, n, ok := tcpSegment(f, eth, true)
	if !ok || n == 0 || flags&(tcpFIN|tcpSYN|tcpRST) != 0 {
		return
	}
	if !s.sent.CompareAndSwap(t, slotBusy) {
		return
	}
	s.flow.Store(key)
	s.seq.Store(seq + uint32(n))
	s.sent.Store(now)
	d.path.outstanding.Or(1 << uint(id))
}

// AckTCP completes the timed segments that the TCP segment eth (parsed
// into f), received at now, acknowledges.
func (d *Delays) AckTCP(f *frame.Frame, eth []byte, now int64) {
	if d == nil || f.Proto != frame.ProtoTCP {
		return
	}
	out := d.path.outstanding.Load()
	if out == 0 {
		return
	}
	key, _, ack, flags, _, ok := tcpSegment(f, eth, false)
	if !ok || flags&tcpACK == 0 {
		return
	}
	for ; out != 0; out &= out - 1 {
		id := bits.TrailingZeros64(out)
		s := &d.path.slot[id]
		t := s.sent.Load()
		if t <= 0 || s.flow.Load() != key || int32(ack-s.seq.Load()) < 0 || !s.sent.CompareAndSwap(t, slotBusy) {
			continue
		}
		s.observe(now-t, now)
		d.path.outstanding.And(^uint64(1 << uint(id)))
		s.sent.Store(slotFree)
	}
}

// observe folds one round-trip sample into the estimate (RFC 6298 2.2,
// 2.3); only the goroutine that completed the slot's sample runs it.
func (s *pathSlot) observe(rtt, now int64) {
	rtt = min(max(rtt, 0), MaxDelay)
	srtt, v := s.srtt.Load(), s.rttvar.Load()
	if srtt == 0 || now-s.at.Load() > pathStale {
		srtt, v = max(rtt, 1), rtt/2
	} else {
		dev := srtt - rtt
		if dev < 0 {
			dev = -dev
		}
		v += (dev - v) / 4
		srtt += (rtt - srtt) / 8
	}
	s.srtt.Store(max(srtt, 1))
	s.rttvar.Store(v)
	s.at.Store(now)
}

// RTT returns member id's smoothed round-trip time and its deviation, 0
// when it has no fresh estimate.
func (d *Delays) RTT(id int, now int64) (srtt, rttvar int64) {
	if d == nil || uint(id) >= MaxMembers {
		return 0, 0
	}
	s := &d.path.slot[id]
	if now-s.at.Load() > pathStale {
		return 0, 0
	}
	return s.srtt.Load(), s.rttvar.Load()
}

// Excess returns how much later a frame sent on from may arrive than one
// sent on to, by the members' round-trip estimates (see the top of this
// file): 0 unless both have a fresh one, at most MaxDelay.
func (d *Delays) Excess(from, to int, now int64) int64 {
	a, va := d.RTT(from, now)
	b, vb := d.RTT(to, now)
	if a == 0 || b == 0 {
		return 0
	}
	return min(max(a-b+2*(va+vb), 0), MaxDelay)
}

// forgetPath clears member id's timed segment and estimate.
func (p *paths) forget(id int) {
	s := &p.slot[id]
	p.outstanding.And(^uint64(1 << uint(id)))
	s.sent.Store(slotFree)
	s.srtt.Store(0)
	s.rttvar.Store(0)
	s.at.Store(0)
}
