// Package afpacket moves frames to and from one network interface through
// an AF_PACKET socket: a memory-mapped TPACKET_V3 ring to receive and one
// sendmmsg call per batch to transmit. It is Linux-only; elsewhere Open
// fails with errors.ErrUnsupported.
//
// # Virtio-net header: super-frames pass through whole
//
// The socket is opened with PACKET_VNET_HDR, so the kernel puts a
// virtio_net_hdr in front of every frame it hands up and takes one in
// front of every frame it is given. A TCP super-frame that a VM's veth
// passes up (up to 64 KiB, checksum not yet filled in) is therefore read
// as one frame whose header says "GSO TCPv4, segment size 1448, checksum
// needed at offset X", and writing that frame, header included, to a
// member hands the kernel the same skb metadata back. The daemon never
// segments nor checksums: the kernel does it in software only when the
// egress device lacks TSO or checksum offload, and not at all when the
// device can take the super-frame. This is what makes forwarding through
// userspace cost per super-frame instead of per 1500-byte segment.
//
// # Receive ring layout
//
// The RX ring is NumBlocks blocks of BlockSize bytes, mapped once. The
// kernel fills one block at a time with variable-sized frames and hands it
// to user space (block_status TP_STATUS_USER) when it is full or when
// BlockTimeout has passed since it was opened; Read then walks the block
// and gives it back (TP_STATUS_KERNEL) once every frame in it has been
// copied out. A block's frames look like this:
//
//	block:  tpacket_block_desc (48 bytes) | frame | frame | ...
//	frame:  tpacket3_hdr | sockaddr_ll | pad | virtio_net_hdr | Ethernet frame
//	                                          ^ tp_mac - 10     ^ tp_mac
//
// The kernel writes the virtio_net_hdr immediately before the MAC header
// (net/packet/af_packet.c tpacket_rcv: virtio_net_hdr_from_skb at
// h.raw + macoff - sizeof(struct virtio_net_hdr)), so header and frame are
// copied into the caller's buffer as one contiguous piece.
//
// Blocks are large (128 KiB by default) so a full 64 KiB super-frame fits
// with room to spare, and so that at small-frame rates one poll wakeup
// delivers about a thousand frames. Frames the ring had to cut short
// (tp_snaplen < tp_len) are skipped and counted, never passed on damaged.
//
// # VLAN tags
//
// The receive path strips the outer 802.1Q/802.1ad tag into skb metadata
// before packet sockets see the frame (or the NIC did it). Read puts it
// back from tp_vlan_tci/tp_vlan_tpid, so a frame leaves the Port exactly
// as it was on the wire, and moves the header's csum_start (and hdr_len)
// four bytes on, since the kernel computed them for the untagged frame.
//
// # Transmit
//
// Write hands a whole batch to the kernel with one sendmmsg; the message
// and iovec arrays are allocated once per Port. PACKET_QDISC_BYPASS sends
// straight to the driver queue: a teaming member has little use for a
// qdisc, and the team's own balancing decides what goes where.
//
// The bypass has one catch: the kernel's direct-transmit path
// (__dev_direct_xmit) drops any frame that it would have to segment in
// software (validate_xmit_skb returns a new skb list), so a GSO
// super-frame sent to a device without the matching TSO/USO feature
// vanishes with ENOBUFS. When that happens the Port turns the bypass off
// for good and sends the frame again through the qdisc path, which
// segments it; Stats.QdiscBypass tells which path is in use.
//
// # What the Port sees
//
// PACKET_IGNORE_OUTGOING keeps the socket from seeing frames transmitted
// on the interface, by itself or anyone else on the host, so a Port reads
// only what the interface received and a forwarder cannot loop its own
// output back in.
//
// # Limits
//
// Linux 4.20 or later (PACKET_IGNORE_OUTGOING), Ethernet interfaces only.
// The kernel drops, and counts in RingDrops, received super-frames whose
// GSO type a virtio_net_hdr cannot express (UDP tunnel GSO, GSO_PARTIAL,
// SCTP); frames over 64 KiB (BIG TCP) do not fit dataplane.MaxFrame and
// count as Truncated. On transmit the kernel lets a frame exceed MTU+14
// by a tag only if that tag is 802.1Q: 802.1ad and QinQ frames need the
// member's MTU raised.
package afpacket

