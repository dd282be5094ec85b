package team

import "github.com/teamd-go/teamd-go/team/config"

// LACP fallback (lacp.fallback, lacp.fallback_after): a LACP team whose
// members hear no partner (a host that PXE-boots, a switch port not
// configured for LACP yet) would carry nothing; with a fallback it runs
// as active-backup (one member carries, the others stand by) or as a
// static LAG until a partner speaks, and LACP takes over again at the
// first LACPDU, without a restart. Open vSwitch's lacp-fallback-ab and
// SONiC's teamd "fallback" do the same; 802.1AX has no such state (a
// deviation the user asks for).
//
// lacpFallback is the decision alone, a pure value with the clock
// injected: heard records a LACPDU, expire the passing of time, next
// when fallback would begin.
type lacpFallback struct {
	kind   string // config.Fallback*
	after  int64  // ns
	heard  int64  // when a LACPDU last arrived on any member (or LACP started)
	active bool
	since  int64 // when active last changed
}

func newLACPFallback(kind string, after, now int64) lacpFallback {
	return lacpFallback{kind: kind, after: after, heard: now, since: now}
}

// enabled reports whether the team falls back at all.
func (f *lacpFallback) enabled() bool { return f.kind != "" && f.kind != config.FallbackNone }

// heardPDU records a LACPDU received at now and reports whether that ends
// the fallback.
func (f *lacpFallback) heardPDU(now int64) bool {
	f.heard = now
	if f.active {
		f.active, f.since = false, now
		return true
	}
	return false
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
		f.active = false
	}
}
