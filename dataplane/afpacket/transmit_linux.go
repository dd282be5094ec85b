//go:build linux

package afpacket

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Backoff bounds while the device queue is busy (ENOBUFS): poll(POLLOUT)
// does not help there, the socket itself is writable.
const (
	minBackoff = 16_000    // ns
	maxBackoff = 1_000_000 // ns
)

// Write sends frames, each a virtio-net header and an Ethernet frame
// sliced to its length, with one sendmmsg per dataplane.BatchSize frames.
// The kernel applies the header: it segments GSO super-frames and fills
// in partial checksums when, and only when, the device cannot.
//
// Write returns the number of frames the kernel accepted. A frame it
// refuses (a bad header, too long without GSO) is dropped and counted in
// Stats.WriteErrors; when the socket buffer or device queue stays full for
// WriteTimeout, the rest of the batch is dropped and counted in
// Stats.WriteDrops. Neither is an error: Write returns one only when the
// Port is closed (dataplane.ErrClosed) or the interface is down or gone,
// and then the unsent frames count as WriteErrors.
//
// A super-frame the device cannot take whole is segmented by the kernel;
// with PACKET_QDISC_BYPASS that takes one retry (see the package doc).
//
// Write may run concurrently with Read but not with another Write.
func (p *Port) Write(frames [][]byte) (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	accepted := 0
	for len(frames) > 0 {
		batch := frames[:min(len(frames), len(p.msgs))]
		frames = frames[len(batch):]
		n, err := p.send(batch)
		accepted += n
		if err != nil {
			p.writeErrors.Add(uint64(len(frames)))
			return accepted, err
		}
	}
	return accepted, nil
}

// send writes one batch of at most len(p.msgs) frames.
func (p *Port) send(batch [][]byte) (int, error) {
	for i, f := range batch {
		if len(f) == 0 {
			p.iovs[i].Base = &p.empty[0] // the kernel rejects it (EINVAL)
		} else {
			p.iovs[i].Base = &f[0]
		}
		p.iovs[i].SetLen(len(f))
	}
	var (
		accepted, bytes int
		waited          int64 // ns backed off on ENOBUFS since the last progress
		backoff         int64 = minBackoff
	)
	done := 0
	for done < len(batch) {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.fd),
			uintptr(unsafe.Pointer(&p.msgs[done])), uintptr(len(batch)-done),
			unix.MSG_DONTWAIT, 0, 0)
		if errno == 0 && r > 0 {
			for _, f := range batch[done : done+int(r)] {
				bytes += len(f) - dataplane.VnetHdrLen
			}
			done += int(r)
			accepted += int(r)
			waited, backoff = 0, minBackoff
			continue
		}
		if errno == 0 {
			errno = unix.EAGAIN // cannot happen; do not spin if it does
		}
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// Socket send buffer full: wait until the device has taken
			// some of it.
			ok, err := p.waitWritable()
			if err != nil {
				p.account(accepted, bytes)
				p.writeErrors.Add(uint64(len(batch) - done))
				return accepted, err
			}
			if !ok {
				p.writeDrops.Add(uint64(len(batch) - done))
				done = len(batch)
			}
		case unix.ENOBUFS:
			if p.bypass.Load() && isGSO(batch[done]) {
				// Most likely the direct-transmit path dropped a
				// super-frame the device cannot take whole; the qdisc
				// path segments it. Send it again that way.
				if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 0); err == nil {
					p.bypass.Store(false)
					continue
				}
			}
			// Device queue full (the qdisc is bypassed, or full too): the
			// frame was not sent, try again shortly.
			if waited >= int64(p.opts.WriteTimeout) {
				p.writeDrops.Add(uint64(len(batch) - done))
				done = len(batch)
				break
			}
			if p.sleep(backoff) {
				p.account(accepted, bytes)
				p.writeErrors.Add(uint64(len(batch) - done))
				return accepted, dataplane.ErrClosed
			}
			waited += backoff
			backoff = min(2*backoff, maxBackoff)
		case unix.ENETDOWN, unix.ENXIO, unix.ENODEV, unix.EBADF:
			p.account(accepted, bytes)
			p.writeErrors.Add(uint64(len(batch) - done))
			return accepted, fmt.Errorf("write %s: %w", p.name, errno)
		default:
			// This frame alone is bad (EINVAL, EMSGSIZE, ...): skip it.
			p.writeErrors.Add(1)
			done++
		}
	}
	p.account(accepted, bytes)
	return accepted, nil
}

// TxQueued returns how many bytes the socket has handed to the kernel
// that the device has not sent yet (SIOCOUTQ, the socket's sk_wmem_alloc,
// in skb truesize): frames waiting in the qdisc, or in the driver's ring
// until their transmit completion. With PACKET_QDISC_BYPASS on a device
// that sends synchronously (veth) it stays near zero. One ioctl, no
// allocation; it may run concurrently with Read but not with Write.
func (p *Port) TxQueued() (int, error) {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(p.fd), unix.SIOCOUTQ, uintptr(unsafe.Pointer(&p.outq)))
	if errno != 0 {
		return 0, fmt.Errorf("%s: SIOCOUTQ: %w", p.name, errno)
	}
	return int(p.outq), nil
}

// isGSO reports whether frame's virtio-net header asks for segmentation.
func isGSO(frame []byte) bool {
	return len(frame) >= dataplane.VnetHdrLen && frame[1] != dataplane.VnetGSONone
}

func (p *Port) account(frames, bytes int) {
	if frames > 0 {
		p.writeFrames.Add(uint64(frames))
		p.writeBytes.Add(uint64(bytes))
	}
}

// waitWritable polls for POLLOUT for up to WriteTimeout. It reports
// whether the socket became writable, or ErrClosed.
func (p *Port) waitWritable() (bool, error) {
	for {
		n, err := unix.Poll(p.wpoll[:], p.wtimeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("write %s: poll: %w", p.name, err)
		}
		if p.wpoll[1].Revents != 0 {
			return false, dataplane.ErrClosed
		}
		return n > 0, nil
	}
}

// sleep waits ns nanoseconds or until Close; it reports whether the Port
// was closed.
func (p *Port) sleep(ns int64) bool {
	p.sleepTS = unix.NsecToTimespec(ns)
	for {
		_, err := unix.Ppoll(p.epoll[:], &p.sleepTS, nil)
		if err == unix.EINTR {
			continue // the kernel updated p.sleepTS to the time left
		}
		return p.epoll[0].Revents != 0 || p.closed.Load()
	}
}
