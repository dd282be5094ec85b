package lb_test

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

const (
	us  = int64(time.Microsecond)
	ms  = int64(time.Millisecond)
	gap = int64(lb.DefaultFlowletGap)
)

func flowN(i uint64) *frame.Frame {
	f := new(frame.Frame)
	lbtest.Flow(i, f)
	return f
}

func stats(t *testing.T, b lb.Balancer) lb.Stats {
	t.Helper()
	s, ok := b.(lb.Statser)
	if !ok {
		t.Fatalf("%s balancer is not a Statser", b.Name())
	}
	return s.Stats()
}

func TestDynamicMovesOnlyAfterGap(t *testing.T) {
	b := mustNew(t, lb.Dynamic, lb.Options{})
	p := b.NewPicker()
	v := lbtest.View(0, 1)
	a := flowN(1)

	// A busy flow stays on its member, however loaded, while its packets
	// come less than a gap apart.
	now := int64(0)
	for ; now < 10*ms; now += gap - 1 {
		if got := p.Pick(v, a, 0, 64000, now); got != 0 {
			t.Fatalf("t=%dµs: busy flow on %d, want 0 (it must not move within a flowlet)", now/us, got)
		}
	}
	last := now - (gap - 1)
	if got := p.Pick(v, a, 0, 1500, last+gap-1); got != 0 {
		t.Fatalf("idle gap-1ns: flow moved to %d", got)
	}
	last += gap - 1
	if s := stats(t, b); s.Moves != 0 {
		t.Fatalf("stats %+v before the gap", s)
	}
	// Idle for exactly a gap: a new flowlet, on the idle member.
	if got := p.Pick(v, a, 0, 1500, last+gap); got != 1 {
		t.Fatalf("after a gap: flow on %d, want the idle member 1", got)
	}
	if s := stats(t, b); s.Moves != 1 || s.Reassigned != 0 {
		t.Errorf("stats %+v, want 1 move", s)
	}
}

func TestDynamicPicksLeastLoaded(t *testing.T) {
	b := mustNew(t, lb.Dynamic, lb.Options{})
	p := b.NewPicker()
	// Member 2 comes before member 1: a balancer that took "the next
	// member" instead of the least loaded one would pick 2.
	v := lbtest.View(0, 2, 1)
	x, y, z := flowN(1), flowN(2), flowN(3)
	// New flows go to the least-loaded member: x to 0 (all idle, the
	// most preferred), y to 2, z to 1.
	for i, want := range []struct {
		f  *frame.Frame
		id int
	}{{x, 0}, {y, 2}, {z, 1}} {
		if got := p.Pick(v, want.f, 0, 1500, int64(i)*us); got != want.id {
			t.Fatalf("new flow %d on %d, want %d", i, got, want.id)
		}
	}
	// x and y send a lot, z little, for 2 ms.
	now := 3 * us
	for ; now < 2*ms; now += 10 * us {
		p.Pick(v, x, 0, 9000, now)
		p.Pick(v, y, 0, 12000, now+1)
		p.Pick(v, z, 0, 100, now+2)
	}
	loads := lb.Loads(p, v, now)
	if !(loads[2] < loads[0] && loads[2] < loads[1]) {
		t.Fatalf("loads of members %v: %v, want member 1 least loaded", v.Members, loads)
	}
	// y pauses for a gap while x keeps sending: its next flowlet goes to
	// the least-loaded member, 1.
	for end := now + gap; now < end; now += 10 * us {
		p.Pick(v, x, 0, 9000, now)
	}
	if got := p.Pick(v, y, 0, 12000, now); got != 1 {
		t.Errorf("y's new flowlet on %d, want least-loaded member 1 (loads %v)", got, lb.Loads(p, v, now))
	}
	if s := stats(t, b); s.Moves != 1 {
		t.Errorf("stats %+v, want 1 move", s)
	}
}

func TestDynamicPrefersHomeOnTie(t *testing.T) {
	p := mustNew(t, lb.Dynamic, lb.Options{}).NewPicker()
	v := lbtest.Homed(2, 0, 1) // vnic 1 is homed on member 1
	if got := p.Pick(v, flowN(1), 1, 1500, 0); got != 1 {
		t.Errorf("new flow of vnic 1 on an idle team: member %d, want its home 1", got)
	}
	if got := p.Pick(v, flowN(2), 1, 1500, 1); got != 0 {
		t.Errorf("next new flow of vnic 1: member %d, want the idle member 0", got)
	}
}

