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

// Offsets in struct tpacket_block_desc (linux/if_packet.h): version,
// offset_to_priv, then struct tpacket_hdr_v1.
const (
	bdBlockStatus = 8
	bdNumPkts     = 12
	bdFirstPkt    = 16
)

// Offsets in struct tpacket3_hdr.
const (
	fhNextOffset = 0
	fhSnaplen    = 12
	fhLen        = 16
	fhStatus     = 20
	fhMac        = 24
	fhVlanTCI    = 32
	fhVlanTPID   = 36
	fhSize       = 48
)

// Read fills frames with received frames, each a virtio-net header and
// an Ethernet frame, and sizes with their lengths. It blocks until at
// least one frame is available and returns how many it filled, at most
// min(len(frames), len(sizes)). Each buffer should be dataplane.MaxFrame
// long; frames that do not fit are skipped and counted as Truncated.
//
// A ring block with more frames than fit in one call is continued by the
// next. After Close, Read returns dataplane.ErrClosed. Read keeps waiting
// while the interface is down: link state is not its business.
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
		n                int
		bytes, truncated uint64
	)
	for {
		blk := p.ring[p.cur*p.blockSize : (p.cur+1)*p.blockSize]
		if !p.held {
			if atomic.LoadUint32(u32(blk, bdBlockStatus))&unix.TP_STATUS_USER == 0 {
				if n > 0 {
					break
				}
				if err := p.wait(); err != nil {
					p.truncated.Add(truncated)
					return 0, err
				}
				continue
			}
			p.held = true
			p.left = binary.NativeEndian.Uint32(blk[bdNumPkts:])
			p.off = binary.NativeEndian.Uint32(blk[bdFirstPkt:])
		}
		for p.left > 0 && n < len(frames) {
			next, size, ok := frameAt(blk, p.off, frames[n])
			p.left--
			if ok {
				sizes[n] = size
				bytes += uint64(size - dataplane.VnetHdrLen)
				n++
			} else {
				truncated++
			}
			if next == 0 {
				p.left = 0 // last frame, or a malformed block: stop here
			}
			p.off = next
		}
		if p.left == 0 {
			// Every frame is copied out: the block goes back to the kernel.
			atomic.StoreUint32(u32(blk, bdBlockStatus), unix.TP_STATUS_KERNEL)
			p.held = false
			p.cur++
			if p.cur == p.numBlocks {
				p.cur = 0
			}
		}
		if n == len(frames) {
			break
		}
	}
	p.readFrames.Add(uint64(n))
	p.readBytes.Add(bytes)
	if truncated > 0 {
		p.truncated.Add(truncated)
	}
	return n, nil
}

// frameAt copies the frame whose tpacket3_hdr is at offset off of blk
// into dst. It returns the offset of the next frame (0 after the last),
// the length written to dst, and whether the frame was whole and fit.
func frameAt(blk []byte, off uint32, dst []byte) (next uint32, size int, ok bool) {
	if uint64(off)+fhSize > uint64(len(blk)) {
		return 0, 0, false
	}
	h := blk[off : off+fhSize]
	if nx := binary.NativeEndian.Uint32(h[fhNextOffset:]); nx != 0 {
		next = off + nx
	}
	snap := binary.NativeEndian.Uint32(h[fhSnaplen:])
	wire := binary.NativeEndian.Uint32(h[fhLen:])
	status := binary.NativeEndian.Uint32(h[fhStatus:])
	mac := off + uint32(binary.NativeEndian.Uint16(h[fhMac:]))
	if snap < wire || mac < off+dataplane.VnetHdrLen || uint64(mac)+uint64(snap) > uint64(len(blk)) {
		return next, 0, false // cut short by the ring (or nonsense)
	}
	tpid := uint16(unix.ETH_P_8021Q)
	if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
		tpid = binary.NativeEndian.Uint16(h[fhVlanTPID:])
	}
	size, ok = putFrame(dst, blk[mac-dataplane.VnetHdrLen:mac], blk[mac:mac+snap],
		status&unix.TP_STATUS_VLAN_VALID != 0, tpid, uint16(binary.NativeEndian.Uint32(h[fhVlanTCI:])))
	return next, size, ok
}

// wait sleeps until the kernel may have handed over a block, or Close.
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
