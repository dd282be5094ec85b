//go:build linux

package link

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Prober reads an interface's carrier directly from its driver
// (ETHTOOL_GLINK, i.e. netif_carrier_ok for most drivers), as bonding's
// miimon does. The rtnetlink notification a Monitor delivers is sent by
// the kernel's linkwatch work, at once for the devices
// CarrierNotifiedAtOnce names, and up to 1 s late for the others (a
// physical NIC losing carrier); a Prober polled every few milliseconds
// sees those at once. The ioctl takes the RTNL lock; drivers without
// get_link (dummy) answer EOPNOTSUPP.
//
// A Prober works in the network namespace it was created in.
type Prober struct {
	fd int
}

// NewProber opens the socket the ioctls go through, in the calling
// thread's network namespace.
func NewProber() (*Prober, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("carrier prober: %w", err)
	}
	return &Prober{fd: fd}, nil
}

// Carrier reports whether name has carrier now. An interface that is
// admin down has none.
func (p *Prober) Carrier(name string) (bool, error) {
	if len(name) >= unix.IFNAMSIZ {
		return false, fmt.Errorf("carrier of %q: name too long", name)
	}
	v := ethtoolValue{cmd: unix.ETHTOOL_GLINK}
	var ifr ifreqData
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&v)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		if errno == unix.ENODEV {
			return false, fmt.Errorf("carrier of %q: %w", name, ErrNotFound)
		}
		if errors.Is(errno, unix.EOPNOTSUPP) {
			return false, fmt.Errorf("carrier of %q: driver has no get_link: %w", name, errno)
		}
		return false, fmt.Errorf("carrier of %q: %w", name, errno)
	}
	return v.data != 0, nil
}

// Close closes the prober's socket.
func (p *Prober) Close() error { return unix.Close(p.fd) }
