//go:build linux

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestHoldTimersFlapping: m2, the primary member (vm1's preferred home),
// flaps every 50 ms with delay_up 500ms while the VM sends flows that
// address-hash would spread over both members. m2 never carries a frame,
// is never active, and vm1 never moves to it; the flaps are counted as
// held. Once m2 stays up for delay_up, vm1 moves home to it.
func TestHoldTimersFlapping(t *testing.T) {
	tp := newTopo(t)
	nstest.RequireTool(t, "mausezahn")
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "down")
	d := tp.start(t, tp.config(`mode: switch-independent
balance: address-hash
hash: [eth, ipv4, l4]
members:
  - name: m1
  - name: m2
    primary: true
    delay_up: 500ms
vnics:
  - name: vm1
`))
	pingOK(t, tp.vm, "10.77.0.2")
	before := d.state()
	if h := before.VNICs[0].Home; h != "m1" {
		t.Fatalf("vm1 home %q with m2 down, want m1", h)
	}
	m2Before := d.view().member("m2")

	flap := tp.sw.StartProc(t, "sh", "-c", "for i in $(seq 20); do ip link set p2 up; sleep 0.05; ip link set p2 down; sleep 0.05; done")
	traffic := tp.vm.StartProc(t, "mausezahn", "eth0", "-q", "-c", "1", "-d", "1msec", "-a", "02:00:00:77:00:01", "-b", "02:00:00:77:00:02",
		"-A", "10.77.0.1", "-B", "10.77.0.2", "-t", "udp", "sp=1000-1999,dp=9")
	for done := false; !done; {
		select {
		case <-flap.Done():
			done = true
		case <-time.After(20 * time.Millisecond):
		}
		st := d.view()
		if m := st.member("m2"); m.Active {
			t.Fatalf("flapping m2 became active: %+v", m)
		}
		if h := st.VNICs[0].Home; h != "m1" {
			t.Fatalf("vm1 moved to %q while m2 flapped", h)
		}
	}
	if err := traffic.Wait(10 * time.Second); err != nil {
		t.Fatalf("mausezahn: %v\n%s", err, traffic.Output())
	}
	after := d.state()
	m2 := d.view().member("m2")
	if dtx := m2.TxPackets - m2Before.TxPackets; dtx != 0 {
		t.Errorf("flapping m2 sent %d frames", dtx)
	}
	if dm := after.Counters.VNICMoves - before.Counters.VNICMoves; dm != 0 {
		t.Errorf("vnic_moves grew by %d while m2 flapped", dm)
	}
	held := after.Counters.LinkChangesHeld - before.Counters.LinkChangesHeld
	if held < 10 {
		t.Errorf("link_changes_held grew by %d for 20 flaps", held)
	}
	if m1 := d.view().member("m1"); m1.TxPackets < 1000 {
		t.Errorf("m1 sent %d frames; the 1000 flows all leave on it", m1.TxPackets)
	}
	t.Logf("20 flaps of m2 at 50 ms: %d held, m2 tx %d, vnic_moves +0", held, m2.TxPackets-m2Before.TxPackets)

	// Now it stays up: used after delay_up, and vm1 goes home.
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "up")
	up := time.Now()
	nstest.Eventually(t, 10*time.Second, func() error {
		st := d.view()
		if m := st.member("m2"); !m.Active || st.VNICs[0].Home != "m2" {
			return fmt.Errorf("m2 active %v hold %q, vm1 home %q", m.Active, m.Hold, st.VNICs[0].Home)
		}
		return nil
	})
	if el := time.Since(up); el < 500*time.Millisecond {
		t.Errorf("m2 used %v after its link came up, before delay_up", el)
	}
	if !strings.Contains(d.proc.Output(), "held") {
		t.Errorf("no log line says a link change is held:\n%s", d.proc.LogTail(30))
	}
}
