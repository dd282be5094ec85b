//go:build linux

package integration

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

func fallbackConfig(fallback string) string {
	return lacpConfig(true, "fast") + "  fallback: " + fallback + "\n  fallback_after: 2s\n"
}

// lacpOn is how Open vSwitch starts speaking LACP at run time.
type lacpOn struct {
	name string
	// bond is the bond before LACP is on (nil: p1 and p2 are plain
	// ports).
	bond []string
	on   func(t *testing.T, sw *ovstest.Switch)
}

var lacpOns = []lacpOn{
	{
		// An unconfigured switch is configured: the plain ports leave
		// the bridge and come back as a LACP bond, so the switch's
		// own bond forms from nothing.
		name: "rebond",
		on: func(t *testing.T, sw *ovstest.Switch) {
			for _, p := range []string{"p1", "p2"} {
				if _, err := sw.Vsctl("del-port", "br0", p); err != nil {
					t.Fatal(err)
				}
			}
			must(t, sw.AddBond("br0", "bond0", []string{"p1", "p2"}, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast"))
		},
	},
	{
		// The bond exists (active-backup on p1, as the team's
		// fallback) and only LACP is turned on: the switch keeps its
		// bond and its MAC table, what is lost is the negotiation.
		name: "lacp-on",
		bond: []string{"lacp=off", "bond_mode=active-backup", "other_config:bond-primary=p1", "other_config:lacp-time=fast"},
		on: func(t *testing.T, sw *ovstest.Switch) {
			if _, err := sw.Vsctl("set", "port", "bond0", "lacp=active"); err != nil {
				t.Fatal(err)
			}
		},
	},
}

// TestLACPFallbackWithOVS: Open vSwitch does not speak LACP (plain
// ports, as an unconfigured switch, or a bond without LACP); the team
// hears no LACPDU, falls back to active-backup after fallback_after and
// traffic flows; then OVS turns LACP on at run time and the team
// aggregates without a restart. A UDP stream each way across the change
// measures the loss, logged per 100 ms; the LACPDUs on p1 show who
// waited for whom.
func TestLACPFallbackWithOVS(t *testing.T) {
	nstest.RequireTool(t, "tshark", "tcpdump")
	for _, on := range lacpOns {
		t.Run(on.name, func(t *testing.T) {
			tp, sw := newOVSTopo(t, on.bond...)
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
			d.prioritize()

			// The switch's ports' LACPDUs, one capture each: tcpdump
			// says when it listens.
			dir := t.TempDir()
			var caps []*nstest.Proc
			var pcaps []string
			for _, p := range []string{"p1", "p2"} {
				pcap := filepath.Join(dir, p+".pcap")
				c := startTcpdump(t, tp.sw, "-i", p, "-n", "-U", "-w", pcap, "ether proto 0x8809")
				caps, pcaps = append(caps, c), append(pcaps, pcap)
			}

			const rate = 1000
			up := startUDPStream(t, "vm->peer", tp.vm, "10.77.0.1", tp.peer, "10.77.0.2", rate, 64)
			down := startUDPStream(t, "peer->vm", tp.peer, "10.77.0.2", tp.vm, "10.77.0.1", rate, 64)
			up.waitArrivalAfter(t, up.sentSoFar(), "the stream's start")
			down.waitArrivalAfter(t, down.sentSoFar(), "the stream's start")
			time.Sleep(500 * time.Millisecond)
			flip := map[*udpStream]time.Duration{up: up.Elapsed(), down: down.Elapsed()}
			flipWall := time.Now()
			on.on(t, sw)
			waitAggregated(t, d, sw)
			agg := up.Elapsed() - flip[up]
			after := up.sentSoFar()
			up.waitArrivalAfter(t, after, "aggregation")
			down.waitArrivalAfter(t, down.sentSoFar(), "aggregation")
			time.Sleep(500 * time.Millisecond)
			for _, c := range caps {
				c.Stop(syscall.SIGINT, 5*time.Second)
			}
			st := d.state()
			if st.Counters.LACPFallbacksEnded != 1 || strings.HasPrefix(st.LACPFallback, "active-backup") {
				t.Errorf("after OVS turned LACP on: %q, lacp_fallbacks_ended %d", st.LACPFallback, st.Counters.LACPFallbacksEnded)
			}
			if st.Counters.LACPFallbacks != 1 {
				t.Errorf("lacp_fallbacks %d: the team fell back again while OVS spoke", st.Counters.LACPFallbacks)
			}
			for _, s := range []*udpStream{up, down} {
				r := s.finish()
				t.Logf("fallback -> LACP (%s, %d/s; OVS LACP on at +%v, aggregated %v later): %d sent, %d lost (%v), %d duplicated, %d reordered",
					on.name, rate, flip[s].Round(time.Millisecond), agg.Round(time.Millisecond), r.Sent, r.Lost,
					time.Duration(r.Lost)*time.Second/rate, r.Dups, r.Reordered)
				t.Logf("  lost per 100 ms from OVS's change (by when sent): %s", lossBuckets(s, flip[s]))
			}
			var pdus []lacpdu
			for i, p := range []string{"p1", "p2"} {
				pdus = append(pdus, lacpdus(t, tp, pcaps[i], p, flipWall, d.view().member("m1").MAC, d.view().member("m2").MAC)...)
			}
			var b strings.Builder
			for _, p := range pdus {
				fmt.Fprintln(&b, p)
			}
			t.Logf("LACPDUs on p1/p2 from OVS's change (ms, port, sender, actor state, partner state):\n%s", b.String())
			// The team answers OVS in sync at once: the first PDU on
			// each port that names OVS as the partner has the
			// Synchronization bit (a team waiting Aggregate_Wait_Time
			// would say it is out of sync, and OVS would carry nothing
			// meanwhile).
			for _, port := range []string{"p1", "p2"} {
				i := slices.IndexFunc(pdus, func(p lacpdu) bool { return p.team && p.port == port && p.acking })
				if i < 0 {
					t.Errorf("%s: no LACPDU of the team names OVS as its partner", port)
				} else if !pdus[i].actorSync {
					t.Errorf("%s: the team's first answer to OVS is out of sync: %v", port, pdus[i])
				}
			}
			pingOK(t, tp.vm, "10.77.0.2")
		})
	}
}

// lossBuckets is a stream's loss per 100 ms, by when each datagram was
// sent, from (stream time) on: "+0.1s 100/100 +0.2s 37/100" (out of
// what the schedule sends in 100 ms).
func lossBuckets(s *udpStream, from time.Duration) string {
	per := map[int]int{}
	for _, seq := range s.Lost() {
		d := s.SentAt(seq) - from
		k := int(d / (100 * time.Millisecond))
		if d < 0 && d%(100*time.Millisecond) != 0 {
			k-- // floor, not toward zero
		}
		per[k]++
	}
	keys := make([]int, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%+.1fs %d/%d ", float64(k)/10, per[k], s.Rate()/10)
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// lacpdu is one LACPDU of a capture on the switch's ports.
type lacpdu struct {
	at                time.Duration // since the capture's t0
	port              string        // p1 or p2
	team              bool          // sent by the team, else by OVS
	actor, partner    string        // tshark's state flags, e.g. "**DCSGSA"
	partnerSys        string
	actorSync, acking bool // the actor is in sync; the partner field names a partner
}

func (p lacpdu) String() string {
	who := "ovs "
	if p.team {
		who = "team"
	}
	return fmt.Sprintf("%7d %s %s actor %s partner %s", p.at.Milliseconds(), p.port, who, p.actor, p.partner)
}

// lacpdus reads the LACPDUs of a capture on port from 1.5 s before t0 on; ours
// are the team's source MACs.
func lacpdus(t *testing.T, tp *topo, pcap, port string, t0 time.Time, ours ...string) []lacpdu {
	t.Helper()
	out, err := tp.sw.Run("tshark", "-r", pcap, "-T", "fields", "-E", "separator=/t",
		"-e", "frame.time_epoch", "-e", "eth.src",
		"-e", "lacp.actor.state", "-e", "lacp.actor.state_str", "-e", "lacp.partner.state_str", "-e", "lacp.partner.sysid")
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	var pdus []lacpdu
	for _, l := range strings.Split(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 6 {
			continue
		}
		var sec float64
		var actor uint64
		if _, err := fmt.Sscanf(f[0], "%f", &sec); err != nil {
			continue
		}
		if _, err := fmt.Sscanf(f[2], "0x%x", &actor); err != nil {
			continue
		}
		p := lacpdu{at: time.Unix(0, int64(sec*1e9)).Sub(t0), port: port, actor: f[3], partner: f[4], partnerSys: f[5],
			actorSync: actor&0x08 != 0, acking: f[5] != "00:00:00:00:00:00"}
		if p.at < -1500*time.Millisecond {
			continue
		}
		for _, mac := range ours {
			p.team = p.team || strings.EqualFold(f[1], mac)
		}
		pdus = append(pdus, p)
	}
	return pdus
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
