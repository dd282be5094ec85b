// Package afpacket moves frames to and from one network interface through
// an AF_PACKET socket: a memory-mapped TPACKET_V2 ring to receive and one
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
// The RX ring is NumBlocks blocks of BlockSize bytes, mapped once, each
// block cut into fixed slots of FrameSize bytes (2 KiB by default: 64
// slots per 128 KiB block, 8192 in the ring). The kernel fills the slots
// in order and hands each one to user space on its own (tp_status
// TP_STATUS_USER), waking a reader in poll(2) per frame; Read copies the
// frame out and gives the slot back (TP_STATUS_KERNEL):
//
//	ring:  block 0: slot 0 | slot 1 | ... | block 1: slot k | ...
//	slot:  tpacket2_hdr (32) | sockaddr_ll | pad | virtio_net_hdr | Ethernet frame
//	                                              ^ tp_mac - 10     ^ tp_mac
//
// The kernel writes the virtio_net_hdr immediately before the MAC header
// (net/packet/af_packet.c tpacket_rcv: virtio_net_hdr_from_skb at
// h.raw + macoff - sizeof(struct virtio_net_hdr)), so header and frame are
// copied into the caller's buffer as one contiguous piece.
//
// Why TPACKET_V2 and not V3: a V3 ring hands over whole blocks, and a
// block that is not full is handed over only when its retire timer
// (at least 1 ms) fires, so at low rates every frame waited up to a
// millisecond in each direction (measured: ping RTT through two Ports
// 1.3 ms median against 0.07 ms over a Linux bridge). Per-slot status
// costs no throughput here: the reader touches every frame's header in
// either version, and at high rates it finds the next slot ready without
// sleeping, so a wakeup is paid only when the ring was empty.
//
// # Super-frames beside the ring
//
// A frame longer than its slot (a GSO super-frame, or anything over about
// 1.9 KiB of Ethernet with the default FrameSize) does not fit the ring.
// PACKET_COPY_THRESH makes the kernel queue such a frame whole on the
// socket's receive queue as well, and mark its truncated slot
// TP_STATUS_COPY (tpacket_rcv, copy_skb). Read then takes the whole frame
// from the queue with recvmsg, at the slot's place in the stream, so order
// is kept; the VLAN tag comes in a PACKET_AUXDATA control message. The
// queue holds ReceiveBuffer bytes; a super-frame that finds it full is cut
// to its slot by the kernel and counted as Truncated here.
//
// Frames that arrive cut short (tp_snaplen < tp_len without
// TP_STATUS_COPY) are skipped and counted, never passed on damaged.
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

var (
	_ dataplane.Port     = (*Port)(nil)
	_ dataplane.TxQueuer = (*Port)(nil)
	_ dataplane.Readier  = (*Port)(nil)
)

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
	// size and of FrameSize. Default 128 KiB.
	BlockSize int

	// NumBlocks is the number of RX ring blocks. Default 128 (16 MiB with
	// the default BlockSize, 8192 slots of 2 KiB): at the 64-byte line rate
	// of a veth (about 500k frames/s) about 16 ms of traffic, enough to ride
	// out the daemon being descheduled on a busy host.
	NumBlocks int

	// FrameSize is the size of one ring slot: a multiple of 16, at least
	// MinFrameSize. A received frame that does not fit its slot (with its
	// headers, about 80 bytes) takes the slower path through the receive
	// queue (see "Super-frames beside the ring"). Default 2 KiB, which
	// holds any frame of a 1500-byte MTU, tagged or not.
	FrameSize int

	// ReceiveBuffer is the socket receive buffer (SO_RCVBUFFORCE, falling
	// back to SO_RCVBUF), which holds the frames too long for a slot until
	// Read takes them. Default 8 MiB, about a hundred 64 KiB super-frames.
	ReceiveBuffer int

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
	DefaultBlockSize     = 128 << 10
	DefaultNumBlocks     = 128
	DefaultFrameSize     = 2 << 10
	DefaultReceiveBuffer = 8 << 20
	DefaultSendBuffer    = 4 << 20
	DefaultWriteTimeout  = 10 * time.Millisecond

	// MinFrameSize holds the slot headers, a virtio-net header and a
	// minimum-size Ethernet frame.
	MinFrameSize = 256
)

func (o Options) withDefaults() Options {
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.NumBlocks == 0 {
		o.NumBlocks = DefaultNumBlocks
	}
	if o.FrameSize == 0 {
		o.FrameSize = DefaultFrameSize
	}
	if o.ReceiveBuffer == 0 {
		o.ReceiveBuffer = DefaultReceiveBuffer
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
	// Truncated are frames Read skipped because the ring cut them short
	// (a frame too long for a slot that found the receive queue full) or
	// they would not fit the caller's buffer.
	Truncated uint64
	// Copied are frames too long for a ring slot that Read took whole
	// from the socket's receive queue (GSO super-frames, mostly).
	Copied uint64

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
