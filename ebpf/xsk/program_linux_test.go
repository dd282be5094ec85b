//go:build linux

package xskprog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/test/nstest"
)

// XDP actions (linux/bpf.h enum xdp_action).
const (
	xdpPass     = 2
	xdpRedirect = 4
)

func load(t *testing.T) *Program {
	t.Helper()
	nstest.Require(t)
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// frames the team must see, crafted by hand: what every member receives.
func testFrames() map[string][]byte {
	eth := func(dst, src [6]byte, etherType uint16, payload []byte) []byte {
		f := make([]byte, 14, 14+len(payload))
		copy(f[0:], dst[:])
		copy(f[6:], src[:])
		binary.BigEndian.PutUint16(f[12:], etherType)
		f = append(f, payload...)
		for len(f) < 60 {
			f = append(f, 0)
		}
		return f
	}
	src := [6]byte{2, 0, 0, 0, 0, 1}
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	slow := [6]byte{0x01, 0x80, 0xc2, 0, 0, 0x02}
	lacpdu := make([]byte, 110)
	lacpdu[0], lacpdu[1] = 1, 1 // subtype LACP, version 1
	marker := make([]byte, 110)
	marker[0], marker[1] = 2, 1 // subtype Marker
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	ipv4 := []byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 7, 0, 7, 0, 8, 0, 0}
	return map[string][]byte{
		"LACPDU":       eth(slow, src, 0x8809, lacpdu),
		"Marker":       eth(slow, src, 0x8809, marker),
		"ARP request":  eth(bcast, src, 0x0806, arp),
		"IPv4 unicast": eth([6]byte{2, 0, 0, 0, 0, 2}, src, 0x0800, ipv4),
		"802.1Q":       eth(bcast, src, 0x8100, append([]byte{0, 5, 0x08, 0x06}, arp...)),
		"runt":         {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
	}
}

func run(t *testing.T, p *Program, frame []byte) uint32 {
	t.Helper()
	ret, err := p.objs.XskRedirect.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		t.Fatalf("prog.Run: %v", err)
	}
	return ret
}

// TestNoSocketPasses: a queue without a registered socket hands every
// frame to the stack, counted as passed.
func TestNoSocketPasses(t *testing.T) {
	p := load(t)
	frames := testFrames()
	for name, f := range frames {
		if got := run(t, p, f); got != xdpPass {
			t.Errorf("%s: action %d, want XDP_PASS (%d)", name, got, xdpPass)
		}
	}
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counters{Passed: uint64(len(frames))}); c != want {
		t.Errorf("counters %+v, want %+v", c, want)
	}
}

// TestRegisteredSocketRedirects: once a socket is registered for queue 0
// every frame, control frames included, is redirected to it; after
// Unregister they pass again.
func TestRegisteredSocketRedirects(t *testing.T) {
	p := load(t)
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("AF_XDP socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := p.Register(0, fd); err != nil {
		t.Fatal(err)
	}
	frames := testFrames()
	for name, f := range frames {
		if got := run(t, p, f); got != xdpRedirect {
			t.Errorf("%s: action %d, want XDP_REDIRECT (%d)", name, got, xdpRedirect)
		}
	}
	if err := p.Unregister(0); err != nil {
		t.Fatal(err)
	}
	if err := p.Unregister(0); err != nil {
		t.Errorf("second Unregister: %v", err)
	}
	if got := run(t, p, frames["LACPDU"]); got != xdpPass {
		t.Errorf("after Unregister: action %d, want XDP_PASS", got)
	}
	c, err := p.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if want := (Counters{Redirected: uint64(len(frames)), Passed: 1}); c != want {
		t.Errorf("counters %+v, want %+v", c, want)
	}
}

func TestRegisterBadInput(t *testing.T) {
	p := load(t)
	for _, q := range []int{-1, MaxQueues} {
		if err := p.Register(q, 0); err == nil {
			t.Errorf("Register(%d) succeeded", q)
		}
	}
	// A socket that is not an AF_XDP socket is refused by the kernel.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := p.Register(0, fd); !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) {
		t.Errorf("Register(UDP socket) = %v, want EOPNOTSUPP", err)
	}
}

