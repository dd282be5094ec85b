package team

import (
	"fmt"
	"slices"
	"time"

	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/lacp"
)

// LACP fallback (lacp.fallback, lacp.fallback_after): a LACP team whose
// members hear no partner (a host that PXE-boots, a switch port not
// configured for LACP yet) would carry nothing; with a fallback it runs
// as active-backup (one member carries, the others stand by) or as a
// static LAG until a partner speaks, and LACP takes over again at the
// first LACPDU, without a restart. Open vSwitch's lacp-fallback-ab and
// SONiC's teamd "fallback" do the same; 802.1AX has no such state (a
// deviation the user asks for).
//
// The handover from the fallback to LACP loses what the partner drops
// while the two ends negotiate. A partner carries nothing on a port
// whose actor says it is out of sync, and 802.1AX has the actor say so
// for all of Aggregate_Wait_Time (2 s) after a partner first speaks
// (mux WAITING, 6.4.15): against Open vSwitch that wait was the whole
// of a 2 s loss, in both directions. So while the team runs its
// fallback, and for AggregateWaitTime after LACP took over (the ports
// whose partner spoke at the same time join as they are heard), ports
// attach without waiting; the fallback members carry until LACP
// distributes, then LACP's members carry at once.
//
// lacpFallback is the decision alone, a pure value with the clock
// injected: heard records a LACPDU, expire the passing of time, next
// when fallback would begin, aggregateWait the Aggregate_Wait_Time LACP
// uses.
type lacpFallback struct {
	kind   string // config.Fallback*
	after  int64  // ns
	heard  int64  // when a LACPDU last arrived on any member (or LACP started)
	active bool
	since  int64 // when active last changed
	// handover: until when, after the fallback ended, ports attach
	// without Aggregate_Wait_Time.
	handover int64
}

func newLACPFallback(kind string, after, now int64) lacpFallback {
	return lacpFallback{kind: kind, after: after, heard: now, since: now}
}

// enabled reports whether the team falls back at all.
func (f *lacpFallback) enabled() bool { return f.kind != "" && f.kind != config.FallbackNone }

// heardPDU records a LACPDU received at now: no fallback begins for
// another after.
func (f *lacpFallback) heardPDU(now int64) { f.heard = now }

// partnerUp ends the fallback at now because LACP distributes again (a
// partner spoke and agreed), and reports whether it was on. The fallback
// is kept until then, not dropped at the first LACPDU, so that traffic
// goes on while the two ends negotiate.
func (f *lacpFallback) partnerUp(now int64) bool {
	if !f.active {
		return false
	}
	f.active, f.since = false, now
	f.handover = now + int64(lacp.AggregateWaitTime)
	return true
}

// aggregateWait is the Aggregate_Wait_Time LACP is to use at now: none
// during the fallback and the handover after it, the standard's
// otherwise.
func (f *lacpFallback) aggregateWait(now int64) time.Duration {
	if f.active || now < f.handover {
		return 0
	}
	return lacp.AggregateWaitTime
}

// handoverEnd returns when the handover after a fallback ends, if it has
// not yet at now.
func (f *lacpFallback) handoverEnd(now int64) (int64, bool) {
	return f.handover, now < f.handover
}

// expire reports whether fallback begins at now: no LACPDU for after.
func (f *lacpFallback) expire(now int64) bool {
	if due, ok := f.next(); ok && now >= due {
		f.active, f.since = true, now
		return true
	}
	return false
}

// next returns when fallback begins if no LACPDU arrives first, and
// false when it is off or already on.
func (f *lacpFallback) next() (int64, bool) {
	if !f.enabled() || f.active {
		return 0, false
	}
	return f.heard + f.after, true
}

// reconfigure changes the kind and the time (a reload); turning fallback
// off ends it.
func (f *lacpFallback) reconfigure(kind string, after int64) {
	f.kind, f.after = kind, after
	if !f.enabled() {
		f.active, f.handover = false, 0
	}
}

// fallbackRun starts the fallback when it is due, ends it when LACP
// distributes, and gives LACP the Aggregate_Wait_Time of the moment
// (control goroutine, after lacpRun, after every operation and event,
// and when its deadlines are due).
func (t *Team) fallbackRun() {
	fb := &t.lacp.fb
	switch {
	case fb.active:
		if _, dist := t.lacp.collectingDistributing(); slices.Contains(dist[:], true) && fb.partnerUp(t.now()) {
			t.c.lacpFallbacksEnded.Add(1)
			t.log.Info("lacp: the partner agreed; LACP takes over from the fallback", "fallback", fb.kind)
			t.changed("lacp partner")
		}
	case fb.expire(t.now()):
		t.c.lacpFallbacks.Add(1)
		t.log.Warn("lacp: no LACPDU on any member; falling back", "fallback", fb.kind,
			"after", time.Duration(fb.after))
		t.changed("lacp fallback")
	}
	if w := fb.aggregateWait(t.now()); w != t.lacp.r.AggregateWait() {
		t.lacp.r.SetAggregateWait(w, t.monotonic())
		t.lacpRun() // what shortening the wait made happen
	}
}

// fallbackState is State's lacp_fallback ("" without a fallback).
func (t *Team) fallbackState() string {
	if t.lacp == nil || !t.lacp.fb.enabled() {
		return ""
	}
	fb := &t.lacp.fb
	if fb.active {
		return fmt.Sprintf("%s: no LACPDU on any member for %s", fb.kind, time.Duration(fb.after))
	}
	return "lacp: a partner spoke " + time.Duration(t.now()-fb.heard).Round(time.Millisecond).String() + " ago"
}
