package team

import (
	"hash/maphash"
	"sync"
	"time"
)

// Broadcasts exactly once (docs/contract.md §1).
//
// In switch-independent mode the physical switch floods every broadcast
// and multicast to every member, and one member at a time (the snapshot's
// bcastRx) takes them in. Checking only "am I bcastRx?" is not enough
// around a move: each member goroutine reads frames in batches against the
// snapshot it loaded for the batch, and the two copies of one broadcast
// are checked at different instants by different goroutines. If the move
// lands between the two checks, the old member accepts its copy under the
// old snapshot and the new member accepts its copy under the new one: the
// VM gets it twice (44–151 times per failover at 2000 broadcasts/s).
//
// An accept rule that is exclusive at each instant (an epoch handed from
// the old member to the new one) does not close this: the copies are not
// checked at the same instant, so "old member before the hand-over, new
// member after it" still delivers both. What identifies the two copies is
// their content. So the member that takes broadcasts records a hash of
// every broadcast it delivers, and a broadcast is delivered only if no
// other member delivered the same bytes within bcastWindow. Recording
// happens always, not only after a move, because the old member's copy is
// typically delivered before the move is published. Around a move the
// previous broadcast member keeps delivering for bcastWindow too (frames
// still in its ring), and the filter keeps the two apart whoever is
// first; outside a move only one member consults it, uncontended.
//
// The check-and-record is one critical section, so two members cannot
// both see "not yet delivered". A mutex per broadcast frame is cheap next
// to the frame's delivery to every vnic, and unicast never takes it. The
// table is fixed (bcastBuckets x bcastWays entries, 192 KiB), so nothing is
// allocated per frame. A bucket evicts its oldest entry, so a record is
// lost only when four newer broadcasts hash to its bucket before the other
// member's copy is checked, which takes milliseconds: at 2000/s over 2048
// buckets that never happens, and even a 100,000/s storm leaves ~80 ms.
//
// What it gives up: a broadcast that is byte-identical to one delivered
// less than bcastWindow ago by another member is dropped on this member.
// The switch floods such a repeat to both members as well, so it is still
// delivered once by the member that delivered the first — unless that
// member stopped taking broadcasts in between; then the repeat is lost.
// Identical broadcasts within half a second across a failover are rare
// (ARP retransmits are a second apart and differ from gratuitous ones),
// and a lost repeat is what a repeat is for.
const (
	bcastBuckets = 2048
	bcastWays    = 4
	// bcastWindow is how long a delivered broadcast is remembered and how
	// long the previous broadcast member keeps delivering after a move.
	bcastWindow = int64(500 * time.Millisecond)
)

type bcastSeen struct {
	sum    uint64 // 0: empty
	at     int64
	member int
}

type bcastFilter struct {
	seed maphash.Seed
	mu   sync.Mutex
	tab  [bcastBuckets][bcastWays]bcastSeen
}

func newBcastFilter() *bcastFilter { return &bcastFilter{seed: maphash.MakeSeed()} }

// admit reports whether member may deliver the broadcast eth at now, and
// if so records it: false means another member delivered the same bytes
// less than bcastWindow ago.
func (b *bcastFilter) admit(member int, eth []byte, now int64) bool {
	sum := maphash.Bytes(b.seed, eth) | 1
	bucket := &b.tab[sum%bcastBuckets]
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := live(bucket, sum, now); e != nil {
		if e.member != member {
			return false
		}
		e.at = now // a repeat on the same member: deliver, remember longer
		return true
	}
	victim := 0
	for i := range bucket {
		e := &bucket[i]
		if v := &bucket[victim]; v.sum != 0 && (e.sum == 0 || e.at < v.at) {
			victim = i
		}
	}
	bucket[victim] = bcastSeen{sum: sum, at: now, member: member}
	return true
}

// live returns bucket's entry for sum if it is younger than bcastWindow.
func live(bucket *[bcastWays]bcastSeen, sum uint64, now int64) *bcastSeen {
	for i := range bucket {
		if e := &bucket[i]; e.sum == sum && now-e.at < bcastWindow {
			return e
		}
	}
	return nil
}

// deliveredBy returns the other member that delivered the broadcast eth
// less than bcastWindow before now, or -1: then admit(member, eth, now)
// is false. It records nothing (explain asks it).
func (b *bcastFilter) deliveredBy(member int, eth []byte, now int64) int {
	sum := maphash.Bytes(b.seed, eth) | 1
	bucket := &b.tab[sum%bcastBuckets]
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := live(bucket, sum, now); e != nil && e.member != member {
		return e.member
	}
	return -1
}

// takesBroadcasts reports whether member m delivers broadcasts in this
// snapshot at now: it is the broadcast member, or it was until less than
// bcastWindow ago. With bcastRx < 0 (static, lacp) every member does and
// the switch floods no copies to the others.
func (s *snapshot) takesBroadcasts(m int, now int64) bool {
	return s.bcastRx < 0 || s.bcastRx == m || now < s.bcastUntil[m]
}