// TestAttach attaches to a veth in driver mode, checks the kernel reports
// it, and that Close leaves nothing: no program on the link, the program
// and its maps freed.
func TestAttach(t *testing.T) {
	nstest.Require(t)
	a, b := nstest.NewNS(t, "a"), nstest.NewNS(t, "b")
	nstest.Veth(t, a, "a0", b, "b0")
	var idx int
	p := load(t)
	info, err := p.objs.XskRedirect.Info()
	if err != nil {
		t.Fatal(err)
	}
	unbound, _ := info.ID()
	if err := a.Do(func() error {
		ifi, err := net.InterfaceByName("a0")
		if err != nil {
			return err
		}
		idx = ifi.Index
		return p.Attach(idx, ModeDriver)
	}); err != nil {
		t.Fatal(err)
	}
	if p.Mode() != ModeDriver {
		t.Errorf("Mode() = %v, want driver", p.Mode())
	}
	// Driver mode attaches the copy bound to the device, which reads the
	// driver's VLAN metadata.
	if p.bound == nil || p.VLANErr != nil {
		t.Fatalf("no device-bound program in driver mode: %v", p.VLANErr)
	}
	info, err = p.bound.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	if out := a.MustRun(t, "ip", "-d", "link", "show", "a0"); !strings.Contains(out, "xdp") || !strings.Contains(out, fmt.Sprintf("id %d", id)) {
		t.Errorf("ip link does not show program %d attached:\n%s", id, out)
	}
	// A second program on the same interface is refused with the kernel's
	// reason, and the first stays.
	q := load(t)
	err = a.Do(func() error { return q.Attach(idx, ModeDriver) })
	if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.EEXIST) {
		t.Errorf("second Attach = %v, want EBUSY", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if out := a.MustRun(t, "ip", "-d", "link", "show", "a0"); strings.Contains(out, "prog/xdp") {
		t.Errorf("program still attached after Close:\n%s", out)
	}
	for _, id := range []ebpf.ProgramID{id, unbound} {
		if _, err := ebpf.NewProgramFromID(id); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("program %d still loaded after Close: %v", id, err)
		}
	}
}

// TestAttachFallback: loopback has no native XDP; ModeDriver fails naming
// the reason, ModeAuto falls back to generic and says why.
func TestAttachFallback(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "lo")
	if err := ns.Do(func() error {
		p := load(t)
		err := p.Attach(1, ModeDriver)
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) {
			t.Errorf("driver mode on lo: %v, want EOPNOTSUPP", err)
		} else if !strings.Contains(err.Error(), "driver mode") {
			t.Errorf("error %q does not name the mode", err)
		}
		q := load(t)
		if err := q.Attach(1, ModeAuto); err != nil {
			return err
		}
		if q.Mode() != ModeGeneric || q.DriverErr == nil {
			t.Errorf("auto on lo: mode %v, driver error %v; want generic and a reason", q.Mode(), q.DriverErr)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestAttachFrags: on a veth with MTU 9000 the kernel refuses the
// single-buffer program in driver mode (ERANGE: the MTU does not fit a
// page) and takes the multi-buffer aware one, which passes frames of a
// queue without a socket just the same.
func TestAttachFrags(t *testing.T) {
	nstest.Require(t)
	a, b := nstest.NewNS(t, "a"), nstest.NewNS(t, "b")
	nstest.Veth(t, a, "a0", b, "b0")
	a.MustRun(t, "ip", "link", "set", "a0", "mtu", "9000")
	b.MustRun(t, "ip", "link", "set", "b0", "mtu", "9000")
	single := load(t)
	frags, err := LoadFrags()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { frags.Close() })
	if single.Frags || !frags.Frags {
		t.Errorf("Frags: Load %v, LoadFrags %v", single.Frags, frags.Frags)
	}
	if err := a.Do(func() error {
		ifi, err := net.InterfaceByName("a0")
		if err != nil {
			return err
		}
		if err := single.Attach(ifi.Index, ModeDriver); !errors.Is(err, unix.ERANGE) {
			t.Errorf("single-buffer program on MTU 9000: %v, want ERANGE", err)
		}
		return frags.Attach(ifi.Index, ModeDriver)
	}); err != nil {
		t.Fatal(err)
	}
	for name, f := range testFrames() {
		if got := run(t, frags, f); got != xdpPass {
			t.Errorf("%s: action %d, want XDP_PASS (%d)", name, got, xdpPass)
		}
	}
}
