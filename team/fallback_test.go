package team

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/lacp"
)

func TestLACPFallbackMachine(t *testing.T) {
	s := func(n float64) int64 { return int64(n * float64(time.Second)) }
	f := newLACPFallback(config.FallbackActiveBackup, s(3), 0)
	if f.expire(s(2.9)) || f.active {
		t.Fatal("fell back before fallback_after")
	}
	if !f.expire(s(3)) || !f.active {
		t.Fatal("no fallback after 3 s without a LACPDU")
	}
	if f.expire(s(10)) {
		t.Fatal("fell back twice")
	}
	if _, ok := f.next(); ok {
		t.Fatal("a deadline while fallen back")
	}
	f.heardPDU(s(11))
	if !f.active {
		t.Fatal("a LACPDU ended the fallback before LACP distributes")
	}
	if f.aggregateWait(s(11)) != 0 {
		t.Fatal("Aggregate_Wait_Time during the fallback")
	}
	if !f.partnerUp(s(11.5)) || f.active {
		t.Fatal("LACP distributing did not end the fallback")
	}
	if w := f.aggregateWait(s(13.4)); w != 0 {
		t.Fatalf("Aggregate_Wait_Time %v in the handover", w)
	}
	if end, ok := f.handoverEnd(s(13.4)); !ok || end != s(13.5) {
		t.Fatalf("handover ends at %v (%v), want 13.5 s", time.Duration(end), ok)
	}
	if w := f.aggregateWait(s(13.5)); w != lacp.AggregateWaitTime {
		t.Fatalf("Aggregate_Wait_Time %v after the handover", w)
	}
	if _, ok := f.handoverEnd(s(13.5)); ok {
		t.Fatal("handover still pending after it ended")
	}
	if f.partnerUp(s(11.6)) {
		t.Fatal("ended twice")
	}
	f.heardPDU(s(11.5))
	if due, _ := f.next(); due != s(14.5) {
		t.Fatalf("next fallback at %v, want 14.5 s (3 s after the last LACPDU)", time.Duration(due))
	}
	if f.expire(s(14)) {
		t.Fatal("fell back although a LACPDU came 2.5 s ago")
	}
	f.reconfigure(config.FallbackNone, s(3))
	if f.expire(s(100)) || f.active {
		t.Fatal("fallback: none fell back")
	}
	f.reconfigure(config.FallbackStatic, s(1))
	if !f.expire(s(100)) {
		t.Fatal("fallback turned on by a reload did not start")
	}
	f.reconfigure(config.FallbackNone, s(1))
	if f.active || f.aggregateWait(s(100)) != lacp.AggregateWaitTime {
		t.Fatal("turning fallback off left it on")
	}
}

func newPartner(t *testing.T, tt *testTeam, n int) *partner {
	t.Helper()
	p := &partner{tt: tt}
	var err error
	p.r, err = lacp.New(lacp.Config{SystemPriority: 100, SystemMAC: [6]byte{0x02, 0x55, 0, 0, 0, 1}, Active: true, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := p.r.AddPort(i, lacp.PortConfig{Number: uint16(i + 1), Priority: 1, Key: 7, MAC: [6]byte{0x02, 0x55, 0, 0, 1, byte(i)}}, p.now()); err != nil {
			t.Fatal(err)
		}
		_ = p.r.SetLink(i, true, p.now())
	}
	return p
}

// TestLACPFallbackInTeam: with no partner, a LACP team carries nothing
// until fallback_after has passed, then runs its fallback (one member for
// active-backup, both for static; none: still nothing); when a partner
// speaks, LACP takes over and the team aggregates.
func TestLACPFallbackInTeam(t *testing.T) {
	for _, tc := range []struct {
		fallback string
		active   int // members carrying in fallback
	}{{config.FallbackActiveBackup, 1}, {config.FallbackStatic, 2}, {config.FallbackNone, 0}} {
		t.Run(tc.fallback, func(t *testing.T) {
			cfg := baseConfig(config.ModeLACP, config.BalanceAddressHash, "eth1", "eth2")
			cfg.LACP = config.LACP{Active: true, Rate: config.LACPRateFast, SystemPriority: 65535, MinPorts: 1,
				Fallback: tc.fallback, FallbackAfter: 3 * time.Second}
			tt := startTeam(t, cfg)
			active := func() int {
				n := 0
				for _, m := range tt.State().Members {
					if m.Active {
						n++
					}
				}
				return n
			}
			tt.advance(2900 * time.Millisecond)
			tt.Tick()
			if n := active(); n != 0 {
				t.Fatalf("%d members carry before fallback_after", n)
			}
			tt.advance(100 * time.Millisecond)
			tt.Tick()
			st := tt.State()
			if n := active(); n != tc.active {
				t.Fatalf("after fallback_after: %d members carry, want %d (%q)", n, tc.active, st.LACPFallback)
			}
			if tc.active == 0 {
				if st.LACPFallback != "" || st.Counters.LACPFallbacks != 0 {
					t.Fatalf("fallback none: %q, %d fallbacks", st.LACPFallback, st.Counters.LACPFallbacks)
				}
				return
			}
			if st.Counters.LACPFallbacks != 1 || st.LACPFallback == "" {
				t.Fatalf("fallback state %q, lacp_fallbacks %d", st.LACPFallback, st.Counters.LACPFallbacks)
			}
			tt.learn(t, "vm1", vm1MAC)
			tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, 1, 2))
			waitFor(t, func() error {
				if st := tt.State(); st.Members[0].TxPackets+st.Members[1].TxPackets == 0 {
					return fmt.Errorf("nothing sent in fallback")
				}
				return nil
			})
			// A partner speaks: LACP takes over and both aggregate.
			p := newPartner(t, tt, 2)
			deadline := time.Now().Add(15 * time.Second)
			for {
				p.pump(t, tt, []string{"eth1", "eth2"})
				st := tt.State()
				if st.Counters.LACPFallbacksEnded == 1 && st.Members[0].LACP.Distributing && st.Members[1].LACP.Distributing && active() == 2 {
					if st.Counters.LACPFallbacks != 1 {
						t.Fatalf("fell back again while the partner speaks: %d", st.Counters.LACPFallbacks)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("LACP did not take over: %q, ended %d, %+v %+v", st.LACPFallback, st.Counters.LACPFallbacksEnded, st.Members[0].LACP, st.Members[1].LACP)
				}
			}
		})
	}
}

