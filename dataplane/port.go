// Package dataplane defines the seam between the team and the sockets that
// move frames: a Port reads and writes frames in batches.
//
// Every frame that crosses a Port starts with a virtio-net header of
// VnetHdrLen bytes (struct virtio_net_hdr, see linux/virtio_net.h), followed
// by the Ethernet frame. The header carries GSO and checksum-offload
// metadata, so a TCP super-frame read from a VM's veth can be handed to a
// member as is and segmented by the kernel only where the member's device
// cannot take it. A plain frame has an all-zero header.
package dataplane

import (
	"errors"
)

// VnetHdrLen is the length of the virtio_net_hdr that prefixes every frame.
const VnetHdrLen = 10

// MaxFrame is the size of a frame buffer: a virtio-net header and the
// largest GSO super-frame a Linux device hands up (64 KiB of IP plus an
// Ethernet header with two VLAN tags).
const MaxFrame = VnetHdrLen + 65535 + 22

// BatchSize is the number of frames a Port moves in one call.
const BatchSize = 64

// ErrClosed is returned by Read and Write on a Port that was closed.
var ErrClosed = errors.New("port closed")

// Port moves frames to and from one network interface.
//
// Read blocks until at least one frame is available and fills frames[i]
// with frame i, setting sizes[i] to its length, for up to len(frames)
// frames; it returns how many it filled. The caller owns the buffers, each
// at least MaxFrame long. Write sends frames (each a header and an Ethernet
// frame, sliced to its length) and returns how many were accepted.
// Read and Write may be called concurrently with each other, but not with
// themselves. Close unblocks a pending Read, which returns ErrClosed.
type Port interface {
	Name() string
	Read(frames [][]byte, sizes []int) (int, error)
	Write(frames [][]byte) (int, error)
	Close() error
}

// TxQueuer is implemented by Ports that can tell how much of what they
// wrote the kernel still holds, not yet sent by the device (bytes, in the
// kernel's own accounting). The team reads it before and after each write
// to estimate a member's transmit delay (lb.QueueMeter). Like Write, it
// must not run concurrently with Write.
type TxQueuer interface {
	TxQueued() (int, error)
}

// Loaner is implemented by Ports that can lend the frames they receive
// where they lie in the Port's own memory instead of copying them into
// the caller's buffers (AF_XDP: the UMEM).
//
// ReadLoan is Read, except that it may set frames[i] to a slice of the
// Port's memory (the same layout: a virtio-net header, then the
// Ethernet frame, sizes[i] long, with capacity beyond it for a pushed
// VLAN tag) rather than fill the buffer frames[i] held; frames must
// hold the caller's buffers on entry, for the frames it copies. The
// caller may read and modify the lent frames, and Write them to any
// Port, until it calls Release, which it must do before the next
// ReadLoan or Read, and soon: the Port's Close waits for it. After
// Release the lent slices must not be touched (the caller restores its
// own buffers into frames before reading again). Release without a
// loan outstanding does nothing.
type Loaner interface {
	ReadLoan(frames [][]byte, sizes []int) (int, error)
	Release()
}

// Readier is implemented by Ports that can tell cheaply, without a
// syscall, whether a Read would return at once: frames are waiting on
// the receive ring, or the Port was closed (Read returns ErrClosed). The
// team's readers spin on it for a while after their last frame instead
// of sleeping in Read (team/spin.go). Like Read, it must not run
// concurrently with Read; it allocates nothing.
type Readier interface {
	Ready() bool
}

// VnetHdr is the decoded virtio_net_hdr (little-endian, as the kernel
// exchanges it with AF_PACKET and TAP sockets on little-endian hosts).
type VnetHdr struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16
	GSOSize    uint16
	CsumStart  uint16
	CsumOffset uint16
}

// Flag and GSO type values of the virtio-net header.
const (
	VnetFlagNeedsCsum = 1
	VnetFlagDataValid = 2

	VnetGSONone  = 0
	VnetGSOTCPv4 = 1
	VnetGSOUDP   = 3
	VnetGSOTCPv6 = 4
	VnetGSOUDPL4 = 5
	VnetGSOECN   = 0x80
)

// DecodeVnetHdr reads the header at the start of b (len(b) >= VnetHdrLen).
func DecodeVnetHdr(b []byte) VnetHdr {
	_ = b[VnetHdrLen-1]
	return VnetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     uint16(b[2]) | uint16(b[3])<<8,
		GSOSize:    uint16(b[4]) | uint16(b[5])<<8,
		CsumStart:  uint16(b[6]) | uint16(b[7])<<8,
		CsumOffset: uint16(b[8]) | uint16(b[9])<<8,
	}
}

// Encode writes h into b (len(b) >= VnetHdrLen).
func (h VnetHdr) Encode(b []byte) {
	_ = b[VnetHdrLen-1]
	b[0], b[1] = h.Flags, h.GSOType
	b[2], b[3] = byte(h.HdrLen), byte(h.HdrLen>>8)
	b[4], b[5] = byte(h.GSOSize), byte(h.GSOSize>>8)
	b[6], b[7] = byte(h.CsumStart), byte(h.CsumStart>>8)
	b[8], b[9] = byte(h.CsumOffset), byte(h.CsumOffset>>8)
}

// ClearVnetHdr zeroes the header of frame: a plain frame, no offloads.
func ClearVnetHdr(frame []byte) {
	clear(frame[:VnetHdrLen])
}

// Eth returns the Ethernet part of a frame (after the virtio-net header).
func Eth(frame []byte) []byte { return frame[VnetHdrLen:] }
