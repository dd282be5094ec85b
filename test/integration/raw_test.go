//go:build linux

package integration

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/test/nstest"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// rawSocket opens an AF_PACKET socket on ifname inside ns for ethertype.
func rawSocket(t *testing.T, ns *nstest.NS, ifname string, ethertype uint16) int {
	t.Helper()
	var fd int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(ethertype)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(ethertype), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("raw socket on %s in %s: %v", ifname, ns.Name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// ethFrame builds a minimum-size frame with the given addresses and type.
func ethFrame(dst, src net.HardwareAddr, ethertype uint16, tag byte) []byte {
	b := make([]byte, 60)
	copy(b, dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], ethertype)
	b[14] = tag
	return b
}

// sendRaw sends frame count times on fd.
func sendRaw(t *testing.T, fd int, frame []byte, count int) {
	t.Helper()
	for i := 0; i < count; i++ {
		if _, err := unix.Write(fd, frame); err != nil {
			t.Fatalf("send raw frame: %v", err)
		}
	}
}

// countRaw counts frames received (not sent) on fd whose byte 14 is tag,
// until quiet for the given time.
func countRaw(fd int, tag byte, quiet time.Duration) int {
	tv := unix.NsecToTimeval(int64(quiet))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 2048)
	n := 0
	for {
		m, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				return n
			}
			return n
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if m > 14 && buf[14] == tag {
			n++
		}
	}
}