// TestDynamicNeverMovesWithinFlowlet drives many flows with random gaps
// between packets, some shorter and some longer than the flowlet gap, and
// checks that a flow changes member only after a gap. A small table makes
// flows share entries.
func TestDynamicNeverMovesWithinFlowlet(t *testing.T) {
	for _, tc := range []struct{ slots, flows int }{{64, 100}, {lb.DefaultFlowSlots, 300}} {
		slots := tc.slots
		t.Run(fmt.Sprintf("slots=%d", slots), func(t *testing.T) {
			b := mustNew(t, lb.Dynamic, lb.Options{Hash: lb.DefaultHash | lb.HashL4, FlowSlots: slots})
			p := b.NewPicker()
			v := lbtest.View(0, 1, 2)
			rng := rand.New(rand.NewPCG(1, 2))
			type state struct {
				f          frame.Frame
				next, last int64
				member     int
			}
			flows := make([]state, tc.flows)
			for i := range flows {
				lbtest.Flow(uint64(i), &flows[i].f)
				flows[i].next = rng.Int64N(ms)
				flows[i].member = -1
			}
			moves := 0
			for range 200000 {
				// The flow whose packet is next (a linear scan is fine here).
				s := &flows[0]
				for i := range flows {
					if flows[i].next < s.next {
						s = &flows[i]
					}
				}
				now := s.next
				got := p.Pick(v, &s.f, 0, 64+rng.IntN(9000), now)
				if s.member >= 0 && got != s.member {
					if now-s.last < gap {
						t.Fatalf("flow moved %d -> %d after %dns idle, within a flowlet", s.member, got, now-s.last)
					}
					moves++
				}
				s.member, s.last = got, now
				if rng.IntN(8) == 0 {
					s.next = now + gap/2 + rng.Int64N(2*gap) // a pause, maybe a gap
				} else {
					s.next = now + 1 + rng.Int64N(20*us) // a burst
				}
			}
			if moves == 0 {
				t.Error("no flow ever moved: the test tests nothing")
			}
			t.Logf("%d moves seen, stats %+v", moves, stats(t, b))
		})
	}
}

func TestDynamicReassignsAtOnce(t *testing.T) {
	b := mustNew(t, lb.Dynamic, lb.Options{})
	p := b.NewPicker()
	v := lbtest.View(0, 1, 2)
	a, c, d := flowN(1), flowN(2), flowN(3)
	p.Pick(v, a, 0, 1500, 0) // 0
	p.Pick(v, c, 0, 1500, 1) // 1
	p.Pick(v, d, 0, 1500, 2) // 2
	for now := 3 * us; now < ms; now += us {
		p.Pick(v, a, 0, 1500, now)
		p.Pick(v, c, 0, 9000, now) // member 1 busier than 2
		p.Pick(v, d, 0, 100, now)
	}
	w := lbtest.Without(v, 0)
	if got := p.Pick(w, a, 0, 1500, ms); got != 2 {
		t.Errorf("member 0 left mid-flowlet: flow on %d, want least-loaded member 2 at once", got)
	}
	if got := p.Pick(w, c, 0, 1500, ms); got != 1 {
		t.Errorf("flow on member 1 moved to %d", got)
	}
	if s := stats(t, b); s.Reassigned != 1 || s.Moves != 0 {
		t.Errorf("stats %+v, want 1 reassigned, 0 moves", s)
	}
}

// TestDynamicSharesLoad checks that a Picker sees the bytes of another.
func TestDynamicSharesLoad(t *testing.T) {
	b := mustNew(t, lb.Dynamic, lb.Options{})
	p1, p2 := b.NewPicker(), b.NewPicker()
	v := lbtest.View(0, 1)
	a := flowN(1)
	now := int64(0)
	for ; now < 200*us; now += us {
		if got := p1.Pick(v, a, 0, 9000, now); got != 0 {
			t.Fatalf("busy flow on %d", got)
		}
	}
	// Alone, p2 would put a new flow on the most preferred member, 0.
	if got := p2.Pick(v, flowN(2), 1, 60, now); got != 1 {
		t.Errorf("new flow of another vnic on %d, want 1: load is not shared", got)
	}
}

// TestDynamicLoadEstimate checks the decayed byte count: a steady rate r
// gives a load of r·τ, which then decays as e^(-t/τ).
func TestDynamicLoadEstimate(t *testing.T) {
	tau := int64(lb.DefaultLoadDecay)
	b := mustNew(t, lb.Dynamic, lb.Options{})
	p := b.NewPicker()
	v := lbtest.View(0, 1)
	a := flowN(1)
	now := int64(0)
	for ; now < 20*tau; now += us {
		p.Pick(v, a, 0, 1000, now) // 1000 bytes/µs
	}
	want := 1000.0 * float64(tau/us)
	loads := lb.Loads(p, v, now)
	if math.Abs(loads[0]-want) > 0.05*want || loads[1] != 0 {
		t.Fatalf("steady state loads %v, want [%.0f 0]", loads, want)
	}
	for _, n := range []int64{1, 2, 5} {
		got := lb.Loads(p, v, now+n*tau)[0]
		// The first refresh also sees up to one flush interval of bytes
		// never published: allow 2% of the steady state.
		if exp := want * math.Exp(-float64(n)); math.Abs(got-exp) > 0.02*want {
			t.Errorf("%d·τ idle: load %.0f, want %.0f", n, got, exp)
		}
	}
}

