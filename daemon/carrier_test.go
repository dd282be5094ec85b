package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/dataplane/link"
)

// fakeLinks is the host and the team a carrierWatch sees: members, the
// carrier the driver would give, and what the team was told.
type fakeLinks struct {
	mu      sync.Mutex
	members []string
	carrier map[string]bool
	fail    map[string]error
	probes  map[string]int // probe calls by name
	reports []string       // "name up" / "name down", in order
}

func newFakeLinks(members ...string) *fakeLinks {
	f := &fakeLinks{members: members, carrier: map[string]bool{}, fail: map[string]error{}, probes: map[string]int{}}
	for _, m := range members {
		f.carrier[m] = true
	}
	return f
}

func (f *fakeLinks) probe(name string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes[name]++
	if err := f.fail[name]; err != nil {
		return false, err
	}
	return f.carrier[name], nil
}

func (f *fakeLinks) memberNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members)
}

func (f *fakeLinks) report(name string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	state := "down"
	if up {
		state = "up"
	}
	f.reports = append(f.reports, name+" "+state)
}

func (f *fakeLinks) set(name string, up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.carrier[name] = up
}

// take returns and clears the probe counts and the reports.
func (f *fakeLinks) take() (map[string]int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, r := f.probes, f.reports
	f.probes, f.reports = map[string]int{}, nil
	return p, r
}

// veth is a link event of an interface whose notifications are urgent
// (it has a peer), nic one of a device of its own.
func veth(name string, up bool) link.Event {
	return link.Event{Name: name, Index: 10, Parent: 11, Carrier: up, AdminUp: true}
}

func nic(name string, up bool) link.Event {
	return link.Event{Name: name, Index: 12, Carrier: up, AdminUp: true}
}

// watchFor runs fn with a watch over f, in a synctest bubble: time
// advances only when every goroutine of the bubble is blocked, so a
// time.Sleep(d) in fn is d of the watch's time, exactly.
func watchFor(t *testing.T, f *fakeLinks, fn func(w *carrierWatch)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		w := newCarrierWatch(carrierPoll, f.probe, f.memberNames, f.report, slog.New(slog.DiscardHandler))
		defer w.close()
		fn(w)
	})
}

// settle lets the watch take in a kick (its goroutine blocks again).
func settle() { synctest.Wait() }

