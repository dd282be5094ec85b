//go:build linux

package link

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"

	"github.com/teamd-go/teamd-go/test/nstest"
)

const timeout = 5 * time.Second

// recorder collects a Monitor's events for a test to wait on.
type recorder struct {
	mu     sync.Mutex
	events []Event
	next   int // events before next were matched or skipped
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// waitFor returns the first event past the last one returned that
// satisfies match.
func (r *recorder) waitFor(t *testing.T, what string, match func(Event) bool) Event {
	t.Helper()
	var got Event
	nstest.Eventually(t, timeout, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for i := r.next; i < len(r.events); i++ {
			if match(r.events[i]) {
				got, r.next = r.events[i], i+1
				return nil
			}
		}
		return fmt.Errorf("no %s among %+v", what, r.events[r.next:])
	})
	return got
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

func byName(name string) func(Event) bool {
	return func(e Event) bool { return e.Name == name }
}

// inNS runs fn in ns and fails the test on error.
func inNS(t *testing.T, ns *nstest.NS, fn func() error) {
	t.Helper()
	if err := ns.Do(fn); err != nil {
		t.Fatal(err)
	}
}

func mustByName(t *testing.T, ns *nstest.NS, name string) Event {
	t.Helper()
	var e Event
	inNS(t, ns, func() (err error) {
		e, err = ByName(name)
		return err
	})
	return e
}

func startMonitor(t *testing.T, ns *nstest.NS, fn func(Event)) *Monitor {
	t.Helper()
	var m *Monitor
	inNS(t, ns, func() (err error) {
		m, err = NewMonitor(fn, slog.New(slog.NewTextHandler(t.Output(), nil)))
		return err
	})
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMonitor(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "mon")
	nstest.Veth(t, ns, "va", ns, "vb")
	va, vb := mustByName(t, ns, "va"), mustByName(t, ns, "vb")
	r := &recorder{}
	startMonitor(t, ns, r.add)

	t.Run("initial state", func(t *testing.T) {
		for _, want := range []Event{mustByName(t, ns, "lo"), va, vb} {
			got := r.waitFor(t, want.Name, byName(want.Name))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("initial event (-want +got):\n%s", diff)
			}
			r.next = 0
		}
		if !va.Carrier || !va.AdminUp || va.MTU != 1500 || va.MAC == ([6]byte{}) {
			t.Errorf("va is %+v, want up with carrier, MTU 1500 and a MAC", va)
		}
		r.waitFor(t, "last initial event", byName("vb"))
	})
	t.Run("peer down loses carrier", func(t *testing.T) {
		ns.MustRun(t, "ip", "link", "set", "vb", "down")
		want := va
		want.Carrier = false
		got := r.waitFor(t, "va without carrier", func(e Event) bool { return e.Name == "va" && !e.Carrier })
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		ns.MustRun(t, "ip", "link", "set", "vb", "up")
		got = r.waitFor(t, "va with carrier", func(e Event) bool { return e.Name == "va" && e.Carrier })
		if diff := cmp.Diff(va, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("MAC and MTU change", func(t *testing.T) {
		ns.MustRun(t, "ip", "link", "set", "va", "address", "02:11:22:33:44:55")
		got := r.waitFor(t, "va with new MAC", byName("va"))
		if want := [6]byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}; got.MAC != want {
			t.Errorf("MAC %x, want %x", got.MAC, want)
		}
		ns.MustRun(t, "ip", "link", "set", "va", "mtu", "9000")
		if got := r.waitFor(t, "va with new MTU", byName("va")); got.MTU != 9000 {
			t.Errorf("MTU %d, want 9000", got.MTU)
		}
	})
	t.Run("admin down", func(t *testing.T) {
		ns.MustRun(t, "ip", "link", "set", "va", "down")
		got := r.waitFor(t, "va down", byName("va"))
		if got.AdminUp || got.Carrier {
			t.Errorf("va is %+v after set down", got)
		}
	})
	t.Run("rename", func(t *testing.T) {
		ns.MustRun(t, "ip", "link", "set", "va", "name", "vc")
		old := r.waitFor(t, "va deleted", byName("va"))
		if !old.Deleted || old.Index != va.Index {
			t.Errorf("after rename, old name: %+v, want Deleted with index %d", old, va.Index)
		}
		got := r.waitFor(t, "vc", byName("vc"))
		if got.Deleted || got.Index != va.Index {
			t.Errorf("after rename, new name: %+v, want index %d", got, va.Index)
		}
	})
	t.Run("delete", func(t *testing.T) {
		ns.MustRun(t, "ip", "link", "del", "vc")
		mark := r.next
		for _, name := range []string{"vc", "vb"} {
			r.next = mark
			got := r.waitFor(t, name+" deleted", func(e Event) bool { return e.Name == name && e.Deleted })
			if got.Index == 0 || got.MAC == ([6]byte{}) {
				t.Errorf("Deleted event without the last state: %+v", got)
			}
		}
	})
}

// TestMonitorResync overflows the subscription socket and checks that the
// Monitor subscribes again and catches up, deleted interfaces included.
func TestMonitorResync(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "resync")
	nstest.Veth(t, ns, "ra", ns, "rb")
	nstest.Veth(t, ns, "ga", ns, "gb")
	defer func(n int) { rcvbufSize = n }(rcvbufSize)
	rcvbufSize = 1 // the kernel's minimum: a few messages

	r := &recorder{}
	var blocked atomic.Bool
	release := make(chan struct{})
	startMonitor(t, ns, func(e Event) {
		if blocked.Load() {
			<-release
		}
		r.add(e)
	})
	r.waitFor(t, "initial state", byName("gb"))

	blocked.Store(true)
	const changes = 300
	inNS(t, ns, func() error {
		l, err := netlink.LinkByName("ra")
		if err != nil {
			return err
		}
		for i := range changes {
			if err := netlink.LinkSetMTU(l, 1000+i); err != nil {
				return err
			}
		}
		return nil
	})
	ns.MustRun(t, "ip", "link", "del", "ga")
	blocked.Store(false)
	close(release)

	r.waitFor(t, "ra with the last MTU", func(e Event) bool { return e.Name == "ra" && e.MTU == 1000+changes-1 })
	mark := r.next
	for _, name := range []string{"ga", "gb"} {
		r.next = 0
		r.waitFor(t, name+" deleted", func(e Event) bool { return e.Name == name && e.Deleted })
	}
	n := 0
	for _, e := range r.all() {
		if e.Name == "ra" {
			n++
		}
	}
	if n >= changes {
		t.Fatalf("%d events for %d changes: the socket did not overflow, the test proves nothing", n, changes)
	}
	r.next = mark
	ns.MustRun(t, "ip", "link", "set", "ra", "mtu", "1500")
	r.waitFor(t, "ra after resync", func(e Event) bool { return e.Name == "ra" && e.MTU == 1500 })
}

func TestMonitorNoLeak(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "leak")
	nstest.Veth(t, ns, "la", ns, "lb")
	base := runtime.NumGoroutine()
	for range 3 {
		r := &recorder{}
		var m *Monitor
		inNS(t, ns, func() (err error) {
			m, err = NewMonitor(r.add, nil)
			return err
		})
		r.waitFor(t, "initial state", byName("lb"))
		ns.MustRun(t, "ip", "link", "set", "lb", "down")
		r.waitFor(t, "la without carrier", func(e Event) bool { return e.Name == "la" && !e.Carrier })
		ns.MustRun(t, "ip", "link", "set", "lb", "up")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	nstest.Eventually(t, timeout, func() error {
		if n := runtime.NumGoroutine(); n > base {
			buf := make([]byte, 1<<16)
			return fmt.Errorf("%d goroutines, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}

func TestTakeover(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "take")
	newMAC := [6]byte{0x02, 0xaa, 0, 0, 0, 1}
	tests := []struct {
		name   string
		up     bool
		opts   TakeoverOptions
		during func(orig Event) Event // expected state while taken
	}{
		{
			name:   "down, no options",
			during: func(e Event) Event { e.AdminUp, e.Carrier = true, true; return e },
		},
		{
			name: "down, MTU and MAC",
			opts: TakeoverOptions{MTU: 9000, MAC: newMAC},
			during: func(e Event) Event {
				e.AdminUp, e.Carrier, e.MTU, e.MAC = true, true, 9000, newMAC
				return e
			},
		},
		{
			name:   "up, MAC",
			up:     true,
			opts:   TakeoverOptions{MAC: newMAC},
			during: func(e Event) Event { e.MAC = newMAC; return e },
		},
		{
			name:   "up, same MTU",
			up:     true,
			opts:   TakeoverOptions{MTU: 1500},
			during: func(e Event) Event { return e },
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := fmt.Sprintf("ta%d", i), fmt.Sprintf("tb%d", i)
			ns.MustRun(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
			ns.MustRun(t, "ip", "link", "set", b, "up")
			if tc.up {
				ns.MustRun(t, "ip", "link", "set", a, "up")
			}
			orig := mustByName(t, ns, a)
			var tk *Taken
			inNS(t, ns, func() (err error) {
				tk, err = Takeover(a, tc.opts)
				return err
			})
			if diff := cmp.Diff(orig, tk.Original()); diff != "" {
				t.Errorf("Original() (-want +got):\n%s", diff)
			}
			want := tc.during(orig)
			nstest.Eventually(t, timeout, func() error { // carrier comes up asynchronously
				return eventDiff(want, mustByName(t, ns, a))
			})
			// Restore works from any thread, not only from the namespace.
			if err := tk.Restore(); err != nil {
				t.Fatal(err)
			}
			nstest.Eventually(t, timeout, func() error { return eventDiff(orig, mustByName(t, ns, a)) })
			if err := tk.Restore(); err != nil {
				t.Errorf("second Restore: %v", err)
			}
		})
	}
	t.Run("gone before restore", func(t *testing.T) {
		ns.MustRun(t, "ip", "link", "add", "tgone", "type", "veth", "peer", "name", "tgone2")
		var tk *Taken
		inNS(t, ns, func() (err error) {
			tk, err = Takeover("tgone", TakeoverOptions{})
			return err
		})
		ns.MustRun(t, "ip", "link", "del", "tgone")
		if err := tk.Restore(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Restore of a deleted link: %v, want ErrNotFound", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		err := ns.Do(func() error {
			_, err := Takeover("nosuch", TakeoverOptions{})
			return err
		})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("Takeover of a missing link: %v, want ErrNotFound", err)
		}
	})
}

func eventDiff(want, got Event) error {
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("(-want +got):\n%s", diff)
	}
	return nil
}

func TestByName(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "byname")
	lo := mustByName(t, ns, "lo")
	if want := (Event{Name: "lo", Index: 1, AdminUp: true, Carrier: true, MTU: 65536}); lo != want {
		t.Errorf("ByName(lo) = %+v, want %+v", lo, want)
	}
	inNS(t, ns, func() error {
		if !Exists("lo") {
			t.Error("Exists(lo) = false")
		}
		if Exists("nosuch") {
			t.Error("Exists(nosuch) = true")
		}
		if _, err := ByName("nosuch"); !errors.Is(err, ErrNotFound) {
			t.Errorf("ByName(nosuch): %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestFeatures(t *testing.T) {
	nstest.Require(t)
	nstest.RequireTool(t, "ethtool")
	ns := nstest.NewNS(t, "feat")
	nstest.Veth(t, ns, "fa", ns, "fb")
	tests := []struct {
		name string
		set  []string // ethtool -K arguments
	}{
		{name: "defaults"},
		{name: "tso off, gro on", set: []string{"tso", "off", "gro", "on"}},
		{name: "gso off", set: []string{"gso", "off"}},
		{name: "tx and sg off", set: []string{"tx", "off", "sg", "off"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.set) > 0 {
				ns.MustRun(t, "ethtool", append([]string{"-K", "fa"}, tc.set...)...)
			}
			want := ethtoolK(t, ns, "fa")
			var got Offloads
			inNS(t, ns, func() (err error) {
				got, err = Features("fa")
				return err
			})
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Features (-ethtool -k +got):\n%s", diff)
			}
		})
	}
	err := ns.Do(func() error {
		_, err := Features("nosuch")
		return err
	})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Features(nosuch): %v, want ErrNotFound", err)
	}
}

// ethtoolK reads the offloads as `ethtool -k` reports them.
func ethtoolK(t *testing.T, ns *nstest.NS, dev string) Offloads {
	t.Helper()
	on := map[string]bool{}
	for _, line := range strings.Split(ns.MustRun(t, "ethtool", "-k", dev), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			on[strings.TrimSpace(k)] = strings.HasPrefix(strings.TrimSpace(v), "on")
		}
	}
	return Offloads{
		TxChecksum: on["tx-checksumming"],
		SG:         on["scatter-gather"],
		TSO:        on["tcp-segmentation-offload"],
		GSO:        on["generic-segmentation-offload"],
		GRO:        on["generic-receive-offload"],
	}
}

// TestCarrierNotifiedAtOnce: the kernel's linkwatch announces a veth's
// carrier changes at once (it has a peer, IFLA_LINK) and a device of its
// own's (a TAP here, a physical NIC in life) only at its next run.
func TestCarrierNotifiedAtOnce(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "urg")
	nstest.Veth(t, ns, "ua", ns, "ub")
	ns.MustRun(t, "ip", "tuntap", "add", "dev", "ud", "mode", "tap")
	for name, want := range map[string]bool{"ua": true, "ub": true, "ud": false} {
		e := mustByName(t, ns, name)
		if got := e.CarrierNotifiedAtOnce(); got != want {
			t.Errorf("%s (index %d, parent %d): CarrierNotifiedAtOnce %v, want %v", name, e.Index, e.Parent, got, want)
		}
	}
	if ua, ub := mustByName(t, ns, "ua"), mustByName(t, ns, "ub"); ua.Parent != ub.Index || ub.Parent != ua.Index {
		t.Errorf("veth parents: ua %+v, ub %+v, want each the other's index", ua, ub)
	}
}
