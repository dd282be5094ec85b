//go:build linux

package lab

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// sendGARP sends count gratuitous ARP requests for ip from dev, interval
// apart, in the calling thread's namespace: what `arping -U -I DEV IP`
// sends, and what a hypervisor sends for a VM it has just moved (Hyper-V
// after a live migration): "ip is at this MAC", broadcast, sender and
// target IP both ip, target MAC zero, as the kernel's own (arp_notify).
func sendGARP(dev string, ip netip.Addr, count int, interval time.Duration) error {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return err
	}
	if len(ifi.HardwareAddr) != 6 || !ip.Is4() {
		return fmt.Errorf("%s: want an Ethernet interface and an IPv4 address", dev)
	}
	fr := neigh.AppendGratuitous(nil, [6]byte(ifi.HardwareAddr), ip.As4())

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Protocol: 0x0608, Ifindex: ifi.Index, Halen: 6} // htons(ETH_P_ARP)
	copy(to.Addr[:], frame.Broadcast[:])
	for i := range count {
		if i > 0 {
			time.Sleep(interval)
		}
		if err := unix.Sendto(fd, fr, 0, to); err != nil {
			return fmt.Errorf("send on %s: %w", dev, err)
		}
	}
	return nil
}