// TestCarrierWatchIdle is the idle daemon: members whose carrier changes
// the kernel announces at once are never polled, however long the watch
// runs, and their events reach the team. It fails if the daemon goes
// back to polling every member.
func TestCarrierWatchIdle(t *testing.T) {
	f := newFakeLinks("m1", "m2")
	watchFor(t, f, func(w *carrierWatch) {
		w.event(veth("m1", true))
		w.event(veth("m2", true))
		settle()
		f.take()
		time.Sleep(time.Minute)
		w.event(veth("m2", false))
		time.Sleep(time.Minute)
		probes, reports := f.take()
		if len(probes) != 0 {
			t.Errorf("probes over 2 min of members notified at once: %v, want none", probes)
		}
		if diff := cmp.Diff([]string{"m2 down"}, reports); diff != "" {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	})
}

// TestCarrierWatchPollsLateMembers: only the members whose notifications
// are late are polled, once per carrierPoll, and a carrier loss is
// reported at the first poll after it, once.
func TestCarrierWatchPollsLateMembers(t *testing.T) {
	f := newFakeLinks("m1", "m2")
	watchFor(t, f, func(w *carrierWatch) {
		w.event(veth("m1", true))
		w.event(nic("m2", true))
		settle()
		f.take()
		time.Sleep(time.Second + carrierPoll/2)
		probes, reports := f.take()
		if want := map[string]int{"m2": int(time.Second / carrierPoll)}; !cmp.Equal(want, probes) {
			t.Errorf("probes over 1 s: %v, want %v", probes, want)
		}
		if len(reports) != 0 {
			t.Errorf("reports with no change: %v, want none", reports)
		}

		f.set("m2", false)
		time.Sleep(carrierPoll)
		if _, reports := f.take(); !cmp.Equal(reports, []string{"m2 down"}) {
			t.Errorf("reports one poll after m2 lost carrier: %v, want [m2 down]", reports)
		}
		time.Sleep(time.Second)
		if _, reports := f.take(); len(reports) != 0 {
			t.Errorf("reports while m2 stays down: %v, want none", reports)
		}
		// The late notification agrees: passed on, no change.
		w.event(nic("m2", false))
		f.set("m2", true)
		time.Sleep(carrierPoll)
		if _, reports := f.take(); !cmp.Equal(reports, []string{"m2 down", "m2 up"}) {
			t.Errorf("reports: %v, want [m2 down m2 up]", reports)
		}
	})
}

// TestCarrierWatchStaleNotification: a notification older than the
// poll's reading (the kernel built it before the carrier changed again)
// is passed on, and the next poll puts the team right.
func TestCarrierWatchStaleNotification(t *testing.T) {
	f := newFakeLinks("m1")
	watchFor(t, f, func(w *carrierWatch) {
		w.event(nic("m1", true))
		settle()
		f.set("m1", false)
		time.Sleep(carrierPoll + carrierPoll/2)
		w.event(nic("m1", true)) // stale
		time.Sleep(carrierPoll)
		if _, reports := f.take(); !cmp.Equal(reports, []string{"m1 up", "m1 down", "m1 up", "m1 down"}) {
			t.Errorf("reports: %v, want [m1 up m1 down m1 up m1 down]", reports)
		}
	})
}

// TestCarrierWatchMembership: the polled set follows the team's members
// and the interfaces' events: a member added by a reload is polled
// before the monitor described it; one removed, deleted, notified at
// once, or whose driver cannot be read, is not; with nothing to poll the
// watch stops.
func TestCarrierWatchMembership(t *testing.T) {
	f := newFakeLinks("m1")
	watchFor(t, f, func(w *carrierWatch) {
		// polled checks which members are polled over 10 polls; a
		// window's edge may fall on a tick, so each polled member is
		// probed 10 times, give or take one.
		polled := func(what string, want ...string) {
			t.Helper()
			f.take()
			time.Sleep(10 * carrierPoll)
			got, _ := f.take()
			var names []string
			for n, c := range got {
				names = append(names, n)
				if c < 9 || c > 11 {
					t.Errorf("%s: %s probed %d times over 10 polls, want 10", what, n, c)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, want) {
				t.Errorf("%s: polled %v, want %v", what, names, want)
			}
		}
		w.event(veth("m1", true))
		settle()
		polled("m1 notified at once")

		f.mu.Lock()
		f.members = append(f.members, "m2", "m3")
		f.carrier["m2"], f.carrier["m3"] = true, true
		f.mu.Unlock()
		w.membersChanged()
		settle()
		polled("m2, m3 added, not described yet", "m2", "m3")

		w.event(veth("m3", true))
		settle()
		polled("m3 notified at once", "m2")

		f.mu.Lock()
		f.fail["m2"] = fmt.Errorf("driver has no get_link: %w", errors.ErrUnsupported)
		f.mu.Unlock()
		time.Sleep(carrierPoll)
		settle()
		polled("m2's carrier cannot be read")

		// Deleted and back (the driver reloaded): polled again.
		w.event(link.Event{Name: "m2", Index: 12, Deleted: true})
		f.mu.Lock()
		delete(f.fail, "m2")
		f.mu.Unlock()
		w.event(nic("m2", true))
		settle()
		polled("m2 back", "m2")

		f.mu.Lock()
		f.members = []string{"m1", "m3"}
		f.mu.Unlock()
		w.membersChanged()
		settle()
		polled("m2 removed")
	})
}
