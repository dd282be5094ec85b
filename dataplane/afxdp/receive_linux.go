//go:build linux

package afxdp

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Read fills frames with received frames, each an all-zero virtio-net
// header and an Ethernet frame, and sizes with their lengths. It blocks
// until at least one frame is available and returns how many it filled,
// at most min(len(frames), len(sizes)). Frames that do not fit their
// buffer are skipped and counted as Truncated.
//
// After Close, Read returns dataplane.ErrClosed. Read keeps waiting while
// the interface is down; if the interface goes away it returns an error.
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	max := min(len(frames), len(sizes))
	if max == 0 {
		return 0, nil
	}
	for {
		var (
			n                   int
			bytes, bad, partial uint64
			start, nsok         = p.next, len(p.socks)
		)
		for i := 0; i < nsok && n < max; i++ {
			s := p.socks[(start+i)%nsok]
			m, b, x, c := s.q.receive(frames[n:max], sizes[n:max])
			n, bytes, bad, partial = n+m, bytes+b, bad+x, partial+c
			if m > 0 {
				s.read.Add(uint64(m))
			}
			if (m > 0 || x > 0) && s.q.fill.needWakeup() {
				// A zero-copy driver waits for a syscall to use the
				// frames just put on the fill ring.
				_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
			}
		}
		p.next = (start + 1) % nsok
		if bad > 0 {
			p.truncated.Add(bad)
		}
		if partial > 0 {
			p.partial.Add(partial)
		}
		if n > 0 {
			p.readFrames.Add(uint64(n))
			p.readBytes.Add(bytes)
			return n, nil
		}
		if bad > 0 {
			continue
		}
		if err := p.wait(); err != nil {
			return 0, err
		}
	}
}

// wait sleeps until an RX ring may have frames, or Close.
func (p *Port) wait() error {
	for {
		_, err := unix.Poll(p.rpoll, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: poll: %w", p.name, err)
		}
		if p.rpoll[len(p.rpoll)-1].Revents != 0 {
			return dataplane.ErrClosed
		}
		for _, pf := range p.rpoll[:len(p.rpoll)-1] {
			if pf.Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
				// The interface was unregistered (net/xdp/xsk.c
				// xsk_notifier): the socket is unbound for good.
				so, _ := unix.GetsockoptInt(int(pf.Fd), unix.SOL_SOCKET, unix.SO_ERROR)
				if so == 0 {
					so = int(unix.ENETDOWN)
				}
				return fmt.Errorf("read %s: %w", p.name, unix.Errno(so))
			}
		}
		return nil
	}
}
