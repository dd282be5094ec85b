package team

import (
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/team/config"
)

// TestLinkHold drives one member's hold in virtual time.
func TestLinkHold(t *testing.T) {
	ms := func(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }
	type step struct {
		at   int   // ms
		up   *bool // the watcher's verdict at this time, nil: only time passes
		used bool  // what the team uses after the step
	}
	yes, no := new(bool), new(bool)
	*yes = true
	tests := []struct {
		name     string
		start    bool
		up, down int
		steps    []step
	}{
		{"no delays: at once", true, 0, 0, []step{{10, no, false}, {20, yes, true}}},
		{"up after delay_up", false, 500, 0, []step{{0, yes, false}, {499, nil, false}, {500, nil, true}}},
		{"down after delay_down", true, 0, 200, []step{{100, no, true}, {299, nil, true}, {300, nil, false}}},
		{"up undone before delay_up: never used", false, 500, 0, []step{
			{0, yes, false}, {50, no, false}, {100, yes, false}, {150, no, false}, {200, yes, false},
			{650, nil, false}, {700, nil, true}}},
		{"flapping every 50 ms never comes up", false, 500, 0, func() []step {
			var s []step
			for i := 0; i < 40; i++ {
				v := yes
				if i%2 == 1 {
					v = no
				}
				s = append(s, step{i * 50, v, false})
			}
			return append(s, step{5000, nil, false})
		}()},
		{"down undone before delay_down: never taken out", true, 0, 300, []step{{0, no, true}, {100, yes, true}, {1000, nil, true}}},
		{"delay_up 0 with delay_down", false, 0, 300, []step{{0, yes, true}, {10, no, true}, {310, nil, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newLinkHold(tc.start, ms(tc.up), ms(tc.down))
			if h.used != tc.start {
				t.Fatalf("start: used %v", h.used)
			}
			for i, s := range tc.steps {
				was := h.used
				var changed bool
				if s.up != nil {
					changed = h.observe(*s.up, ms(s.at))
				} else {
					changed = h.expire(ms(s.at))
				}
				if h.used != s.used || changed != (was != h.used) {
					t.Fatalf("step %d (%d ms): used %v (changed %v), want %v", i, s.at, h.used, changed, s.used)
				}
				if due, ok := h.next(); ok && due <= ms(s.at) {
					t.Fatalf("step %d: a change due at %d is still pending at %d", i, due, ms(s.at))
				}
			}
		})
	}
}

// TestHoldTimersInTeam: a member flapping every 50 ms (virtual time) with
// delay_up 500ms never carries traffic and never moves the vnic homed
// elsewhere; once it stays up for delay_up it is used again. delay_down
// keeps a member that goes down in use until it has been down that long.
func TestHoldTimersInTeam(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2")
	cfg.Members[1].DelayUp = 500 * time.Millisecond
	cfg.Members[0].DelayDown = 200 * time.Millisecond
	tt := startTeam(t, cfg)
	tt.learn(t, "vm1", vm1MAC)
	tt.learn(t, "vm2", vm2MAC)
	if h := tt.State().VNICs[1].Home; h != "eth2" {
		t.Fatalf("vm2 home %q, want eth2", h)
	}
	tt.LinkChanged("eth2", false) // delay_down 0: at once
	st := tt.State()
	if st.VNICs[1].Home != "eth1" || st.Counters.VNICMoves != 1 {
		t.Fatalf("eth2 down: vm2 home %q, vnic_moves %d", st.VNICs[1].Home, st.Counters.VNICMoves)
	}
	for _, p := range []string{"eth1", "eth2"} {
		tt.h.port(p).Sent()
	}
	sent := 0
	for i := range 40 { // 2 s of flapping, 50 ms each way
		tt.LinkChanged("eth2", i%2 == 0)
		tt.h.port("vm2").Inject(udp(peerMAC, vm2MAC, uint16(i), 80))
		sent++
		if err := tt.h.port("eth1").WaitSent(sent, wait); err != nil {
			t.Fatalf("flap %d: vm2's frame did not leave on eth1: %v", i, err)
		}
		tt.advance(50 * time.Millisecond)
		tt.Tick()
		st := tt.State()
		if st.Members[1].Active || st.VNICs[1].Home != "eth1" || st.Counters.VNICMoves != 1 {
			t.Fatalf("flap %d: eth2 active %v, vm2 home %q, vnic_moves %d", i, st.Members[1].Active, st.VNICs[1].Home, st.Counters.VNICMoves)
		}
	}
	if n := len(tt.h.port("eth2").Sent()); n != 0 {
		t.Fatalf("the flapping eth2 sent %d frames", n)
	}
	if n := tt.State().Counters.LinkChangesHeld; n != 20 {
		t.Errorf("link_changes_held = %d, want 20 (every up undone within delay_up)", n)
	}

	tt.LinkChanged("eth2", true) // and it stays up
	tt.advance(499 * time.Millisecond)
	tt.Tick()
	if st := tt.State(); st.Members[1].Active {
		t.Fatal("eth2 used before it was up for delay_up")
	}
	if h := tt.State().Members[1].Hold; h != "up in 1ms" {
		t.Errorf("hold of eth2 1 ms before delay_up: %q, want \"up in 1ms\"", h)
	}
	tt.advance(time.Millisecond)
	tt.Tick()
	if st := tt.State(); !st.Members[1].Active || st.VNICs[1].Home != "eth2" || st.Counters.VNICMoves != 2 {
		t.Fatalf("eth2 up for delay_up: active %v, vm2 home %q, vnic_moves %d", st.Members[1].Active, st.VNICs[1].Home, st.Counters.VNICMoves)
	}

	tt.LinkChanged("eth1", false) // delay_down 200ms
	tt.advance(199 * time.Millisecond)
	tt.Tick()
	if st := tt.State(); !st.Members[0].Active || st.VNICs[0].Home != "eth1" {
		t.Fatal("eth1 taken out before it was down for delay_down")
	}
	tt.advance(time.Millisecond)
	tt.Tick()
	if st := tt.State(); st.Members[0].Active || st.VNICs[0].Home != "eth2" {
		t.Fatalf("eth1 down for delay_down: active %v, vm1 home %q", st.Members[0].Active, st.VNICs[0].Home)
	}
}
