//go:build linux

package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestARPPingLinkWatch: m1 keeps its carrier but is cut off from the
// network (its switch port leaves the bridge); arp_ping takes it out of
// the team and the VM's traffic moves to m2; when the port returns, so
// does m1.
func TestARPPingLinkWatch(t *testing.T) {
	tp := newTopo(t)
	d := tp.start(t, tp.config(`mode: switch-independent
balance: active-backup
members:
  - name: m1
    primary: true
  - name: m2
vnics:
  - name: vm1
link_watch:
  name: arp_ping
  interval: 100ms
  missed_max: 3
  source_host: 10.77.0.99
  target_host: 10.77.0.2
`))
	nstest.Eventually(t, 5*time.Second, d.linkWatches("arp_ping ok", "arp_ping ok"))
	pingOK(t, tp.vm, "10.77.0.2")

	tp.cutM1(t, d, "arp_ping")
	st := d.view()
	if !st.member("m1").Carrier || st.member("m1").Link != "down" || st.Active != "m2" {
		t.Fatalf("m1 cut off: carrier %v link %s, active %s", st.member("m1").Carrier, st.member("m1").Link, st.Active)
	}
	if tx, rx := pingStats(t, tp.vm, "-c", "10", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("with m1 cut off: %d pings sent, %d answered", tx, rx)
	}

	tp.reconnectM1(t, d, "arp_ping")
	pingOK(t, tp.vm, "10.77.0.2")
}

// cutM1 takes m1's switch port out of the bridge (m1 keeps its carrier)
// and waits until watcher ("arp_ping", "nsna_ping") reports m1 failed
// and m2 ok.
func (tp *topo) cutM1(t *testing.T, d *daemon, watcher string) {
	t.Helper()
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "nomaster")
	nstest.Eventually(t, 5*time.Second, d.linkWatches(watcher+" failed", watcher+" ok"))
}

// reconnectM1 puts m1's switch port back in the bridge and waits until
// watcher reports both members ok and the primary m1 is active again.
func (tp *topo) reconnectM1(t *testing.T, d *daemon, watcher string) {
	t.Helper()
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "master", "br0")
	nstest.Eventually(t, 5*time.Second, d.linkWatches(watcher+" ok", watcher+" ok"))
	nstest.Eventually(t, 5*time.Second, func() error {
		if a := d.view().Active; a != "m1" {
			return fmt.Errorf("active %s, want the primary m1 back", a)
		}
		return nil
	})
}
