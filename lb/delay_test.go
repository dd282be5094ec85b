package lb_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

// autoTeam is dynamic with measured delays on a two-member team, driven
// in virtual time; margin is the configured flowlet_gap.
type autoTeam struct {
	t      *testing.T
	b      lb.Balancer
	p      lb.Picker
	d      *lb.Delays
	v      *lb.View
	delay  [2]int64 // what each member's writer measures
	margin int64
	now    int64
}

func newAutoTeam(t *testing.T, margin int64) *autoTeam {
	d := new(lb.Delays)
	b := mustNew(t, lb.Dynamic, lb.Options{FlowletGap: time.Duration(margin), Delays: d})
	return &autoTeam{t: t, b: b, p: b.NewPicker(), d: d, v: lbtest.View(0, 1), margin: margin}
}

// send picks a member for one frame of flow at the current time and
// publishes that member's delay as its writer would after the write.
func (a *autoTeam) send(flow uint64, size int) int {
	m := a.p.Pick(a.v, flowN(flow), 0, size, a.now)
	a.d.Publish(m, a.now, a.delay[m])
	return m
}

// burst sends n frames of flow 10 µs apart and returns the member of the
// last; it fails if the flow changed member within the burst.
func (a *autoTeam) burst(flow uint64, n int) int {
	a.t.Helper()
	first := a.send(flow, 9000)
	for range n - 1 {
		a.now += 10 * us
		if m := a.send(flow, 9000); m != first {
			a.t.Fatalf("t=%dµs: flow %d moved %d -> %d within a burst", a.now/us, flow, first, m)
		}
	}
	return first
}

// TestAutoGapHoldsWhileDelayDiffers: a flow on a member whose queue
// delays frames by 2 ms stays there, even when idle for longer than the
// margin with the other member idle, until it has been idle for the
// margin plus the difference; every flowlet held back counts as refused.
// When the difference shrinks, flows move after the margin again.
func TestAutoGapHoldsWhileDelayDiffers(t *testing.T) {
	margin := 100 * us
	a := newAutoTeam(t, margin)
	a.delay = [2]int64{2 * ms, 0}
	if m := a.burst(1, 50); m != 0 {
		t.Fatalf("first flow on %d, want 0", m)
	}
	refused := uint64(0)
	for _, idle := range []int64{margin, 500 * us, ms, 2*ms + margin - 11*us} {
		// The flow's latest frame waits what is left of the 2 ms of the
		// frame before it, 10 µs earlier: 1990 µs.
		a.now += idle
		if m := a.burst(1, 50); m != 0 {
			t.Fatalf("after %dµs idle: flow moved to %d while the delay difference is 2 ms", idle/us, m)
		}
		refused++
		if s := stats(t, a.b); s.Refused != refused || s.Moves != 0 {
			t.Fatalf("after %dµs idle: stats %+v, want %d refused, 0 moves", idle/us, s, refused)
		}
	}
	// Idle for the margin plus the difference: it may move.
	a.now += 2*ms + margin
	if m := a.burst(1, 50); m != 1 {
		t.Fatalf("after margin + difference idle: flow on %d, want 1", m)
	}
	if s := stats(t, a.b); s.Moves != 1 || s.Refused != refused {
		t.Fatalf("stats %+v, want 1 move, %d refused", s, refused)
	}

	// The difference shrinks: member 1 now queues, member 0 does not.
	// The flow is on 1, more loaded; after the margin it moves back.
	a.delay = [2]int64{0, 50 * us}
	a.burst(1, 200) // load 1 well above the decaying load of 0
	// Its latest frame, picked 10 µs after the one before, waits what is
	// left of that one's 50 µs: 40 µs.
	a.now += margin + 40*us - 1
	if m := a.burst(1, 10); m != 1 {
		t.Fatalf("idle for less than margin + 40 µs: flow moved to %d", m)
	}
	refused++
	a.now += margin + 40*us
	if m := a.burst(1, 10); m != 0 {
		t.Fatalf("idle for margin + difference: flow on %d, want the faster member 0", m)
	}
	if s := stats(t, a.b); s.Moves != 2 || s.Refused != refused {
		t.Errorf("stats %+v, want 2 moves, %d refused", s, refused)
	}
	// A move to a slower member needs only the margin.
	if g := a.d.Gap(0, 1, margin, a.now); g != margin {
		t.Errorf("gap to a slower member %dµs, want the margin %dµs", g/us, margin/us)
	}
}

