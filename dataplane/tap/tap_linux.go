//go:build linux

package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Port is a TAP device opened with a virtio-net header and offloads.
// It implements dataplane.Port.
type Port struct {
	name  string
	index int
	mac   [6]byte

	fd  int // /dev/net/tun queue, non-blocking
	efd int // eventfd, made readable by Close to wake Read and Write

	// mu is held shared by Read and Write while they use fd and efd, and
	// exclusively by Close to release them, so no call ever sees a
	// reused descriptor.
	mu     sync.RWMutex
	closed atomic.Bool

	rpoll [2]unix.PollFd // Read's poll set, allocated once
	wpoll [2]unix.PollFd // Write's
}

// offloads is what the Port asks the kernel to hand it: checksum-partial
// frames and TCP (with ECN) and UDP GSO super-frames. USO needs Linux 6.2;
// older kernels reject the unknown bits and get tunOffloadsBase.
const (
	tunOffloadsBase = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN
	tunOffloads     = tunOffloadsBase | unix.TUN_F_USO4 | unix.TUN_F_USO6
)

// Create creates the TAP device name (empty: the kernel picks tapN) in the
// calling thread's network namespace, sets its MAC unless mac is all zero
// (then the kernel's random address stays), and brings it up. The device
// must not exist yet; it is removed when the Port is closed.
func Create(name string, mac [6]byte) (*Port, error) {
	return CreateWith(name, mac, Options{})
}

// CreateWith is Create with options.
func CreateWith(name string, mac [6]byte, o Options) (*Port, error) {
	p, err := create(name, mac, o)
	if err != nil {
		return nil, fmt.Errorf("create tap %q: %w", name, err)
	}
	return p, nil
}

func create(name string, mac [6]byte, o Options) (_ *Port, err error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd) // the last fd of a non-persistent TAP: removes it
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, err
	}
	// IFF_TUN_EXCL: fail rather than attach to an existing (persistent)
	// device, which closing the Port would not remove.
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_TUN_EXCL)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("TUNSETIFF: %w", err)
	}
	name = ifr.Name()
	if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, dataplane.VnetHdrLen); err != nil {
		return nil, fmt.Errorf("TUNSETVNETHDRSZ: %w", err)
	}
	if o.NoOffloads {
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0); err != nil {
			return nil, fmt.Errorf("TUNSETOFFLOAD 0: %w", err)
		}
	} else if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunOffloads); err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("TUNSETOFFLOAD: %w", err)
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, tunOffloadsBase); err != nil {
			return nil, fmt.Errorf("TUNSETOFFLOAD: %w", err)
		}
	}

	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	if mac != ([6]byte{}) {
		if err := netlink.LinkSetHardwareAddr(link, net.HardwareAddr(mac[:])); err != nil {
			return nil, fmt.Errorf("set MAC %s: %w", net.HardwareAddr(mac[:]), err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	if link, err = netlink.LinkByIndex(link.Attrs().Index); err != nil {
		return nil, err
	}

	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	p := &Port{name: name, index: link.Attrs().Index, fd: fd, efd: efd}
	copy(p.mac[:], link.Attrs().HardwareAddr)
	return p, nil
}

// Name returns the device's name.
func (p *Port) Name() string { return p.name }

// Index returns the device's interface index.
func (p *Port) Index() int { return p.index }

// MAC returns the device's MAC address as it was after Create.
func (p *Port) MAC() [6]byte { return p.mac }

// Close wakes a pending Read or Write, which return dataplane.ErrClosed,
// and removes the device. Closing twice is a no-op.
func (p *Port) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	// Never drained: from now on every poll on efd returns at once.
	_, werr := unix.Write(p.efd, one[:])
	p.mu.Lock()
	defer p.mu.Unlock()
	err := unix.Close(p.fd)
	unix.Close(p.efd)
	if err = errors.Join(err, werr); err != nil {
		return fmt.Errorf("close tap %s: %w", p.name, err)
	}
	return nil
}

// wait blocks until fd is ready for events or Close is called, in which
// case it returns dataplane.ErrClosed. Errors on fd itself (the device was
// deleted under us) are left for the next read or write to report.
func (p *Port) wait(fds *[2]unix.PollFd, events int16) error {
	fds[0] = unix.PollFd{Fd: int32(p.fd), Events: events}
	fds[1] = unix.PollFd{Fd: int32(p.efd), Events: unix.POLLIN}
	for {
		_, err := unix.Poll(fds[:], -1)
		if err == nil {
			break
		}
		if err != unix.EINTR {
			return fmt.Errorf("poll %s: %w", p.name, err)
		}
	}
	if fds[1].Revents != 0 || p.closed.Load() {
		return dataplane.ErrClosed
	}
	return nil
}
