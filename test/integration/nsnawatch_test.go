//go:build linux

package integration

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestNSNAPingLinkWatch: nsna_ping against a real IPv6 stack. The peer's
// kernel answers each member's neighbour solicitations (and keeps the
// members' link-local addresses in its neighbour table); then m1 keeps
// its carrier but is cut off from the network (its switch port leaves the
// bridge), nsna_ping takes it out of the team, and the VM's IPv6 traffic
// carries on over m2; when the port returns, so does m1.
func TestNSNAPingLinkWatch(t *testing.T) {
	tp := newTopo(t)
	const vm6, peer6 = "2001:db8:77::1", "2001:db8:77::2"
	tp.vm.MustRun(t, "ip", "-6", "addr", "add", vm6+"/64", "dev", "eth0", "nodad")
	tp.peer.MustRun(t, "ip", "-6", "addr", "add", peer6+"/64", "dev", "eth0", "nodad")
	d := tp.start(t, tp.config(`mode: switch-independent
balance: active-backup
members:
  - name: m1
    primary: true
  - name: m2
vnics:
  - name: vm1
link_watch:
  name: nsna_ping
  interval: 100ms
  missed_max: 3
  target_host: `+peer6+`
`))
	nstest.Eventually(t, 5*time.Second, d.linkWatches("nsna_ping ok", "nsna_ping ok"))

	// The peer learned each member from its solicitation: the member's
	// link-local address (EUI-64 of its MAC) at the member's MAC.
	st := d.view()
	for _, name := range []string{"m1", "m2"} {
		mac, err := frame.ParseMAC(st.member(name).MAC)
		if err != nil {
			t.Fatal(err)
		}
		ll := netip.AddrFrom16(neigh.LinkLocal(mac)).String()
		nstest.Eventually(t, 5*time.Second, func() error {
			out, _ := tp.peer.Run("ip", "-6", "neigh", "show", ll, "dev", "eth0")
			if !strings.Contains(out, "lladdr "+mac.String()) {
				return fmt.Errorf("peer's neighbour table for %s (%s): %q, want lladdr %s", name, ll, out, mac)
			}
			return nil
		})
	}
	pingOK(t, tp.vm, peer6)

	cut := time.Now()
	tp.cutM1(t, d, "nsna_ping")
	// Logged, not judged: about interval x missed_max, plus up to one
	// interval and the polling of Eventually.
	t.Logf("m1 failed %v after the cut (interval 100ms, missed_max 3)", time.Since(cut).Round(10*time.Millisecond))
	st = d.view()
	if m1 := st.member("m1"); !m1.Carrier || m1.Link != "down" || st.Active != "m2" || m1.NSNAMissed < 3 || m1.LinkDownCount != 1 {
		t.Fatalf("m1 cut off: carrier %v link %s missed %d downs %d, active %s", m1.Carrier, m1.Link, m1.NSNAMissed, m1.LinkDownCount, st.Active)
	}
	if tx, rx := pingStats(t, tp.vm, "-6", "-c", "10", "-i", "0.05", peer6); rx != tx {
		t.Errorf("with m1 cut off: %d pings sent, %d answered", tx, rx)
	}

	tp.reconnectM1(t, d, "nsna_ping")
	if tx, rx := pingStats(t, tp.vm, "-6", "-c", "10", "-i", "0.05", peer6); rx != tx {
		t.Errorf("with m1 back: %d pings sent, %d answered", tx, rx)
	}
	t.Logf("rx_dropped_not_owned %d at the end (frames to the members' own MACs the watcher does not take would count here)", d.view().Counters.RxDroppedNotOwned)
}
