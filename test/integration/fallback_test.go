//go:build linux

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
)

func fallbackConfig(fallback string) string {
	return lacpConfig(true, "fast") + "  fallback: " + fallback + "\n  fallback_after: 2s\n"
}

// TestLACPFallbackWithOVS: Open vSwitch's ports are not configured for
// LACP (plain ports, as an unconfigured switch); the team hears no
// LACPDU, falls back to active-backup after fallback_after and traffic
// flows; then OVS bonds the ports with LACP at run time and the team
// aggregates without a restart (the loss of a ping stream across the
// change is logged).
func TestLACPFallbackWithOVS(t *testing.T) {
	tp, sw := newOVSTopo(t)
	d := tp.start(t, tp.config(fallbackConfig("active-backup")))
	nstest.Eventually(t, 15*time.Second, func() error {
		st := d.state()
		if st.Counters.LACPFallbacks != 1 || !strings.HasPrefix(st.LACPFallback, "active-backup") {
			return fmt.Errorf("no fallback yet: %q, lacp_fallbacks %d", st.LACPFallback, st.Counters.LACPFallbacks)
		}
		return nil
	})
	pingOK(t, tp.vm, "10.77.0.2")
	n := 0
	for _, m := range d.state().Members {
		if m.Active {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d members active in active-backup fallback, want 1", n)
	}
	if !strings.Contains(d.proc.Output(), "falling back") {
		t.Errorf("no log line for the fallback:\n%s", d.proc.LogTail(20))
	}

	type result struct{ tx, rx int }
	done := make(chan result, 1)
	go func() {
		tx, rx := pingStats(t, tp.vm, "-c", "300", "-i", "0.01", "10.77.0.2")
		done <- result{tx, rx}
	}()
	time.Sleep(500 * time.Millisecond)
	for _, p := range []string{"p1", "p2"} {
		if _, err := sw.Vsctl("del-port", "br0", p); err != nil {
			t.Fatal(err)
		}
	}
	must(t, sw.AddBond("br0", "bond0", []string{"p1", "p2"}, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast"))
	waitAggregated(t, d, sw)
	r := <-done
	st := d.state()
	if st.Counters.LACPFallbacksEnded != 1 || strings.HasPrefix(st.LACPFallback, "active-backup") {
		t.Errorf("after OVS turned LACP on: %q, lacp_fallbacks_ended %d", st.LACPFallback, st.Counters.LACPFallbacksEnded)
	}
	t.Logf("fallback -> LACP under 100 pings/s: %d sent, %d answered, %d lost", r.tx, r.rx, r.tx-r.rx)
	pingOK(t, tp.vm, "10.77.0.2")
}

// TestLACPNoFallbackWithOVS: fallback none is today's behaviour: with
// LACP off in OVS the team carries nothing.
func TestLACPNoFallbackWithOVS(t *testing.T) {
	tp, _ := newOVSTopo(t)
	d := tp.start(t, tp.config(fallbackConfig("none")))
	time.Sleep(4 * time.Second) // twice fallback_after
	st := d.state()
	for _, m := range st.Members {
		if m.Active {
			t.Errorf("member %s carries without a partner and without fallback", m.Name)
		}
	}
	if st.Counters.LACPFallbacks != 0 || st.LACPFallback != "" {
		t.Errorf("fallback none: %q, lacp_fallbacks %d", st.LACPFallback, st.Counters.LACPFallbacks)
	}
	if tx, rx := pingStats(t, tp.vm, "-c", "3", "-i", "0.2", "-W", "1", "10.77.0.2"); rx != 0 {
		t.Errorf("%d of %d pings answered through a team without a partner", rx, tx)
	}
}
