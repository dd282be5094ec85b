//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TakeoverOptions is what Takeover changes on an interface besides bringing
// it up. Zero values leave the property alone.
type TakeoverOptions struct {
	MTU int
	MAC [6]byte
}

// Taken is an interface the daemon took over, with the state to give back.
// Promiscuity needs no record: the sockets' PACKET_MR_PROMISC memberships
// go away with them.
type Taken struct {
	h    *netlink.Handle // in the interface's namespace
	orig Event           // state before Takeover
	opts TakeoverOptions

	once sync.Once
	err  error
}

// Takeover records the state of the interface name (in the calling
// thread's namespace), applies o and brings the interface up. On error it
// puts back what it had changed.
func Takeover(name string, o TakeoverOptions) (*Taken, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("take over %q: %w", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		h.Close()
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			err = ErrNotFound
		}
		return nil, fmt.Errorf("take over %q: %w", name, err)
	}
	t := &Taken{h: h, orig: eventOf(l), opts: o}
	if err := t.apply(l); err != nil {
		return nil, errors.Join(fmt.Errorf("take over %q: %w", name, err), t.Restore())
	}
	return t, nil
}

// Original returns the interface's state before Takeover.
func (t *Taken) Original() Event { return t.orig }

func (t *Taken) apply(l netlink.Link) error {
	if t.opts.MTU != 0 && t.opts.MTU != t.orig.MTU {
		if err := t.h.LinkSetMTU(l, t.opts.MTU); err != nil {
			return fmt.Errorf("set MTU %d: %w", t.opts.MTU, err)
		}
	}
	if t.opts.MAC != ([6]byte{}) && t.opts.MAC != t.orig.MAC {
		if err := t.setMAC(l, t.opts.MAC); err != nil {
			return err
		}
	}
	if err := t.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	return nil
}

// Restore gives the interface back as Takeover found it: its MAC and MTU
// if Takeover changed them, and its admin state. It works from any thread
// and may be called more than once; an interface that is gone gives an
// error wrapping ErrNotFound.
func (t *Taken) Restore() error {
	t.once.Do(func() {
		defer t.h.Close()
		t.err = t.restore()
		if t.err != nil {
			t.err = fmt.Errorf("restore %q: %w", t.orig.Name, t.err)
		}
	})
	return t.err
}

func (t *Taken) restore() error {
	l, err := t.h.LinkByIndex(t.orig.Index)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return ErrNotFound
		}
		return err
	}
	var errs []error
	if !t.orig.AdminUp {
		// Down first: some drivers take a new MAC only while down.
		if err := t.h.LinkSetDown(l); err != nil {
			errs = append(errs, fmt.Errorf("set down: %w", err))
		}
	}
	if t.opts.MAC != ([6]byte{}) && t.opts.MAC != t.orig.MAC {
		errs = append(errs, t.setMAC(l, t.orig.MAC))
	}
	if t.opts.MTU != 0 && t.opts.MTU != t.orig.MTU {
		if err := t.h.LinkSetMTU(l, t.orig.MTU); err != nil {
			errs = append(errs, fmt.Errorf("set MTU %d: %w", t.orig.MTU, err))
		}
	}
	if t.orig.AdminUp {
		if err := t.h.LinkSetUp(l); err != nil {
			errs = append(errs, fmt.Errorf("set up: %w", err))
		}
	}
	return errors.Join(errs...)
}

// setMAC changes the MAC of l, taking it down for the change if its driver
// refuses to change it while up.
func (t *Taken) setMAC(l netlink.Link, mac [6]byte) error {
	hw := net.HardwareAddr(mac[:])
	err := t.h.LinkSetHardwareAddr(l, hw)
	if errors.Is(err, unix.EBUSY) {
		if err = t.h.LinkSetDown(l); err == nil {
			err = t.h.LinkSetHardwareAddr(l, hw)
			err = errors.Join(err, t.h.LinkSetUp(l))
		}
	}
	if err != nil {
		return fmt.Errorf("set MAC %s: %w", hw, err)
	}
	return nil
}
