//go:build linux

package afxdp

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Backoff bounds while the TX ring stays full (the device is busy).
const (
	minBackoff = 16_000    // ns
	maxBackoff = 1_000_000 // ns
)

// Write sends frames, each a virtio-net header and an Ethernet frame
// sliced to its length: it copies them into free UMEM frames, puts them
// on the TX ring and has the kernel send them. A partial checksum the
// header asks for is completed in software; GSO super-frames are refused
// (counted in GSODropped), as are frames too short or too long (counted
// in WriteErrors).
//
// Write returns the number of frames put on the TX ring. When no TX frame
// comes back for WriteTimeout, the rest of the batch is dropped and
// counted in WriteDrops. Write returns an error only when the Port is
// closed (dataplane.ErrClosed) or the interface is down or gone; the
// unsent frames then count as WriteErrors.
func (p *Port) Write(frames [][]byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	var (
		accepted int
		waited   int64
		backoff  int64 = minBackoff
	)
	for len(frames) > 0 {
		r := p.tx.q.transmit(frames)
		frames = frames[r.consumed:]
		accepted += r.queued
		if refused := r.tooLong + r.runts + r.csumBad; refused > 0 {
			p.writeErrors.Add(refused)
		}
		if r.gso > 0 {
			p.gsoDropped.Add(r.gso)
		}
		if r.shared > 0 {
			p.writeShared.Add(uint64(r.shared))
		}
		if r.queued > 0 {
			p.writeFrames.Add(uint64(r.queued))
			p.writeBytes.Add(r.bytes)
		}
		if err := p.kick(); err != nil {
			p.writeErrors.Add(uint64(len(frames)))
			return accepted, err
		}
		if r.consumed > 0 {
			waited, backoff = 0, minBackoff
			continue
		}
		// No free TX frame: the device has not sent what is queued yet.
		if waited >= int64(p.opts.WriteTimeout) {
			p.writeDrops.Add(uint64(len(frames)))
			break
		}
		if p.sleep(backoff) {
			p.writeErrors.Add(uint64(len(frames)))
			return accepted, dataplane.ErrClosed
		}
		waited += backoff
		backoff = min(2*backoff, maxBackoff)
	}
	return accepted, nil
}

// kick has the kernel send what is on the TX ring, when it asked for a
// syscall to do so (always, in copy mode). sendto sends up to a budget
// of frames per call and says EAGAIN when some remain or the device is
// busy; kick repeats while it makes progress.
func (p *Port) kick() error {
	for p.tx.q.tx.needWakeup() && p.tx.q.tx.pending() > 0 {
		before := p.tx.q.tx.pending()
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(p.tx.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0, unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.EINTR:
		case unix.ENETDOWN, unix.ENXIO, unix.ENODEV:
			return fmt.Errorf("write %s: %w", p.name, errno)
		default:
			return fmt.Errorf("write %s: sendto: %w", p.name, errno)
		}
		if p.tx.q.tx.pending() >= before {
			return nil // no progress: the device is busy; Write backs off
		}
	}
	return nil
}

// TxQueued implements dataplane.TxQueuer: the Ethernet bytes this Port
// has put on its TX ring that the kernel has not yet handed back on the
// completion ring. A frame completes once the device is done with it (in
// copy mode when sendto has copied it into an skb and the driver took
// it; in zero-copy mode when the NIC's DMA finished), so this is the
// transmit backlog the team's QueueMeter turns into a delay, like
// AF_PACKET's SIOCOUTQ. It costs no syscall: one load of the completion
// ring's producer index and a walk over the completions since the last
// call (which Write would have made anyway). On a veth in copy mode the
// kernel sends within the sendto, so it reads 0 after a Write unless the
// peer refused frames; on a NIC in driver mode it follows the ring. It
// may run concurrently with Read but not with Write.
func (p *Port) TxQueued() (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	return int(p.tx.q.queued()), nil
}