// exchange is one round of pump that also waits until the team has run
// every PDU the partner sent, so that what the test reads next is the
// team's answer to them.
func (p *partner) exchange(t *testing.T, tt *testTeam, members []string) {
	t.Helper()
	tt.advance(100 * time.Millisecond)
	tt.sync()
	p.hear(t, tt, members)
	want := map[string]uint64{}
	for _, m := range tt.State().Members {
		if m.LACP != nil {
			want[m.Name] = m.LACP.PDUsRx
		}
	}
	for name, n := range p.answer(t, tt, members) {
		want[name] += n
	}
	waitFor(t, func() error {
		for _, m := range tt.State().Members {
			if m.LACP != nil && m.LACP.PDUsRx < want[m.Name] {
				return fmt.Errorf("%s: %d LACPDUs run, want %d", m.Name, m.LACP.PDUsRx, want[m.Name])
			}
		}
		return nil
	})
	tt.sync()
}

// TestLACPFallbackHandover: a team in active-backup fallback whose
// partner starts speaking keeps carrying on its fallback member until
// LACP distributes, then LACP's members carry, in one switch and with no
// moment where nothing carries. With a partner that does not wait
// Aggregate_Wait_Time (as Open vSwitch), LACP distributes in the first
// exchange of PDUs instead of 2 s later; with a standard partner, the
// team waits only for the partner's wait. A port whose partner speaks
// later, within the handover, joins at once; after it the standard wait
// is back.
func TestLACPFallbackHandover(t *testing.T) {
	for _, tc := range []struct {
		name        string
		partnerWait time.Duration // the partner's Aggregate_Wait_Time
		lateSecond  time.Duration // the partner's second port comes up this much later
		// distributing: by when (virtual time since the partner
		// started) both members distribute, and not before.
		earliest, latest time.Duration
	}{
		{"partner without wait", 0, 0, 0, 200 * time.Millisecond},
		{"standard partner", lacp.AggregateWaitTime, 0, lacp.AggregateWaitTime, lacp.AggregateWaitTime + 200*time.Millisecond},
		{"second port late", 0, time.Second, time.Second, time.Second + 200*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			members := []string{"eth1", "eth2"}
			cfg := baseConfig(config.ModeLACP, config.BalanceAddressHash, members...)
			cfg.LACP = config.LACP{Active: true, Rate: config.LACPRateFast, SystemPriority: 65535, MinPorts: 1,
				Fallback: config.FallbackActiveBackup, FallbackAfter: 3 * time.Second}
			tt := startTeam(t, cfg)
			tt.advance(3 * time.Second)
			tt.Tick()
			tt.learn(t, "vm1", vm1MAC)
			carriers := func(st State) (active, dist []string) {
				for _, m := range st.Members {
					if m.Active {
						active = append(active, m.Name)
					}
					if m.LACP != nil && m.LACP.Distributing {
						dist = append(dist, m.Name)
					}
				}
				return
			}
			// sent sends a frame from vm1 and returns the members it
			// left on.
			sport := uint16(1000)
			sent := func() []string {
				before := tt.State()
				sport++
				tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, sport, 2))
				var on []string
				waitFor(t, func() error {
					on = on[:0]
					for i, m := range tt.State().Members {
						if m.TxPackets > before.Members[i].TxPackets {
							on = append(on, m.Name)
						}
					}
					if len(on) == 0 {
						return fmt.Errorf("frame %d not sent on any member", sport)
					}
					return nil
				})
				return on
			}
			if active, _ := carriers(tt.State()); fmt.Sprint(active) != "[eth1]" {
				t.Fatalf("in fallback %v carry, want [eth1]", active)
			}

			p := &partner{tt: tt}
			var err error
			p.r, err = lacp.New(lacp.Config{SystemPriority: 100, SystemMAC: [6]byte{0x02, 0x55, 0, 0, 0, 1}, Active: true, Fast: true})
			if err != nil {
				t.Fatal(err)
			}
			p.r.SetAggregateWait(tc.partnerWait, p.now())
			start := p.now()
			for i := range members {
				if err := p.r.AddPort(i, lacp.PortConfig{Number: uint16(i + 1), Priority: 1, Key: 7, MAC: [6]byte{0x02, 0x55, 0, 0, 1, byte(i)}}, p.now()); err != nil {
					t.Fatal(err)
				}
			}
			secondUp := false
			var history []string // the active sets, each once
			for {
				if !secondUp && p.now()-start >= tc.lateSecond {
					secondUp = true
				}
				_ = p.r.SetLink(0, true, p.now())
				_ = p.r.SetLink(1, secondUp, p.now())
				p.exchange(t, tt, members)
				st := tt.State()
				active, dist := carriers(st)
				at := p.now() - start
				if h := fmt.Sprint(active); len(history) == 0 || history[len(history)-1] != h {
					history = append(history, h)
				}
				if len(active) == 0 {
					t.Fatalf("at +%v nothing carries (%q)", at, st.LACPFallback)
				}
				on := sent()
				if len(dist) == 0 {
					if fmt.Sprint(active) != "[eth1]" || fmt.Sprint(on) != "[eth1]" || st.Counters.LACPFallbacksEnded != 0 {
						t.Fatalf("at +%v before LACP distributes: %v carry, the frame left on %v, fallback %q, ended %d",
							at, active, on, st.LACPFallback, st.Counters.LACPFallbacksEnded)
					}
				} else if fmt.Sprint(active) != fmt.Sprint(dist) || st.Counters.LACPFallbacksEnded != 1 {
					t.Fatalf("at +%v LACP distributes on %v but %v carry (fallback %q, ended %d)",
						at, dist, active, st.LACPFallback, st.Counters.LACPFallbacksEnded)
				}
				if len(dist) == 2 {
					if at < tc.earliest || at > tc.latest {
						t.Errorf("both members distribute at +%v (virtual), want between +%v and +%v", at, tc.earliest, tc.latest)
					}
					break
				}
				if at > 10*time.Second {
					t.Fatalf("no aggregation by +%v: %v distribute, %+v %+v", at, dist, st.Members[0].LACP, st.Members[1].LACP)
				}
			}
			// eth1 carries throughout (for the fallback, then for
			// LACP), eth2 joins once.
			if want := []string{"[eth1]", "[eth1 eth2]"}; fmt.Sprint(history) != fmt.Sprint(want) {
				t.Errorf("members that carried, in turn: %v, want %v", history, want)
			}
			st := tt.State()
			if st.Counters.LACPFallbacks != 1 || st.Counters.LACPFallbacksEnded != 1 {
				t.Errorf("lacp_fallbacks %d, lacp_fallbacks_ended %d, want 1 and 1", st.Counters.LACPFallbacks, st.Counters.LACPFallbacksEnded)
			}
			// The handover ends AggregateWaitTime after LACP took
			// over: the standard wait is back.
			for range 25 {
				p.exchange(t, tt, members)
			}
			var wait time.Duration
			_ = tt.do(func() error { wait = tt.lacp.r.AggregateWait(); return nil })
			if wait != lacp.AggregateWaitTime {
				t.Errorf("Aggregate_Wait_Time %v after the handover, want %v", wait, lacp.AggregateWaitTime)
			}
		})
	}
}
