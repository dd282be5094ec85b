//go:build linux

package lbemu

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// Open opens an AF_PACKET socket on each of cfg's interfaces, in the
// calling thread's network namespace, and returns the Router; call Run.
func Open(cfg Config) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	in, err := openIface(cfg.Inside.Name)
	if err != nil {
		return nil, err
	}
	out, err := openIface(cfg.Outside.Name)
	if err != nil {
		_ = in.port.Close()
		return nil, err
	}
	r, err := newRouter(cfg, in, out)
	if err != nil {
		_ = in.port.Close()
		_ = out.port.Close()
		return nil, err
	}
	return r, nil
}

// openIface opens a packet socket bound to the interface name. Frames the
// interface transmits (the kernel's ARP replies, the Router's own output)
// are not seen (PACKET_IGNORE_OUTGOING); every frame read or written
// starts with a virtio-net header (PACKET_VNET_HDR). The socket is non-blocking and
// wrapped in an *os.File, so that Close unblocks a Read.
func openIface(name string) (*iface, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("interface %q: not Ethernet", name)
	}
	// Protocol 0 at socket() receives nothing until bind() names the
	// interface, so no frame of another interface slips in between.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("packet socket on %q: %w", name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("PACKET_IGNORE_OUTGOING on %q: %w", name, err)
	}
	// A virtio-net header in front of every frame, both ways: GSO
	// super-frames and partial checksums pass through (see the package
	// doc), so the neighbours need not turn their offloads off.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("PACKET_VNET_HDR on %q: %w", name, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to %q: %w", name, err)
	}
	return &iface{
		mac:  frame.MAC(ifi.HardwareAddr),
		mtu:  ifi.MTU,
		port: os.NewFile(uintptr(fd), "packet:"+name),
		vnet: true,
	}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
