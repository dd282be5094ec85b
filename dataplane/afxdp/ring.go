package afxdp

import (
	"sync/atomic"
	"unsafe"
)

// ring is the index half of one of a socket's four rings (fill, RX, TX,
// completion): a producer and a consumer index shared with the kernel,
// free-running uint32 counters that wrap, and a flags word. Entry i of the
// ring lives at i&mask of its entry array. One side produces (writes
// entries, then publishes its index with a release store), the other
// consumes (loads the producer index with acquire, reads the entries,
// then publishes its consumer index). sync/atomic loads and stores are
// sequentially consistent, which is stronger than the kernel's
// smp_load_acquire/smp_store_release pairing (net/xdp/xsk_queue.h).
//
// local is this side's own index, ahead of the shared one between a
// reserve (or peek) and the matching submit (or release).
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	mask     uint32
	local    uint32
}

// newRing makes a ring over shared words; size must be a power of two.
func newRing(producer, consumer, flags *uint32, size uint32) ring {
	return ring{producer: producer, consumer: consumer, flags: flags, mask: size - 1}
}

func (r *ring) size() uint32 { return r.mask + 1 }

// needWakeup reports whether the kernel asked for a syscall to make
// progress on this ring (XDP_RING_NEED_WAKEUP).
func (r *ring) needWakeup() bool {
	return atomic.LoadUint32(r.flags)&xdpRingNeedWakeup != 0
}

// Producer side (fill and TX rings): local is our producer index.

// initProducer starts a producer ring at the kernel's current indexes.
func (r *ring) initProducer() { r.local = atomic.LoadUint32(r.producer) }

// free returns how many entries can be reserved now.
func (r *ring) free() uint32 {
	return r.size() - (r.local - atomic.LoadUint32(r.consumer))
}

// reserve claims up to n entries and returns the index of the first and
// how many it got; write them at index&mask, then submit.
func (r *ring) reserve(n uint32) (start, got uint32) {
	got = min(n, r.free())
	start = r.local
	r.local += got
	return start, got
}

// submit publishes every reserved entry to the consumer.
func (r *ring) submit() { atomic.StoreUint32(r.producer, r.local) }

// pending returns how many submitted entries the consumer has not taken.
func (r *ring) pending() uint32 {
	return atomic.LoadUint32(r.producer) - atomic.LoadUint32(r.consumer)
}

// Consumer side (RX and completion rings): local is our consumer index.

// initConsumer starts a consumer ring at the kernel's current indexes.
func (r *ring) initConsumer() { r.local = atomic.LoadUint32(r.consumer) }

// peek returns the index of the first unread entry and how many of up
// to n are ready.
func (r *ring) peek(n uint32) (start, got uint32) {
	return r.local, min(n, atomic.LoadUint32(r.producer)-r.local)
}

// release gives n entries read after peek back to the producer.
func (r *ring) release(n uint32) {
	r.local += n
	atomic.StoreUint32(r.consumer, r.local)
}

// xdpRingNeedWakeup is XDP_RING_NEED_WAKEUP (linux/if_xdp.h).
const xdpRingNeedWakeup = 1

// xdpPktContd is XDP_PKT_CONTD (linux/if_xdp.h): in a desc's options, the
// frame goes on in the next descriptor (multi-buffer).
const xdpPktContd = 1

// maxChain is the most descriptors a sent frame may take: the kernel
// builds a copy-mode frame from at most MAX_SKB_FRAGS (17) of them
// (net/xdp/xsk.c xsk_build_skb); 17 UMEM frames of 4 KiB hold any MTU.
const maxChain = 17

// desc is struct xdp_desc, an entry of the RX and TX rings: a frame at
// addr in the UMEM, len bytes long.
type desc struct {
	Addr    uint64
	Len     uint32
	Options uint32
}

const descSize = unsafe.Sizeof(desc{})
