package team

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
)

// TestFlowletGapAuto runs dynamic with flowlet_gap: auto over two fake
// members, eth1's transmit queue scripted: while eth1 reports a queue
// that drains slowly, a flow on it idle for more than the margin stays
// (a refused move, in ctl state's counters and pair gaps); once eth1's
// queue is empty and its delay has passed, the flow moves after the
// margin, as with a fixed gap.
func TestFlowletGapAuto(t *testing.T) {
	cfg := baseConfig(config.ModeStatic, config.BalanceDynamic, "eth1", "eth2")
	cfg.FlowletGapAuto = true
	margin := cfg.FlowletGap
	var queued atomic.Int64 // eth1's queue, bytes
	tt := &testTeam{h: newFakeHost()}
	tt.h.queues = map[string]func() int{
		"eth1": func() int {
			// A queue that drains at 1 byte per µs of virtual time:
			// its delay is far above the margin.
			q := queued.Load() - tt.now.Load()/1000
			return int(max(q, 0))
		},
	}
	tm, err := New(cfg, tt.h, Options{Now: tt.now.Load})
	if err != nil {
		t.Fatal(err)
	}
	tt.Team = tm
	t.Cleanup(func() { tm.Close() })
	tt.now.Store(int64(time.Second))
	queued.Store(tt.now.Load()/1000 + 1_000_000)

	vm := tt.h.port("vm1")
	send := func(n int) {
		t.Helper()
		for i := range n {
			vm.Inject(udp(peerMAC, vm1MAC, 4000, 80))
			if err := vm.WaitIdle(wait); err != nil {
				t.Fatal(err)
			}
			if i < n-1 {
				tt.advance(10 * time.Microsecond)
			}
		}
	}
	sentOn := func() (eth1, eth2 int) {
		return len(tt.h.port("eth1").Sent()), len(tt.h.port("eth2").Sent())
	}
	// The flow starts on eth1, the most preferred of two idle members,
	// and loads it.
	send(20)
	if a, b := sentOn(); a != 20 || b != 0 {
		t.Fatalf("first flowlet: %d frames on eth1, %d on eth2; want all on eth1", a, b)
	}
	st := tt.State()
	d1, d2 := st.Members[0].TxDelayUS, st.Members[1].TxDelayUS
	if d1 <= float64(margin/time.Microsecond) || d2 != 0 {
		t.Fatalf("measured delays eth1 %vµs, eth2 %vµs; want eth1's above the margin, eth2's 0", d1, d2)
	}
	f := st.Flowlets
	if f == nil || f.Gap != "auto" || len(f.Pairs) != 2 {
		t.Fatalf("flowlets state %+v, want auto with 2 pairs", f)
	}
	for _, p := range f.Pairs {
		want := float64(margin / time.Microsecond)
		if p.From == "eth1" {
			want += d1
		}
		if p.GapUS != want {
			t.Errorf("gap %s -> %s = %vµs, want %vµs", p.From, p.To, p.GapUS, want)
		}
	}
	// Idle for twice the margin: with a fixed gap it would move to the
	// idle eth2; eth1's frames are still queued, so it stays.
	tt.advance(2 * margin)
	send(1)
	if a, b := sentOn(); a != 1 || b != 0 {
		t.Fatalf("after 2x the margin idle: %d frames on eth1, %d on eth2; want it held on eth1", a, b)
	}
	if c := tt.State().Counters; c.FlowletMovesRefused != 1 || c.FlowletMoves != 0 {
		t.Fatalf("counters: %d refused, %d moves; want 1 refused, 0 moves", c.FlowletMovesRefused, c.FlowletMoves)
	}
	// eth1's queue empties. The flow's latest frame was still queued
	// behind the old backlog (its wait is eth1's delay, at most MaxDelay);
	// once that and the margin have passed, it moves to the less loaded
	// eth2.
	queued.Store(0)
	send(1) // measures the empty queue
	tt.advance(time.Duration(lb.MaxDelay) + margin)
	if st := tt.State(); st.Members[0].TxDelayUS != 0 || st.Flowlets.Pairs[0].GapUS != float64(margin/time.Microsecond) {
		t.Fatalf("eth1 drained: delay %vµs, pairs %+v; want 0 and the margin", st.Members[0].TxDelayUS, st.Flowlets.Pairs)
	}
	sentOn()
	send(1)
	if a, b := sentOn(); a != 0 || b != 1 {
		t.Fatalf("after eth1 drained: %d frames on eth1, %d on eth2; want the move", a, b)
	}
	if c := tt.State().Counters; c.FlowletMovesRefused != 1 || c.FlowletMoves != 1 {
		t.Errorf("counters: %d refused, %d moves; want 1 refused, 1 move", c.FlowletMovesRefused, c.FlowletMoves)
	}
}
