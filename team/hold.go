package team

import "time"

// Hold timers against flapping (link_watch delay_up and delay_down, as
// teamd's ethtool watcher and bonding's updelay/downdelay).
//
// A linkHold stands between what a member's link watcher says (carrier,
// and arp_ping's verdict) and what the team uses. A change of the
// watcher's verdict is used only once it has lasted its delay: a member
// that comes up is used after being up for delayUp, one that goes down is
// taken out after being down for delayDown. A change that is undone before
// its delay is over never reaches the team: a link that flaps faster than
// delay_up never carries traffic, and no vnic moves because of it. A zero
// delay applies the change at once.
//
// It is a pure value with the clock injected: observe and expire take the
// time, and next says when the pending change, if any, falls due, so the
// team arms one timer and tests run in virtual time.
type linkHold struct {
	delayUp, delayDown int64 // ns
	raw                bool  // the watcher's verdict
	used               bool  // what the team uses
	since              int64 // when raw last changed
}

// newLinkHold starts with the verdict at hand used at once: a member
// that is up when it joins the team did not just come up.
func newLinkHold(up bool, delayUp, delayDown int64) linkHold {
	return linkHold{delayUp: delayUp, delayDown: delayDown, raw: up, used: up}
}

// observe records the watcher's verdict at now and reports whether the
// verdict the team uses changed.
func (h *linkHold) observe(up bool, now int64) bool {
	if up != h.raw {
		h.raw, h.since = up, now
	}
	return h.expire(now)
}

// expire applies a pending change whose delay is over at now, and
// reports whether the used verdict changed.
func (h *linkHold) expire(now int64) bool {
	if due, ok := h.next(); ok && now >= due {
		h.used = h.raw
		return true
	}
	return false
}

// next returns when the pending change falls due, and false when none is
// pending.
func (h *linkHold) next() (int64, bool) {
	if h.raw == h.used {
		return 0, false
	}
	if h.raw {
		return h.since + h.delayUp, true
	}
	return h.since + h.delayDown, true
}

// observeLink hands member m's link verdict (carrier and the watcher's)
// to its hold; the team changes only when the hold lets the change
// through, now or when expireHolds finds it due.
func (t *Team) observeLink(m *member) {
	up := m.carrier && m.watchOK
	was, pending := m.hold.used, m.hold.raw != m.hold.used
	if m.hold.observe(up, t.now()) {
		t.holdChanged(m)
		return
	}
	if up == was {
		if pending {
			// Undone before its delay was over: the team never saw it.
			t.c.linkChangesHeld.Add(1)
		}
		return
	}
	if due, ok := m.hold.next(); ok {
		state, delay := "down", "delay_down"
		if up {
			state, delay = "up", "delay_up"
		}
		t.log.Info("member link "+state+"; held", "member", m.name, delay, time.Duration(due-t.now()))
	}
}

// expireHolds lets through the held changes that are due (control
// goroutine, after every operation and event, and when nextHold is due).
func (t *Team) expireHolds() {
	now := t.now()
	for _, m := range t.members {
		if m.hold.expire(now) {
			t.holdChanged(m)
		}
	}
}

func (t *Team) holdChanged(m *member) {
	state := "down"
	if m.hold.used {
		state = "up"
	}
	t.changed("link " + state + " on " + m.name)
}

// nextHold returns the earliest time a held change falls due.
func (t *Team) nextHold() (int64, bool) {
	var next int64
	found := false
	for _, m := range t.members {
		if due, ok := m.hold.next(); ok && (!found || due < next) {
			next, found = due, true
		}
	}
	return next, found
}

// setDelays changes the delays (a reload); a pending change keeps the
// time it started.
func (h *linkHold) setDelays(delayUp, delayDown int64) {
	h.delayUp, h.delayDown = delayUp, delayDown
}
