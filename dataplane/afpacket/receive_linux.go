//go:build linux

package afpacket

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Offsets in struct tpacket2_hdr (linux/if_packet.h).
const (
	fhStatus   = 0
	fhLen      = 4
	fhSnaplen  = 8
	fhMac      = 12
	fhVlanTCI  = 24
	fhVlanTPID = 26
	fhSize     = 32
)

// Offsets in struct tpacket_auxdata, the PACKET_AUXDATA control message.
const (
	auxStatus   = 0
	auxVlanTCI  = 16
	auxVlanTPID = 18
	auxSize     = 20
)

// Read fills frames with received frames, each a virtio-net header and
// an Ethernet frame, and sizes with their lengths. It blocks until at
// least one frame is available and returns how many it filled, at most
// min(len(frames), len(sizes)): every frame that is ready, without
// waiting for more. Each buffer should be dataplane.MaxFrame long; frames
// that do not fit are skipped and counted as Truncated.
//
// After Close, Read returns dataplane.ErrClosed. Read keeps waiting while
// the interface is down: link state is not its business.
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) {
	if len(sizes) < len(frames) {
		frames = frames[:len(sizes)]
	}
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.closed.Load() {
		return 0, dataplane.ErrClosed
	}
	if len(frames) == 0 {
		return 0, nil
	}
	var (
		n                        int
		bytes, truncated, copied uint64
	)
	for n < len(frames) {
		slot := p.slot(p.cur)
		status := atomic.LoadUint32(u32(slot, fhStatus))
		if status&unix.TP_STATUS_USER == 0 {
			if n > 0 {
				break
			}
			if err := p.wait(); err != nil {
				return 0, err
			}
			continue
		}
		var (
			size int
			ok   bool
		)
		if status&unix.TP_STATUS_COPY != 0 {
			// Too long for the slot: the whole frame waits on the
			// receive queue, in the same order as the slots.
			size, ok = p.recvCopy(frames[n])
			if ok {
				copied++
			}
		} else {
			size, ok = frameAt(slot, status, frames[n])
		}
		// The frame is copied out: the slot goes back to the kernel.
		atomic.StoreUint32(u32(slot, fhStatus), unix.TP_STATUS_KERNEL)
		p.cur++
		if p.cur == p.slots {
			p.cur = 0
		}
		if !ok {
			truncated++
			continue
		}
		sizes[n] = size
		bytes += uint64(size - dataplane.VnetHdrLen)
		n++
	}
	p.readFrames.Add(uint64(n))
	p.readBytes.Add(bytes)
	if truncated > 0 {
		p.truncated.Add(truncated)
	}
	if copied > 0 {
		p.copied.Add(copied)
	}
	return n, nil
}

// slot returns ring slot i.
func (p *Port) slot(i int) []byte {
	off := i/p.perBlock*p.blockSize + i%p.perBlock*p.frameSize
	return p.ring[off : off+p.frameSize]
}

// frameAt copies the frame in slot, whose status word is status, into
// dst. It returns the length written to dst and whether the frame was
// whole and fit.
func frameAt(slot []byte, status uint32, dst []byte) (size int, ok bool) {
	snap := binary.NativeEndian.Uint32(slot[fhSnaplen:])
	wire := binary.NativeEndian.Uint32(slot[fhLen:])
	mac := uint32(binary.NativeEndian.Uint16(slot[fhMac:]))
	if snap < wire || mac < dataplane.VnetHdrLen || uint64(mac)+uint64(snap) > uint64(len(slot)) {
		return 0, false // cut short by the ring (or nonsense)
	}
	tpid := uint16(unix.ETH_P_8021Q)
	if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
		tpid = binary.NativeEndian.Uint16(slot[fhVlanTPID:])
	}
	return putFrame(dst, slot[mac-dataplane.VnetHdrLen:mac], slot[mac:mac+snap],
		status&unix.TP_STATUS_VLAN_VALID != 0, tpid, binary.NativeEndian.Uint16(slot[fhVlanTCI:]))
}

// recvCopy takes the frame at the head of the socket's receive queue
// into dst, virtio-net header first (packet_recvmsg writes it before the
// data), and puts its VLAN tag back from the PACKET_AUXDATA message.
func (p *Port) recvCopy(dst []byte) (int, bool) {
	if len(dst) == 0 {
		dst = p.roob[:1] // the queued frame must go all the same
	}
	p.riov.Base = &dst[0]
	p.riov.SetLen(len(dst))
	p.rmsg.SetControllen(len(p.roob))
	p.rmsg.Flags = 0
	var r uintptr
	for {
		var errno unix.Errno
		r, _, errno = unix.Syscall(unix.SYS_RECVMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.rmsg)), unix.MSG_DONTWAIT|unix.MSG_TRUNC)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, false // nothing queued after all: count it as cut short
		}
		break
	}
	n := int(r)
	if n > len(dst) || n < dataplane.VnetHdrLen+12 || p.rmsg.Flags&unix.MSG_TRUNC != 0 {
		return 0, false
	}
	// Find the auxdata: one cmsg, but walk them in case of others.
	oob := p.roob[:p.rmsg.Controllen]
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if h.Len < unix.SizeofCmsghdr || uint64(h.Len) > uint64(len(oob)) {
			break
		}
		data := oob[unix.SizeofCmsghdr:h.Len]
		if h.Level == unix.SOL_PACKET && h.Type == unix.PACKET_AUXDATA && len(data) >= auxSize {
			status := binary.NativeEndian.Uint32(data[auxStatus:])
			if status&unix.TP_STATUS_VLAN_VALID == 0 {
				return n, true
			}
			tpid := uint16(unix.ETH_P_8021Q)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = binary.NativeEndian.Uint16(data[auxVlanTPID:])
			}
			return insertTag(dst, n, tpid, binary.NativeEndian.Uint16(data[auxVlanTCI:]))
		}
		sp := unix.CmsgSpace(int(h.Len) - unix.SizeofCmsghdr)
		if sp > len(oob) {
			break
		}
		oob = oob[sp:]
	}
	return n, true
}

// wait sleeps until the kernel may have handed over a slot, or Close.
func (p *Port) wait() error {
	for {
		_, err := unix.Poll(p.rpoll[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: poll: %w", p.name, err)
		}
		if p.rpoll[1].Revents != 0 {
			return dataplane.ErrClosed
		}
		if p.rpoll[0].Revents&unix.POLLERR != 0 {
			// The interface went down (ENETDOWN); reading SO_ERROR clears
			// it so poll does not spin. The ring resumes when it comes up.
			_, _ = unix.GetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		}
		return nil
	}
}

func u32(b []byte, off int) *uint32 {
	return (*uint32)(unsafe.Pointer(&b[off]))
}

// Ready implements dataplane.Readier: it reports whether the kernel has
// handed the next ring slot to us (its status word has TP_STATUS_USER),
// or the Port was closed. No syscall: it reads the slot's status word.
// Like Read, it must not run concurrently with Read.
func (p *Port) Ready() bool {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if p.closed.Load() {
		return true
	}
	return atomic.LoadUint32(u32(p.slot(p.cur), fhStatus))&unix.TP_STATUS_USER != 0
}
