package lb

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Load accounting for dynamic.
//
// What is shared between the Pickers of a Balancer is, per member, the
// total number of bytes sent: a monotonic counter that only ever gets
// atomic adds, on its own cache line. Decay is lazy and local: when a
// Picker has to choose a member, it reads the totals, and folds the bytes
// added since its previous look into its own decayed estimate,
//
//	load ← load·e^(-Δt/τ) + Δbytes·(1 - e^(-Δt/τ))·τ/Δt
//
// where the second factor is the exact weight of bytes spread evenly over
// Δt (1 when Δt is small, small when the Picker has not looked for a long
// time, so old bytes do not look fresh). Every Picker thus sees the same
// load, built from every Picker's bytes, without a lock, a shared
// (value, time) pair to update atomically, or a background goroutine.
//
// To keep atomics off the per-frame path, a Picker collects its own bytes
// locally and publishes them every loadFlushInterval and before every
// decision; other Pickers see them at most that late.

// loadFlushInterval bounds how long a Picker keeps its bytes to itself.
const loadFlushInterval = int64(20 * time.Microsecond)

// counter is a byte counter alone on its cache line, so that members'
// counters do not bounce a line between CPUs.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// loadView is one Picker's view of the members' load.
type loadView struct {
	shared *[MaxMembers]counter
	tau    float64 // LoadDecay in nanoseconds

	pending [MaxMembers]uint64 // bytes sent but not yet published
	dirty   uint64             // members with pending bytes
	flushed int64              // time of the last publication

	seen      [MaxMembers]uint64  // shared totals at the last refresh
	load      [MaxMembers]float64 // decayed bytes, as of refreshed
	known     uint64              // members whose load is tracked
	refreshed int64
}

// add accounts size bytes sent on member id at now.
func (l *loadView) add(id, size int, now int64) {
	if uint(id) >= MaxMembers || size <= 0 {
		return
	}
	l.pending[id] += uint64(size)
	l.dirty |= 1 << uint(id)
	if now-l.flushed >= loadFlushInterval || now < l.flushed {
		l.flush(now)
	}
}

// flush publishes the pending bytes.
func (l *loadView) flush(now int64) {
	for d := l.dirty; d != 0; d &= d - 1 {
		id := bits.TrailingZeros64(d)
		l.shared[id].n.Add(l.pending[id])
		l.pending[id] = 0
	}
	l.dirty = 0
	l.flushed = now
}

// refresh brings load up to now for the members in set and every member
// tracked before (so a member that left keeps decaying, and is not
// credited with stale bytes when it returns).
func (l *loadView) refresh(set uint64, now int64) {
	l.flush(now)
	decay, spread := 1.0, 1.0
	if dt := now - l.refreshed; dt > 0 {
		decay, spread = decayFactors(float64(dt) / l.tau)
		l.refreshed = now
	}
	l.known |= set
	for ids := l.known; ids != 0; ids &= ids - 1 {
		id := bits.TrailingZeros64(ids)
		total := l.shared[id].n.Load()
		delta := total - l.seen[id]
		l.seen[id] = total
		l.load[id] = l.load[id]*decay + float64(delta)*spread
	}
}

// decayFactors returns e^-x and (1-e^-x)/x, by their Taylor series when x
// is small (a refresh within a few µs of the previous one) to skip exp.
func decayFactors(x float64) (decay, spread float64) {
	if x < 1e-2 {
		return 1 - x + x*x/2, 1 - x/2 + x*x/6
	}
	em1 := math.Expm1(-x) // e^-x - 1, exact for small x
	return 1 + em1, -em1 / x
}

// leastLoaded returns the member of v with the smallest load at now. cur,
// if it is a member (a flow's current member, or the vnic's home for a new
// flow), wins ties, so a flow moves only to a strictly less loaded member;
// other ties go to the more preferred member (earlier in v.Members).
func (l *loadView) leastLoaded(v *View, set uint64, cur int, now int64) int {
	l.refresh(set, now)
	best, bestLoad := -1, math.Inf(1)
	if has(set, cur) {
		best, bestLoad = cur, l.load[cur]
	}
	for _, id := range v.Members {
		if uint(id) < MaxMembers && l.load[id] < bestLoad {
			best, bestLoad = id, l.load[id]
		}
	}
	if best < 0 { // only IDs out of range: the View is broken
		return v.Members[0]
	}
	return best
}