import (
	"errors"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
)

var _ dataplane.Port = (*Port)(nil)

// ErrNotEthernet is returned by Open for an interface that does not
// carry Ethernet frames (loopback, a layer-3 tunnel, ...).
var ErrNotEthernet = errors.New("not an Ethernet interface")

// Options tunes a Port. The zero value is a sensible default.
type Options struct {
	// Promisc puts the interface in promiscuous mode while the Port is
	// open. It uses a packet-socket membership (PACKET_MR_PROMISC), which
	// counts like any other promiscuity user and is dropped by the kernel
	// when the socket closes, even if the process dies.
	Promisc bool

	// BlockSize is the size of one RX ring block: a multiple of the page
	// size, at least 128 KiB so a 64 KiB super-frame fits. Default 128 KiB.
	BlockSize int

	// NumBlocks is the number of RX ring blocks. Default 128 (16 MiB with
	// the default BlockSize). At moderate rates the kernel hands a block
	// over every BlockTimeout however little it holds, so the ring's depth
	// in time is about NumBlocks x BlockTimeout: 128 ms with the defaults,
	// enough to ride out the daemon being descheduled on a busy host.
	NumBlocks int

	// BlockTimeout is how long the kernel keeps filling a block before it
	// hands it to Read anyway; it bounds the latency added at low rates
	// (TPACKET_V3 wakes the reader per block, not per frame). Millisecond
	// resolution. Default 1 ms, the smallest: measured through a team, the
	// ping RTT the daemon adds (two crossings) went from 3.6 ms average
	// at 2 ms to 2.2 ms.
	BlockTimeout time.Duration

	// SendBuffer is the socket send buffer (SO_SNDBUFFORCE, falling back
	// to SO_SNDBUF). Default 4 MiB, room for a batch of super-frames.
	SendBuffer int

	// NoQdiscBypass sends through the interface's qdisc from the start
	// instead of straight to the driver (see "Transmit" above).
	NoQdiscBypass bool

	// WriteTimeout is how long Write waits for a full socket buffer or a
	// busy device queue to make progress before it drops the rest of the
	// batch. Default 10 ms.
	WriteTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultBlockSize    = 128 << 10
	DefaultNumBlocks    = 128
	DefaultBlockTimeout = 1 * time.Millisecond
	DefaultSendBuffer   = 4 << 20
	DefaultWriteTimeout = 10 * time.Millisecond

	// MinBlockSize holds a block descriptor, the frame headers and a
	// dataplane.MaxFrame super-frame.
	MinBlockSize = 128 << 10
)

func (o Options) withDefaults() Options {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.NumBlocks == 0 {
		o.NumBlocks = DefaultNumBlocks
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = DefaultBlockTimeout
	}
	if o.SendBuffer == 0 {
		o.SendBuffer = DefaultSendBuffer
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o
}

// Stats are a Port's counters since Open. All are cumulative.
type Stats struct {
	ReadFrames uint64 // frames returned by Read
	ReadBytes  uint64 // their Ethernet bytes (VLAN tag included, virtio header not)

	WriteFrames uint64 // frames the kernel accepted from Write
	WriteBytes  uint64 // their Ethernet bytes (virtio header not included)

	// RingDrops are frames the kernel could not put in the RX ring
	// because it was full (PACKET_STATISTICS tp_drops).
	RingDrops uint64
	// RingFreezes counts the times the ring filled up and the kernel
	// stopped filling it until Read released a block (tp_freeze_q_cnt).
	RingFreezes uint64
	// Truncated are frames Read skipped because the ring cut them short
	// or they would not fit the caller's buffer.
	Truncated uint64

	// WriteErrors are frames the kernel refused (bad virtio header, too
	// long, interface down or gone).
	WriteErrors uint64
	// WriteDrops are frames Write gave up on after WriteTimeout of a full
	// socket buffer or device queue.
	WriteDrops uint64

	// QdiscBypass reports whether Write still sends straight to the
	// driver (PACKET_QDISC_BYPASS); it turns false for good when a GSO
	// frame needed software segmentation.
	QdiscBypass bool
}
