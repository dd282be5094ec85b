//go:build linux

package link

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ByName returns the current state of the interface name, or an error
// wrapping ErrNotFound.
func ByName(name string) (Event, error) {
	l, err := linkByName(name)
	if err != nil {
		return Event{}, fmt.Errorf("link %q: %w", name, err)
	}
	return eventOf(l), nil
}

// Exists reports whether the interface name exists. Errors other than
// "not found" also report false.
func Exists(name string) bool {
	_, err := linkByName(name)
	return err == nil
}

// eventOf turns what rtnetlink says about a link into an Event.
func eventOf(l netlink.Link) Event {
	a := l.Attrs()
	e := Event{
		Name:    a.Name,
		Index:   a.Index,
		AdminUp: a.Flags&net.FlagUp != 0,
		Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0 &&
			(a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown),
		MTU:    a.MTU,
		Parent: a.ParentIndex,
	}
	if len(a.HardwareAddr) == len(e.MAC) {
		copy(e.MAC[:], a.HardwareAddr)
	}
	return e
}
