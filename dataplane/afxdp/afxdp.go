// Package afxdp moves frames to and from one network interface through
// an AF_XDP socket: the interface's XDP program (ebpf/xsk) redirects every
// frame it receives into the socket's RX ring, and frames to send are
// put on its TX ring. It is Linux-only; elsewhere Open fails with
// errors.ErrUnsupported.
//
// # Rings and UMEM
//
// The socket has a UMEM, NumFrames frames of FrameSize bytes in one
// anonymous mapping registered with the kernel (XDP_UMEM_REG), and four
// rings mapped from the socket (net/xdp/xsk.c xsk_mmap): two carry UMEM
// addresses, two carry descriptors (struct xdp_desc: address, length).
// Each ring is an array of a power-of-two entries with a producer and a
// consumer index that run freely and wrap (see ring.go):
//
//	              user space                         kernel
//	fill ring:    produces empty RX frames   ---->   fills them with frames received
//	RX ring:      consumes received frames   <----   produces {addr, len}
//	TX ring:      produces {addr, len}       ---->   sends them
//	completion:   consumes sent frames       <----   produces their addresses
//
// The first half of the UMEM circulates fill -> RX -> fill, the second
// TX -> completion -> free list -> TX, so Read and Write never touch the
// same frame or index. Read copies each frame out to the caller's buffer
// and hands its UMEM frame straight back on the fill ring; Write copies
// each frame into a free UMEM frame.
//
// # Lent frames
//
// ReadLoan (dataplane.Loaner, what the team's readers use) saves Read's
// copy: it hands the caller each received frame where the kernel put
// it, with the virtio-net header written into the XDP headroom just in
// front of it (a VLAN tag from the metadata goes back after the MAC
// addresses by moving them 4 bytes into the headroom) and the rest of
// its UMEM frame behind it, so the team can push a tag in place. The
// UMEM frames stay off the fill ring until Release, which the reader
// calls once its batch is forwarded; Close waits for it. A frame in a
// chain of descriptors (multi-buffer, above one UMEM frame) is copied
// into the caller's buffer as Read does.
//
// # Shared UMEM
//
// Ports opened with one Options.UMEM (the daemon makes one per team)
// share it (XDP_SHARED_UMEM): the first socket registers the memory,
// each later one binds sharing it with a bound one, with fill and
// completion rings of its own (another device or queue has its own
// buffer pool in the kernel), in the mode and wakeup setting of that
// first binding (a shared bind may not ask for any). Frames are not
// split between receiving and sending any more: each socket takes from
// the UMEM's free frames what its fill ring holds (up to the ring's
// size) and what its writer copies into (a cache of 128), and a frame
// is counted (umem.go): one reference while it is held for receiving
// or lent, one per TX ring it is on; completions and Release drop
// them, and at zero it is free again. So a frame lent by one Port's
// ReadLoan and written to another Port of the UMEM goes on that Port's
// TX ring by descriptor, not copied (Stats.WriteShared), also to
// several Ports (a flood) and while it is also written to a TAP vnic
// (which copies); it stays intact until every ring has completed it and
// the reader has released it. A partial checksum such a frame's header
// asks for is completed where the frame lies by the first Port that
// sends it, and the header's flag cleared. Closing a Port gives back
// every frame its sockets held, its rings' and its cache's; the memory
// is unmapped when the last Port closes.
//
// What still copies: Read (the copy path, for callers that own their
// buffers); frames from elsewhere (a TAP vnic, the team's own frames:
// LACPDUs, announcements, a flooded frame converted to the other VLAN
// form, rx_translation's copies), into a free UMEM frame; frames longer
// than one UMEM frame (multi-buffer chains: a Port whose MTU needs them,
// above 3822, keeps a UMEM of its own and copies on both sides, as does
// a Port whose MTU needs larger frames than the shared UMEM has, since
// its size is chosen for the first Port); and the kernel's copies into
// and out of the UMEM in copy mode (veth). A device that builds its
// skbs on UMEM pages in copy mode (IFF_TX_SKB_NO_LINEAR, virtio-net)
// completes a frame when the skb is freed: closing such a Port gives
// its frames back at once, so one being sent then may be reused early.
//
// # Copy and zero-copy, wakeups
//
// Open binds with XDP_ZEROCOPY and falls back to XDP_COPY when the driver
// has no zero-copy support (veth: EOPNOTSUPP), with XDP_USE_NEED_WAKEUP in
// both cases: the kernel sets a flag on a ring when it needs a syscall to
// make progress. In copy mode the TX ring always wants one, so each Write
// ends with a sendto that has the kernel send what is on the ring (up to
// its per-call budget, so sendto repeats while frames remain), and the
// completion ring is filled by then. The fill ring of a copy-mode socket
// never needs one (the driver's NAPI poll fills the RX ring); when a
// zero-copy driver asks, Read wakes it with a recvfrom.
//
// Read sleeps in poll(2) on the socket (POLLIN when the RX ring is not
// empty) and an eventfd that Close makes readable, like the afpacket
// Port: no CPU at idle, and a frame costs one wakeup only when the ring
// was empty.
//
// # Virtio-net header, offloads
//
// AF_XDP carries no virtio-net header. Read puts one in front of every
// frame: all zero (a plain frame), or, for a TCP or UDP frame whose
// sender left the checksum to offload (the default on a VM's veth: the
// frame arrives with the pseudo-header sum in its checksum field), one
// that says NEEDS_CSUM, as AF_PACKET would have (checksum.go).
// Write takes the header off, completes the checksum in software when the
// header asks for it (VIRTIO_NET_HDR_F_NEEDS_CSUM: frames from a TAP or an
// AF_PACKET socket with checksum offload), and refuses GSO super-frames,
// counting them in Stats.GSODropped: a UMEM frame holds one wire frame.
//
// Super-frames do not arise on the xdp backend's own interfaces: when an
// XDP program without multi-buffer support is attached to a veth, the
// kernel takes software GSO out of the peer's features (drivers/net/veth.c
// veth_xdp_set), so the VM's end of the veth hands over wire-sized,
// checksummed segments; and physical NICs deliver wire frames to XDP. The
// daemon opens TAP vnics without offloads on this backend for the same
// reason. This is how TCP from a VM with its default offloads crosses
// the xdp backend: the VM's stack segments, the kernel gives GSO back to
// the VM's end when the program goes, nothing is dropped as a
// super-frame (GSODropped stays 0), and the daemon changes nothing of
// the VM's.
//
// # VLAN tags
//
// The contract of dataplane.Port is that a tag travels in the frame,
// after the MAC addresses. A frame whose tag is in its bytes keeps it up
// to XDP (the kernel strips tags into skb metadata only later, in
// __netif_receive_skb_core). But a driver may hold the tag beside the
// frame: a NIC with receive VLAN stripping, or a veth whose peer sent an
// skb with the tag in its metadata (a VLAN device, or a VLAN-filtering
// bridge, on a device with tx-vlan-offload). In driver mode the XDP
// program is loaded bound to the device and asks the driver for such a
// tag (bpf_xdp_metadata_rx_vlan_tag), leaving it in the metadata in
// front of the frame; Read puts it back after the MAC addresses as it
// copies the frame out, PCP and DEI included (measured on veth, Linux
// 6.18: without this the socket got such frames untagged). Generic XDP
// offers no such kfunc: there a stripped tag is lost, so a NIC driven in
// generic mode needs rx-vlan-offload off (ethtool -K DEV rxvlan off) to
// carry VLANs. Write sends tagged frames as they are; the kernel lets a
// tagged frame exceed the MTU by the 802.1Q tag only.
//
// # Queues
//
// A Port has one socket per RX queue of its interface (a veth has one per
// possible CPU, and frames land on the queue the sender's TX queue maps
// to), each with its own UMEM (or all on the shared one); queue 0's
// socket also sends. Read drains
// every queue that has frames, starting with a different one each call,
// and sleeps in one poll(2) on all of them.
//
// # MTU, multi-buffer
//
// A received frame starts 256 bytes (XDP_PACKET_HEADROOM) into its UMEM
// frame, so one 2 KiB frame holds an MTU of 1774 (with a VLAN tag), one
// 4 KiB frame 3822; the kernel takes no UMEM frame larger than a page
// without huge pages (net/xdp/xdp_umem.c). Open picks the size from the
// MTU: 2 KiB up to 1774, 4 KiB above, with the XDP program loaded
// multi-buffer aware (xskprog.LoadFrags: a veth refuses an MTU above
// 3506 under a program that is not, ERANGE, drivers/net/veth.c
// veth_xdp_set). Above 3822 the sockets are bound with XDP_USE_SG (Linux
// 6.6): the kernel hands a long frame over as a chain of RX descriptors,
// each but the last marked XDP_PKT_CONTD, and Read joins them into the
// caller's buffer; Write cuts a long frame into a chain of TX
// descriptors the same way. Measured on veth (Linux 6.18, driver and
// generic mode): every MTU up to 65535 passes; a kernel that refuses
// XDP_USE_SG gets ErrMTU naming the limit without it.
//
// # Limits
//
// Linux 5.11 or later (XDP_USE_NEED_WAKEUP, BPF links for XDP); 5.18
// for an MTU above 1774 (multi-buffer XDP programs), 6.6 above 3822
// (multi-buffer AF_XDP sockets). Out-of-band VLAN tags need Linux 6.8
// and a driver with the VLAN metadata kfunc (Program.VLANErr says why
// not, when binding failed).
package afxdp

