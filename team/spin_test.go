package team

import (
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/team/config"
)

// TestSpinWindow drives the adaptive window with a virtual clock: a
// window grows to catch the gaps it can within the bound, keeps them
// while they keep coming, shrinks slowly to shorter gaps, and goes to
// zero on a gap no allowed spin would catch.
func TestSpinWindow(t *testing.T) {
	const us = int64(time.Microsecond)
	type step struct {
		gap  int64 // from going idle to the next frames
		want int64 // window after them
	}
	tests := []struct {
		name  string
		max   time.Duration
		steps []step
	}{
		{"1000/s ping: grows on the first gap, then holds", 2 * time.Millisecond, []step{
			{1000 * us, 1250 * us},
			{1000 * us, 1250 * us},
			{990 * us, 1237 * us}, // a quarter above the gap: room for jitter
			{1010 * us, 1262 * us},
		}},
		{"lone frames far apart never spin", 2 * time.Millisecond, []step{
			{time.Second.Microseconds() * us, 0},
			{time.Second.Microseconds() * us, 0},
		}},
		{"a gap beyond the bound ends the spin", 2 * time.Millisecond, []step{
			{1000 * us, 1250 * us},
			{3000 * us, 0},
			{1000 * us, 1250 * us},
		}},
		{"a missed gap within the bound grows, up to the bound", 2 * time.Millisecond, []step{
			{100 * us, 125 * us},
			{1000 * us, 1250 * us},
			{1800 * us, 2000 * us},
		}},
		{"shorter gaps shrink it by an eighth at a time", 2 * time.Millisecond, []step{
			{1600 * us, 2000 * us},
			{10 * us, 1750 * us},
			{10 * us, 1531 * us},
			{1200 * us, 1500 * us}, // caught: a quarter above it
		}},
		{"off", 0, []step{
			{10 * us, 0},
			{10 * us, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newSpinWindow(tc.max)
			now := int64(5 * time.Second)
			w.arrived(now) // the first frames: no gap yet
			if w.window != 0 {
				t.Fatalf("window after the first frames = %d; want 0", w.window)
			}
			for i, s := range tc.steps {
				w.wentIdle(now)
				now += s.gap
				w.arrived(now)
				if got := w.window / us; got != s.want/us {
					t.Errorf("step %d (gap %d us): window %d us; want %d us", i, s.gap/us, got, s.want/us)
				}
			}
		})
	}
}

// TestSpinWindowBusy: frames that were waiting when the reader looked
// (no gap: wentIdle not called) leave the window as it was.
func TestSpinWindowBusy(t *testing.T) {
	w := newSpinWindow(2 * time.Millisecond)
	w.wentIdle(0)
	w.arrived(int64(time.Millisecond))
	before := w.window
	for i := range 10 {
		w.arrived(int64(2*time.Millisecond) + int64(i))
	}
	if w.window != before {
		t.Errorf("window %d after batches with no gap; want %d kept", w.window, before)
	}
}

type readyAfter struct{ n, checks int }

func (r *readyAfter) Ready() bool { r.checks++; return r.checks > r.n }

// TestSpinUntil: the spin ends when the port is ready, or when the
// clock passes the end of the window.
func TestSpinUntil(t *testing.T) {
	var clock int64
	tick := func() int64 { clock++; return clock }
	r := &readyAfter{n: 3}
	if ready, stolen := spinUntil(r, 100, tick); !ready || stolen || r.checks != 4 {
		t.Errorf("spinUntil on a port ready at the 4th check: ready %v stolen %v after %d checks; want ready, not stolen, after 4", ready, stolen, r.checks)
	}
	clock = 0
	r = &readyAfter{n: 1 << 30}
	if ready, _ := spinUntil(r, 10, tick); ready {
		t.Error("spinUntil on a port never ready reported ready")
	}
	if clock != 10 {
		t.Errorf("spin ended at %d; want at the end of the window, 10", clock)
	}

	// A jump of the clock between two checks: the thread lost its CPU.
	clock = 0
	jump := func() int64 {
		clock++
		if clock == 3 {
			clock += spinStolen + 1
		}
		return clock
	}
	if _, stolen := spinUntil(&readyAfter{n: 1 << 30}, spinStolen+10, jump); !stolen {
		t.Error("spin whose clock jumped by more than spinStolen not reported stolen")
	}
}

// TestSpinBackoff: after a stolen spin the reader does not spin for
// spinBackoff, though the window keeps following the gaps.
func TestSpinBackoff(t *testing.T) {
	ms := int64(time.Millisecond)
	w := newSpinWindow(2 * time.Millisecond)
	now := int64(0)
	w.wentIdle(now)
	now += ms
	w.arrived(now)
	if got := w.wentIdle(now); got != 1250*ms/1000 {
		t.Fatalf("window %d; want 1.25 ms", got)
	}
	now += ms
	w.arrived(now)
	w.stolen(now)
	for now < spinBackoff {
		if got := w.wentIdle(now); got != 0 {
			t.Fatalf("at %d ns, %d ns after a stolen spin: window %d; want 0", now, now-2*ms, got)
		}
		now += ms
		w.arrived(now)
	}
	now += 2 * ms
	if got := w.wentIdle(now); got != 1250*ms/1000 {
		t.Errorf("window %d after the backoff; want 1.25 ms again", got)
	}
}

// TestSpinAllocs: the spin path (the readiness checks, the clock, the
// window's bookkeeping and the team's slots) allocates nothing.
func TestSpinAllocs(t *testing.T) {
	tm := &Team{spinSlots: 1}
	tm.spinMax.Store(int64(config.DefaultBusyPoll))
	w := newSpinWindow(0)
	r := &readyAfter{n: 1 << 30}
	var clock int64
	allocs := testing.AllocsPerRun(100, func() {
		r.checks = 0
		r.n = 5
		tm.spin(r, &w)
		w.arrived(spinClock())
		if tm.spinTake() {
			spinUntil(r, clock+3, func() int64 { clock++; return clock })
			tm.spinGive()
		}
	})
	if allocs != 0 {
		t.Errorf("spin path: %v allocations; want 0", allocs)
	}
}

// TestSpinSlots: with the slots taken, a reader does not spin.
func TestSpinSlots(t *testing.T) {
	tm := &Team{spinSlots: 1}
	if !tm.spinTake() {
		t.Fatal("first spinTake refused")
	}
	if tm.spinTake() {
		t.Error("second spinTake granted with one slot")
	}
	tm.spinGive()
	if !tm.spinTake() {
		t.Error("spinTake refused after the slot was given back")
	}
}

// TestBusyPollReload: busy_poll sets the readers' bound at start, and a
// reload that changes it reaches them and the running configuration.
func TestBusyPollReload(t *testing.T) {
	c := baseConfig(config.ModeStatic, config.BalanceAddressHash, "eth1", "eth2")
	c.BusyPoll, c.BusyPollAuto = config.DefaultBusyPoll, true
	tt := startTeam(t, c)
	if got := time.Duration(tt.spinMax.Load()); got != config.DefaultBusyPoll {
		t.Fatalf("spin bound at start %v; want %v", got, config.DefaultBusyPoll)
	}
	next := tt.Config()
	next.BusyPoll, next.BusyPollAuto = 0, false
	if err := tt.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if got := tt.spinMax.Load(); got != 0 {
		t.Errorf("spin bound after busy_poll: off %v; want 0", time.Duration(got))
	}
	if r := tt.Config(); r.BusyPoll != 0 || r.BusyPollAuto {
		t.Errorf("running busy_poll %v auto %v; want off", r.BusyPoll, r.BusyPollAuto)
	}
}
