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
	return p.read(frames, sizes, false)
}

// ReadLoan implements dataplane.Loaner: it is Read, except that it sets
// frames[i] to the received frame where it lies in the UMEM (a
// virtio-net header in the headroom in front of it, the rest of the UMEM
// frame behind it as room to grow), instead of copying it into the
// buffer frames[i] held. A frame it cannot lend (a multi-buffer chain)
// is copied into that buffer, so frames must hold the caller's buffers
// on entry, as for Read. The lent frames are the caller's to read and
// modify until Release, which must come before the next ReadLoan or
// Read; Close waits for it, so it never unmaps memory a reader still
// holds.
func (p *Port) ReadLoan(frames [][]byte, sizes []int) (int, error) {
	p.rmu.Lock()
	n, err := p.read(frames, sizes, true)
	if n == 0 {
		p.rmu.Unlock()
		return n, err
	}
	p.lent = true // rmu stays held until Release
	return n, err
}

// Release implements dataplane.Loaner: it gives the frames the last
// ReadLoan lent back to the kernel. Without a loan outstanding it does
// nothing.
func (p *Port) Release() {
	if !p.lent {
		return
	}
	p.lent = false
	for _, s := range p.socks {
		if s.q.giveBack() && s.q.fill.needWakeup() {
			_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		}
	}
	p.rmu.Unlock()
}

// read is Read and ReadLoan (loan), with rmu held.
func (p *Port) read(frames [][]byte, sizes []int, loan bool) (int, error) {
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
			var m int
			var b, x, c uint64
			if loan {
				m, b, x, c = s.q.lend(frames[n:max], sizes[n:max])
			} else {
				m, b, x, c = s.q.receive(frames[n:max], sizes[n:max])
			}
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

// Ready implements dataplane.Readier: it reports whether an RX ring has
// descriptors Read has not taken (the kernel's producer index is past
// ours), or the Port was closed. No syscall: it reads the rings' shared
// indexes. Like Read, it must not run concurrently with Read, nor
// between a ReadLoan and its Release (the loan holds the read lock).
func (p *Port) Ready() bool {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.closed.Load() {
		return true
	}
	for _, s := range p.socks {
		if _, got := s.q.rx.peek(1); got > 0 {
			return true
		}
	}
	return false
}