import (
	"errors"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
)

var (
	_ dataplane.Port     = (*Port)(nil)
	_ dataplane.TxQueuer = (*Port)(nil)
	_ dataplane.Loaner   = (*Port)(nil)
	_ dataplane.Readier  = (*Port)(nil)
)

// Errors of Open.
var (
	// ErrNotEthernet is returned for an interface that does not carry
	// Ethernet frames.
	ErrNotEthernet = errors.New("not an Ethernet interface")
	// ErrMultiQueue is returned for an interface with more RX queues
	// than the XDP program has socket slots (xskprog.MaxQueues).
	ErrMultiQueue = errors.New("too many RX queues")
	// ErrMTU is returned for an interface whose MTU does not fit a UMEM
	// frame when the kernel refuses multi-buffer sockets (XDP_USE_SG).
	ErrMTU = errors.New("MTU too large for the UMEM frame size")
)

// Options tunes a Port. The zero value is a sensible default.
type Options struct {
	// Promisc puts the interface in promiscuous mode while the Port is
	// open, through a packet-socket membership (an AF_PACKET socket that
	// receives nothing) which the kernel drops when the socket closes,
	// even if the process dies.
	Promisc bool

	// FrameSize is the size of one UMEM frame: 2048 or 4096. Default
	// 2048 when a frame of the interface's MTU fits one (MTU 1774 and
	// below), else 4096. A frame longer than one UMEM frame is carried in
	// several (multi-buffer, see the package doc).
	FrameSize int

	// NumFrames is the number of UMEM frames, a power of two, half for
	// receiving and half for sending; each ring has NumFrames/2 entries.
	// Default 4096 (8 MiB with the default FrameSize).
	NumFrames int

	// Mode is how the XDP program is attached. The default, ModeAuto,
	// tries native (driver) XDP and falls back to generic XDP, recording
	// why in Port.DriverErr for the caller to log.
	Mode xskprog.Mode

	// UMEM, when set, is shared with the other Ports given it: frames
	// received on one are sent on another without a copy (see Shared
	// UMEM above). A Port whose MTU needs more than one of its frames
	// keeps a UMEM of its own. FrameSize and NumFrames are then the
	// UMEM's (the rings take NumFrames/2 entries, at most a quarter of
	// the UMEM's frames).
	UMEM *UMEM

	// WriteTimeout is how long Write waits for TX frames to come back
	// from a busy device before it drops the rest of the batch. Default
	// 10 ms.
	WriteTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultFrameSize    = 2048
	DefaultNumFrames    = 4096
	DefaultWriteTimeout = 10 * time.Millisecond

	// xdpHeadroom is XDP_PACKET_HEADROOM: where a received frame starts
	// in its UMEM frame.
	xdpHeadroom = 256
)

