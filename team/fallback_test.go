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
	if !f.partnerUp(s(11.5)) || f.active {
		t.Fatal("LACP distributing did not end the fallback")
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
	if f.active {
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
