package team

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
)

// The ping link watchers, as teamd's arp_ping and nsna_ping: every
// interval each member asks target_host for its MAC, and a member whose
// last missed_max questions went unanswered is down for the team even
// though it has carrier. They catch what carrier cannot: a link that is
// up to a switch that no longer reaches the target. They run on every
// member, the active one and the backups.
//
// arp_ping asks by ARP request (from source_host, 0.0.0.0 making it an
// ARP probe); nsna_ping by IPv6 neighbour solicitation to the target's
// solicited-node address (RFC 4861 7.2.2), from the member's own
// link-local address (fe80:: and the EUI-64 of its MAC) with its MAC in
// the source link-layer option, so that the target's solicited
// advertisement comes back unicast to that member's MAC. The two differ
// only in the probe they build and the answer they accept; the rounds,
// the verdict and the state are the same.

type pingWatch struct {
	// name is config.LinkWatchARPPing or config.LinkWatchNSNAPing.
	name string
	nsna bool
	// arp_ping's sender and target; nsna_ping's target (the sender is
	// each member's link-local address).
	src4, dst4 [4]byte
	dst6       [16]byte
	interval   time.Duration
	missed     int
	// replied holds, per member ID, when an answer last arrived (team
	// clock); written by the member goroutines.
	replied [lb.MaxMembers]atomic.Int64
	// tick drives the rounds, on the control goroutine.
	tick *time.Ticker
}

// newPingWatch returns the watcher lw names; lw is valid (config
// checked the addresses).
func newPingWatch(lw config.LinkWatch) *pingWatch {
	w := &pingWatch{name: lw.Name, nsna: lw.Name == config.LinkWatchNSNAPing, interval: lw.Interval, missed: lw.MissedMax}
	if a, err := netip.ParseAddr(lw.SourceHost); err == nil && a.Is4() {
		w.src4 = a.As4()
	}
	if a, err := netip.ParseAddr(lw.TargetHost); err == nil {
		if a.Is4() {
			w.dst4 = a.As4()
		} else {
			w.dst6 = a.As16()
		}
	}
	if w.interval <= 0 {
		w.interval = config.DefaultARPInterval
	}
	if w.missed <= 0 {
		w.missed = config.DefaultARPMissedMax
	}
	return w
}

// target returns target_host, for logs.
func (w *pingWatch) target() netip.Addr {
	if w.nsna {
		return netip.AddrFrom16(w.dst6)
	}
	return netip.AddrFrom4(w.dst4)
}

// isReply reports whether an ARP or ND frame (f.ARP or f.ND set)
// received on a member with MAC memberMAC is the target's answer to that
// member's probe: member goroutines then record it and consume it (so it
// is not counted as a frame nobody owns). Explain asks the same
// question. Anything else goes on to the vnics.
//
// An arp_ping answer is an untagged ARP reply sent to the member's MAC,
// from target_host to source_host (0.0.0.0 for a probe, which Linux
// answers to 0.0.0.0) at the member's MAC. An nsna_ping answer is an
// untagged solicited neighbour advertisement sent to the member's MAC
// and link-local address, for target_host.
func (w *pingWatch) isReply(memberMAC frame.MAC, f *frame.Frame, eth []byte) bool {
	if f.Dst != memberMAC || f.Tagged {
		return false // the probes go out untagged
	}
	if w.nsna {
		n := untaggedND(f, eth)
		return n != nil && n.Type() == neigh.TypeNeighborAdvertisement && n.Flags()&neigh.FlagSolicited != 0 &&
			n.Target() == w.dst6 && n.Dst() == neigh.LinkLocal(memberMAC)
	}
	a := untaggedARP(f, eth)
	return a != nil && a.Op() == neigh.OpReply &&
		a.SenderIP() == w.dst4 && a.TargetIP() == w.src4 && a.TargetMAC() == memberMAC
}

// probe builds the question member mac asks each round (virtio header
// included): a broadcast ARP request from mac/source_host, or a
// neighbour solicitation from mac and its link-local address.
func (w *pingWatch) probe(mac frame.MAC) []byte {
	if w.nsna {
		return neigh.AppendNS(newControlFrame(), mac, neigh.LinkLocal(mac), w.dst6)
	}
	return neigh.AppendRequest(newControlFrame(), mac, w.src4, w.dst4)
}

// setLinkWatch changes the link watcher (control goroutine): arp_ping or
// nsna_ping starts or stops; with carrier, members are judged by carrier
// alone.
func (t *Team) setLinkWatch(lw config.LinkWatch) {
	t.cfg.LinkWatch = lw
	t.stopPingWatch()
	t.changed("link watch")
	if lw.Name != config.LinkWatchARPPing && lw.Name != config.LinkWatchNSNAPing {
		return
	}
	w := newPingWatch(lw)
	now := t.now()
	for _, m := range t.members {
		w.replied[m.id].Store(now) // a grace of missed_max intervals
	}
	w.tick = time.NewTicker(w.interval)
	t.pingw = w
	if w.nsna {
		t.log.Info("nsna_ping link watch", "target", w.target(), "source", "each member's link-local address",
			"interval", w.interval, "missed_max", w.missed)
	} else {
		t.log.Info("arp_ping link watch", "target", w.target(), "source", netip.AddrFrom4(w.src4),
			"interval", w.interval, "missed_max", w.missed)
	}
}

// stopPingWatch stops arp_ping or nsna_ping; every member is up again
// as far as the watcher is concerned.
func (t *Team) stopPingWatch() {
	if t.pingw == nil {
		return
	}
	t.pingw.tick.Stop()
	t.pingw = nil
	for _, m := range t.members {
		m.watchOK = true
		t.observeLink(m)
	}
}

// pingWatchTick is one round (control goroutine, every interval): each
// member is judged by its answers, then sends the next probe.
func (t *Team) pingWatchTick() {
	w := t.pingw
	if w == nil {
		return
	}
	now := t.now()
	for _, m := range t.members {
		ok := now-w.replied[m.id].Load() <= int64(w.interval)*int64(w.missed)
		if ok != m.watchOK {
			if m.watchOK && m.carrier {
				m.downs++
			}
			m.watchOK = ok
			t.observeLink(m)
			if ok {
				t.log.Info(w.name+": member answered again; up", "member", m.name)
			} else {
				t.log.Warn(w.name+": no answer; member down although it has carrier", "member", m.name,
					"target", w.target(), "missed", w.missed)
			}
		}
		m.write([][]byte{w.probe(m.mac)})
	}
}

// missedRounds is the number of intervals since member id's last answer.
func (w *pingWatch) missedRounds(id int, now int64) int {
	return int(max(0, now-w.replied[id].Load()) / int64(w.interval))
}