// TestAutoGapNeverReorders drives many flows over two members whose queue
// delays change over time (other traffic's writes publish them), with
// random pauses and a small table so that flows share entries, and checks
// that when a flow changes member its frame leaves (pick time + the
// member's delay) at least the margin after the flow's previous frame
// left: no reordering by the team, whatever the gaps.
func TestAutoGapNeverReorders(t *testing.T) {
	margin := 50 * us
	d := new(lb.Delays)
	b := mustNew(t, lb.Dynamic, lb.Options{FlowletGap: time.Duration(margin), Delays: d,
		Hash: lb.DefaultHash | lb.HashL4, FlowSlots: 64})
	p := b.NewPicker()
	v := lbtest.View(0, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	const nflows = 200
	type state struct {
		next, left int64
		member     int
	}
	flows := make([]state, nflows)
	for i := range flows {
		flows[i] = state{next: rng.Int64N(ms), member: -1}
	}
	var changed int64
	moves := 0
	for range 300000 {
		f := &flows[0]
		idx := 0
		for i := range flows {
			if flows[i].next < f.next {
				f, idx = &flows[i], i
			}
		}
		now := f.next
		if now-changed > 200*us {
			// Other traffic: each member's queue delay takes a new value
			// from 0 to 3 ms.
			for m := range 2 {
				d.Publish(m, now, rng.Int64N(3*ms))
			}
			changed = now
		}
		m := p.Pick(v, flowN(uint64(idx)), 0, 1500, now)
		left := now + d.Delay(m, now)
		if f.member >= 0 && m != f.member {
			moves++
			if left < f.left+margin {
				t.Fatalf("flow %d moved %d -> %d at %dµs: leaves %dns after its previous frame, want >= margin %dµs",
					idx, f.member, m, now/us, left-f.left, margin/us)
			}
		}
		f.member, f.left = m, max(f.left, left)
		if rng.IntN(10) == 0 {
			f.next = now + margin + rng.Int64N(4*ms)
		} else {
			f.next = now + 1 + rng.Int64N(30*us)
		}
	}
	s := stats(t, b)
	if moves == 0 || s.Refused == 0 {
		t.Errorf("%d moves, stats %+v: the test tests nothing", moves, s)
	}
	t.Logf("%d moves, stats %+v", moves, s)
}

// TestDelaysBounded: the published delay is clamped to [0, MaxDelay], an
// idle member's delay falls to zero when its queue has drained, and a
// member that leaves is forgotten.
func TestDelaysBounded(t *testing.T) {
	d := new(lb.Delays)
	d.Publish(0, 0, 10*lb.MaxDelay)
	if got := d.Delay(0, 0); got != lb.MaxDelay {
		t.Errorf("huge delay read back as %d, want MaxDelay", got)
	}
	d.Publish(1, 0, -5)
	if got := d.Delay(1, 0); got != 0 {
		t.Errorf("negative delay read back as %d", got)
	}
	d.Publish(2, 100*us, 3*ms)
	d.Publish(2, 200*us, ms) // cannot make what is queued leave sooner
	for _, c := range []struct{ now, want int64 }{{100 * us, 3 * ms}, {ms, 2*ms + 100*us}, {3*ms + 100*us, 0}, {time.Hour.Nanoseconds(), 0}} {
		if got := d.Delay(2, c.now); got != c.want {
			t.Errorf("idle member at %dµs: delay %dµs, want %dµs", c.now/us, got/us, c.want/us)
		}
	}
	d.Forget(0)
	if got := d.Delay(0, 0); got != 0 {
		t.Errorf("forgotten member: delay %d", got)
	}
	for _, id := range []int{-1, lb.MaxMembers} {
		d.Publish(id, 0, ms) // ignored
		if got := d.Delay(id, 0); got != 0 {
			t.Errorf("member %d: delay %d", id, got)
		}
	}
	var none *lb.Delays
	if none.Delay(0, 0) != 0 || none.Gap(0, 1, 7, 0) != 7 {
		t.Error("nil Delays: want no delay, gap = margin")
	}
}

// TestQueueMeter checks Little's law on a simulated queue drained at a
// steady rate, and that bursts, idle periods and a stalled device move
// the estimate only within bounds.
func TestQueueMeter(t *testing.T) {
	const rate = 1.25 // bytes per ns: 10 Gbit/s
	var m lb.QueueMeter
	q, now := 0, int64(0)
	write := func(bytes int, dt int64) int64 {
		now += dt
		q = max(0, q-int(float64(dt)*rate))
		before := q
		q += bytes
		return m.Observe(now, before, now, q)
	}
	// Unknown rate: the first write of a queue reports no delay.
	if got := write(200_000, 0); got != 0 {
		t.Errorf("first write: delay %d, want 0 until the rate is measured", got)
	}
	// A queue that never empties: the rate is measured, delay = q/rate.
	var got int64
	for range 50 {
		got = write(60_000, 40*us) // 60 kB per 40 µs: 1.5 B/ns in, 1.25 out
	}
	if r := m.Rate(); r < 0.95*rate*1e9 || r > 1.05*rate*1e9 {
		t.Fatalf("drain rate %.3g B/s, want %.3g", r, rate*1e9)
	}
	if want := int64(float64(q) / rate); got < want*95/100 || got > want*105/100 {
		t.Errorf("delay %dµs with %d bytes queued, want %dµs", got/us, q, want/us)
	}
	// A burst grows the queue, not the rate; the delay stays bounded.
	r0 := m.Rate()
	got = write(4<<20, 10*us)
	if m.Rate() != r0 {
		t.Errorf("a burst changed the rate from %.3g to %.3g", r0, m.Rate())
	}
	if want := int64(float64(q) / rate); got < want*95/100 || got > want*105/100 || got > lb.MaxDelay {
		t.Errorf("after a burst: delay %dµs, want %dµs (<= MaxDelay)", got/us, want/us)
	}
	// Idle long enough to drain: the next write finds an empty queue and
	// reports its own frames' delay only; the rate is kept.
	got = write(12_500, time.Second.Nanoseconds())
	if want := int64(12_500 / rate); got != want || m.Rate() != r0 {
		t.Errorf("after idle: delay %d (want %d), rate %.3g (want %.3g)", got, want, m.Rate(), r0)
	}
	// A stalled device (nothing leaves): the rate falls to its floor,
	// never to zero, and the delay is capped.
	for range 100 {
		now += ms
		got = m.Observe(now, q, now, q+1000)
		q += 1000
	}
	if m.Rate() <= 0 || got != lb.MaxDelay {
		t.Errorf("stalled device: rate %.3g, delay %d; want > 0 and MaxDelay", m.Rate(), got)
	}
	// It recovers: the queue drains at the real rate again.
	for range 200 {
		got = write(60_000, 40*us)
	}
	if r := m.Rate(); r < 0.95*rate*1e9 || r > 1.05*rate*1e9 {
		t.Errorf("after the stall: rate %.3g, want %.3g", r, rate*1e9)
	}
	// An empty queue after the write: no delay.
	if got := m.Observe(now+time.Second.Nanoseconds(), 0, now+time.Second.Nanoseconds(), 0); got != 0 {
		t.Errorf("empty queue: delay %d", got)
	}
}

func TestAutoNoAllocs(t *testing.T) {
	d := new(lb.Delays)
	p := mustNew(t, lb.Dynamic, lb.Options{Delays: d}).NewPicker()
	v := lbtest.View(0, 1)
	flows := makeFlows(0, 64)
	now := int64(0)
	allocs := testing.AllocsPerRun(100, func() {
		for i := range flows {
			now += 50 * us
			m := p.Pick(v, &flows[i].f, flows[i].vnic, 1500, now)
			d.Publish(m, now, int64(m)*ms)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per 64 picks, want 0", allocs)
	}
}