// TestDynamicTableBounded floods one Picker with a million new flows: its
// table keeps its size, nothing is allocated, the heap stays flat.
func TestDynamicTableBounded(t *testing.T) {
	b := mustNew(t, lb.Dynamic, lb.Options{})
	p := b.NewPicker()
	v := lbtest.View(0, 1, 2, 3)
	var f frame.Frame
	now := int64(0)
	flood := func(first, n uint64) {
		for i := first; i < first+n; i++ {
			lbtest.Flow(i, &f)
			now += 100
			p.Pick(v, &f, 0, 60, now)
		}
	}
	flood(0, 1000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	flood(1000, 1e6)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := lb.FlowSlots(p); got != lb.DefaultFlowSlots {
		t.Errorf("table has %d slots, want %d", got, lb.DefaultFlowSlots)
	}
	if d := int64(after.HeapAlloc) - int64(before.HeapAlloc); d > 256<<10 {
		t.Errorf("heap grew by %d bytes over 1e6 new flows", d)
	}
	if d := after.Mallocs - before.Mallocs; d > 100 { // the runtime's own, if any
		t.Errorf("%d allocations over 1e6 new flows", d)
	}
}

// TestImbalance reports, without asserting, how evenly address-hash and
// dynamic spread a few flows of very uneven rates. Each flow sends a burst
// every millisecond, longer for heavier flows (sizes are Pareto, α=1.2),
// so flows pause between bursts as TCP does.
func TestImbalance(t *testing.T) {
	if testing.Short() {
		t.Skip("simulation")
	}
	var report strings.Builder
	fmt.Fprintf(&report, "\n%-7s %-5s  %-14s %-14s %s\n", "members", "flows", "address-hash", "dynamic", "dynamic moves")
	for _, members := range []int{2, 4} {
		for _, nflows := range []int{2, 8, 64} {
			imb := map[string]string{}
			var moves uint64
			for _, algo := range []string{lb.AddressHash, lb.Dynamic} {
				b := mustNew(t, algo, lb.Options{Hash: lb.DefaultHash | lb.HashL4})
				windows, s := simulate(b, members, nflows)
				var total []int64
				var sum float64
				for _, w := range windows {
					sum += imbalance(w)
					if total == nil {
						total = make([]int64, len(w))
					}
					for m, b := range w {
						total[m] += b
					}
				}
				imb[algo] = fmt.Sprintf("%.2f / %.2f", imbalance(total), sum/float64(len(windows)))
				moves = s.Moves
			}
			fmt.Fprintf(&report, "%-7d %-5d  %-14s %-14s %d\n", members, nflows, imb[lb.AddressHash], imb[lb.Dynamic], moves)
		}
	}
	t.Log("imbalance = busiest member's bytes / mean bytes per member, over 200 ms / averaged over 10 ms windows" + report.String())
}

type packet struct {
	t    int64
	flow int
	size int
}

// simulate runs 200 ms of traffic through one Picker and returns the bytes
// each member carried in each 10 ms window.
func simulate(b lb.Balancer, members, nflows int) ([][]int64, lb.Stats) {
	rng := rand.New(rand.NewPCG(uint64(nflows), 42))
	flows := make([]frame.Frame, nflows)
	bursts := make([]int, nflows) // packets per 1 ms round
	for i := range flows {
		lbtest.Flow(uint64(i)*7919, &flows[i])
		pareto := math.Pow(1-rng.Float64(), -1/1.2)
		bursts[i] = min(1+int(4*pareto), 700) // 1.2 µs per packet: 700 fill 840 µs
	}
	var pkts []packet
	for round := int64(0); round < 200; round++ {
		for i := range flows {
			start := round*ms + rng.Int64N(ms/4)
			for k := range bursts[i] {
				pkts = append(pkts, packet{start + int64(k)*1200, i, 1500})
			}
		}
	}
	slices.SortStableFunc(pkts, func(a, b packet) int { return cmp.Compare(a.t, b.t) })
	v := &lb.View{}
	for m := range members {
		v.Members = append(v.Members, m)
	}
	p := b.NewPicker()
	windows := make([][]int64, 20)
	for i := range windows {
		windows[i] = make([]int64, members)
	}
	for _, pk := range pkts {
		w := min(int(pk.t/(10*ms)), len(windows)-1)
		windows[w][p.Pick(v, &flows[pk.flow], 0, pk.size, pk.t)] += int64(pk.size)
	}
	var s lb.Stats
	if st, ok := b.(lb.Statser); ok {
		s = st.Stats()
	}
	return windows, s
}

func imbalance(bytes []int64) float64 {
	var sum, top int64
	for _, b := range bytes {
		sum += b
		top = max(top, b)
	}
	return float64(top) / (float64(sum) / float64(len(bytes)))
}