func (o Options) withDefaults() Options {
	if o.NumFrames == 0 {
		o.NumFrames = DefaultNumFrames
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o
}

// Stats are a Port's counters since Open. All are cumulative.
type Stats struct {
	ReadFrames uint64 // frames returned by Read
	ReadBytes  uint64 // their Ethernet bytes

	WriteFrames uint64 // frames put on the TX ring
	WriteBytes  uint64 // their Ethernet bytes
	// WriteShared are the frames of those that lay in the Port's shared
	// UMEM (lent by another Port's ReadLoan), put on the TX ring by
	// descriptor, not copied.
	WriteShared uint64

	// RXDropped are frames the kernel dropped because the RX ring was
	// full or the fill ring empty (XDP_STATISTICS rx_dropped plus
	// rx_ring_full).
	RXDropped uint64
	// Truncated are received frames that did not fit the caller's buffer.
	Truncated uint64
	// Partial are received TCP/UDP frames whose checksum their sender
	// left to offload, passed on marked NEEDS_CSUM (see checksum.go).
	Partial uint64

	// WriteErrors are frames refused: shorter than an Ethernet header,
	// longer than a UMEM frame, bad checksum offsets, or unsent when the
	// interface went down.
	WriteErrors uint64
	// GSODropped are GSO super-frames refused (see the package doc).
	GSODropped uint64
	// WriteDrops are frames Write gave up on after WriteTimeout of a busy
	// device.
	WriteDrops uint64
	// TXInvalid are TX descriptors the kernel rejected (tx_invalid_descs).
	TXInvalid uint64

	// ZeroCopy reports whether the sockets are bound in zero-copy mode.
	ZeroCopy bool
	// SharedUMEM reports whether the sockets use Options.UMEM (false
	// when the Port has its own: see Shared UMEM in the package doc).
	SharedUMEM bool
	// Queues is the number of RX queues, one socket each.
	Queues int
	// QueueFrames are the frames Read took from each RX queue's socket,
	// by queue index.
	QueueFrames []uint64
	// Program holds the XDP program's counters: frames redirected to
	// this socket, and frames passed to the stack.
	Program xskprog.Counters
}
