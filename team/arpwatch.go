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

// The arp_ping link watcher, as teamd's: every interval each member sends
// an ARP request for target_host (from source_host, 0.0.0.0 making it an
// ARP probe), and a member whose last missed_max requests went unanswered
// is down for the team even though it has carrier. It catches what
// carrier cannot: a link that is up to a switch that no longer reaches
// the target. It runs on every member, the active one and the backups.

type arpWatch struct {
	src, dst [4]byte
	interval time.Duration
	missed   int
	// replied holds, per member ID, when a reply last arrived (team
	// clock); written by the member goroutines.
	replied [lb.MaxMembers]atomic.Int64
	// tick drives the rounds, on the control goroutine.
	tick *time.Ticker
}

func newARPWatch(lw config.LinkWatch) *arpWatch {
	w := &arpWatch{interval: lw.Interval, missed: lw.MissedMax}
	if a, err := netip.ParseAddr(lw.SourceHost); err == nil && a.Is4() {
		w.src = a.As4()
	}
	if a, err := netip.ParseAddr(lw.TargetHost); err == nil && a.Is4() {
		w.dst = a.As4()
	}
	if w.interval <= 0 {
		w.interval = config.DefaultARPInterval
	}
	if w.missed <= 0 {
		w.missed = config.DefaultARPMissedMax
	}
	return w
}

// isReply reports whether an ARP frame (f.ARP set) received on a member
// with MAC memberMAC is the target's answer to that member's probe:
// member goroutines then record it and consume it (so it is not counted
// as a frame nobody owns). Explain asks the same question. An answer is
// an untagged ARP reply sent to the member's MAC, from target_host to
// source_host (0.0.0.0 for a probe, which Linux answers to 0.0.0.0) at
// the member's MAC; anything else goes on to the vnics.
func (w *arpWatch) isReply(memberMAC frame.MAC, f *frame.Frame, eth []byte) bool {
	a := untaggedARP(f, eth)
	return a != nil && f.Dst == memberMAC && a.Op() == neigh.OpReply &&
		a.SenderIP() == w.dst && a.TargetIP() == w.src && a.TargetMAC() == memberMAC
}

// setLinkWatch changes the link watcher (control goroutine): arp_ping
// starts or stops; with carrier, members are judged by carrier alone.
func (t *Team) setLinkWatch(lw config.LinkWatch) {
	t.cfg.LinkWatch = lw
	t.stopARPWatch()
	t.changed("link watch")
	if lw.Name != config.LinkWatchARPPing {
		return
	}
	w := newARPWatch(lw)
	now := t.now()
	for _, m := range t.members {
		w.replied[m.id].Store(now) // a grace of missed_max intervals
	}
	w.tick = time.NewTicker(w.interval)
	t.arpw = w
	t.log.Info("arp_ping link watch", "target", netip.AddrFrom4(w.dst), "source", netip.AddrFrom4(w.src),
		"interval", w.interval, "missed_max", w.missed)
}

// stopARPWatch stops arp_ping; every member is up again as far as the
// watcher is concerned.
func (t *Team) stopARPWatch() {
	if t.arpw == nil {
		return
	}
	t.arpw.tick.Stop()
	t.arpw = nil
	for _, m := range t.members {
		m.watchOK = true
		t.observeLink(m)
	}
}

// arpWatchTick is one arp_ping round (control goroutine, every
// interval): each member is judged by its replies, then sends the next
// request.
func (t *Team) arpWatchTick() {
	w := t.arpw
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
				t.log.Info("arp_ping: member answered again; up", "member", m.name)
			} else {
				t.log.Warn("arp_ping: no reply; member down although it has carrier", "member", m.name,
					"target", netip.AddrFrom4(w.dst), "missed", w.missed)
			}
		}
		m.write([][]byte{arpProbe(m.mac, w.src, w.dst)})
	}
}

// arpProbe builds a broadcast ARP request from mac/src for dst (virtio
// header included).
func arpProbe(mac frame.MAC, src, dst [4]byte) []byte {
	return neigh.AppendRequest(newControlFrame(), mac, src, dst)
}
