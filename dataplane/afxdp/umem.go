package afxdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
)

// UMEM is one region of frames shared by the AF_XDP sockets of several
// Ports (a team's: XDP_SHARED_UMEM), so that a frame received on one
// Port is sent on another by putting its descriptor on that Port's TX
// ring, with no copy (see Shared UMEM in the package doc). Pass it in
// Options.UMEM to every Port that shares it. It is safe for concurrent
// use: the Ports' readers and writers take and give back frames.
//
// A frame is counted: one reference while it is lent by ReadLoan or
// held for receiving (on a fill or RX ring), one more for each TX ring
// it is on; it goes back to the free frames when its count drops to
// zero. The memory is mapped when the first Port opens and unmapped
// when the last one closes.
type UMEM struct {
	frameSize uint64
	numFrames int

	bmu   sync.Mutex // held across a socket's bind
	mu    sync.Mutex
	mem   []byte         // mapped while users > 0
	free  []uint64       // frames referenced by no one, in no ring
	refs  []atomic.Int32 // by frame number
	binds map[*queue]int // bound sockets, by queue (their fds anchor the next bind)
	users int            // Ports using mem
	fresh bool           // mem registered with no socket yet
}

// UMEMOptions sizes a UMEM.
type UMEMOptions struct {
	// FrameSize is 2048 or 4096 (default 2048): every Port sharing the
	// UMEM needs a frame of its MTU to fit one (see the package doc).
	FrameSize int
	// NumFrames is the number of frames, a power of two. Default 16384
	// (32 MiB of 2 KiB frames).
	NumFrames int
}

// DefaultUMEMFrames is the default UMEMOptions.NumFrames.
const DefaultUMEMFrames = 16384

// NewUMEM returns a UMEM; nothing is mapped until a Port uses it.
func NewUMEM(o UMEMOptions) (*UMEM, error) {
	if o.FrameSize == 0 {
		o.FrameSize = DefaultFrameSize
	}
	if o.NumFrames == 0 {
		o.NumFrames = DefaultUMEMFrames
	}
	switch {
	case o.FrameSize != 2048 && o.FrameSize != 4096:
		return nil, fmt.Errorf("umem: frame size %d: want 2048 or 4096", o.FrameSize)
	case o.NumFrames < 64 || o.NumFrames&(o.NumFrames-1) != 0:
		return nil, fmt.Errorf("umem: %d frames: want a power of two, at least 64", o.NumFrames)
	}
	return &UMEM{frameSize: uint64(o.FrameSize), numFrames: o.NumFrames, binds: map[*queue]int{}}, nil
}

// FrameSize returns the size of one frame.
func (u *UMEM) FrameSize() int { return int(u.frameSize) }

// Free returns how many frames are free: all of them once every Port
// using the UMEM has closed.
func (u *UMEM) Free() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.mem == nil {
		return u.numFrames
	}
	return len(u.free)
}

// errUMEMEmpty is returned when a socket cannot get its first frames.
var errUMEMEmpty = errors.New("shared UMEM has no free frames")

// use maps the memory for a new Port (with mmap, a function so tests
// can give plain memory).
func (u *UMEM) use(mmap func(int) ([]byte, error)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.users == 0 {
		mem, err := mmap(u.numFrames * int(u.frameSize))
		if err != nil {
			return fmt.Errorf("mmap shared UMEM: %w", err)
		}
		u.mem = mem
		u.refs = make([]atomic.Int32, u.numFrames)
		u.free = make([]uint64, 0, u.numFrames)
		for i := u.numFrames - 1; i >= 0; i-- {
			u.free = append(u.free, uint64(i)*u.frameSize)
		}
		u.fresh = true
	}
	u.users++
	return nil
}

// unuse ends a Port's use and unmaps the memory after the last one
// (munmap, for the same reason as use's mmap).
func (u *UMEM) unuse(munmap func([]byte) error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.users--
	if u.users == 0 {
		_ = munmap(u.mem)
		u.mem, u.free, u.refs = nil, nil, nil
	}
}

// anchor returns the fd of a bound socket of this UMEM for a new socket
// to share it with, or -1 if there is none (the new socket registers it).
func (u *UMEM) anchor() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, fd := range u.binds {
		return fd
	}
	return -1
}

func (u *UMEM) bound(q *queue, fd int) {
	u.mu.Lock()
	u.binds[q] = fd
	u.mu.Unlock()
}

func (u *UMEM) unbound(q *queue) {
	u.mu.Lock()
	delete(u.binds, q)
	u.mu.Unlock()
}

// take moves up to n free frames into dst, each with one reference, and
// returns dst.
func (u *UMEM) take(dst []uint64, n int) []uint64 {
	u.mu.Lock()
	n = min(n, len(u.free), cap(dst)-len(dst))
	for _, f := range u.free[len(u.free)-n:] {
		u.refs[f/u.frameSize].Store(1)
		dst = append(dst, f)
	}
	u.free = u.free[:len(u.free)-n]
	u.mu.Unlock()
	return dst
}

// put returns frames whose count is zero to the free frames.
func (u *UMEM) put(frames []uint64) {
	if len(frames) == 0 {
		return
	}
	u.mu.Lock()
	u.free = append(u.free, frames...)
	u.mu.Unlock()
}

// ref adds a reference to frame f.
func (u *UMEM) ref(f uint64) { u.refs[f/u.frameSize].Add(1) }

// unref drops a reference to frame f and reports whether it was the
// last (the caller then puts it back).
func (u *UMEM) unref(f uint64) bool {
	n := u.refs[f/u.frameSize].Add(-1)
	if n < 0 {
		panic(fmt.Sprintf("afxdp: UMEM frame %#x released more than referenced", f))
	}
	return n == 0
}

// txCache is how many free frames a socket's writer keeps taken from a
// shared UMEM, so that it takes and gives back in batches.
const txCache = 2 * 64

// newShared sets up q's bookkeeping on shared UMEM u and stocks its fill
// ring from it.
func (q *queue) newShared(u *UMEM) {
	q.shared = u
	frames := u.numFrames
	q.holds = make([]bool, frames)
	q.posted = make([]uint16, frames)
	q.txLen = make([]uint32, frames)
	q.txFree = make([]uint64, 0, txCache)
	q.lent = make([]uint64, 0, q.fill.size())
	q.back = make([]uint64, 0, q.fill.size())
	// The reader and the writer each have their own: they run at once.
	q.spill = make([]uint64, 0, q.comp.size()+txCache)
	q.rxSpill = make([]uint64, 0, q.fill.size())
	q.topUp()
}

// topUp fills the fill ring from the UMEM, up to the ring's size of
// frames held for receiving (so that the frames on the fill and RX rings
// always fit the fill ring, as receive expects).
func (q *queue) topUp() {
	want := q.fill.size() - q.fillOwned
	if want == 0 {
		return
	}
	q.back = q.shared.take(q.back[:0], int(want))
	if len(q.back) == 0 {
		return
	}
	fstart, _ := q.fill.reserve(uint32(len(q.back)))
	for i, f := range q.back {
		q.fills[(fstart+uint32(i))&q.fill.mask] = f
		q.holds[f/q.frameSize] = true
	}
	q.fillOwned += uint32(len(q.back))
	q.fill.submit()
	q.back = q.back[:0]
}

// giveBackShared drops the loans' references: a frame no TX ring holds
// any more goes straight back on the fill ring (it keeps its reference,
// now for receiving), the others when the last TX ring completes them;
// the fill ring is then topped up from the UMEM.
func (q *queue) giveBackShared() {
	size := q.fill.size()
	var n uint32
	fstart := q.fill.local
	for _, a := range q.lent {
		binary.NativeEndian.PutUint32(q.umem[a-xskprog.MetaLen+xskprog.MetaFlags:], 0)
		f := q.frameOf(a)
		if !q.shared.unref(f) {
			continue // still on a TX ring
		}
		if q.fillOwned < size {
			q.shared.refs[f/q.frameSize].Store(1)
			q.fills[(fstart+n)&q.fill.mask] = f
			q.holds[f/q.frameSize] = true
			q.fillOwned++
			n++
			continue
		}
		q.rxSpill = append(q.rxSpill, f)
	}
	q.lent = q.lent[:0]
	q.fill.reserve(n) // the slots written above: fillOwned <= size leaves room
	q.fill.submit()
	q.shared.put(q.rxSpill)
	q.rxSpill = q.rxSpill[:0]
	q.topUp()
}

// completeShared drops the reference of TX frame f that the kernel
// completed; a frame nobody holds any more goes to the writer's cache,
// or to the UMEM when the cache is full.
func (q *queue) completeShared(f uint64) {
	q.posted[f/q.frameSize]--
	if !q.shared.unref(f) {
		return
	}
	if len(q.txFree) < cap(q.txFree) {
		q.shared.refs[f/q.frameSize].Store(1)
		q.txFree = append(q.txFree, f)
		return
	}
	q.spill = append(q.spill, f)
}

// inUMEM returns eth's address in the shared UMEM, if it lies there
// within one frame.
func (q *queue) inUMEM(eth []byte) (uint64, bool) {
	if len(eth) == 0 || len(q.umem) == 0 {
		return 0, false
	}
	off := uintptr(unsafe.Pointer(unsafe.SliceData(eth))) - uintptr(unsafe.Pointer(unsafe.SliceData(q.umem)))
	if off >= uintptr(len(q.umem)) {
		return 0, false
	}
	a := uint64(off)
	if a&(q.frameSize-1)+uint64(len(eth)) > q.frameSize {
		return 0, false
	}
	return a, true
}

// post puts the descriptor of a shared frame at TX index idx, with a
// reference for this ring.
func (q *queue) post(addr uint64, n uint32, idx uint32) {
	f := q.frameOf(addr)
	q.shared.ref(f)
	q.posted[f/q.frameSize]++
	q.txs[idx&q.tx.mask] = desc{Addr: addr, Len: n}
	q.txLen[f/q.frameSize] = n
	q.txQueued += uint64(n)
}

// drop gives back every frame a closed socket held of its shared UMEM:
// those it held for receiving, those on its TX and completion rings
// (the kernel copied them in copy mode, or is done with them once the
// socket is unbound), and its writer's cache. Lent frames were released
// before (Close waits for Release).
func (q *queue) drop() {
	if q.shared == nil {
		return
	}
	put := q.spill[:0]
	for i := range q.holds {
		f := uint64(i) * q.frameSize
		refs := int(q.posted[i])
		if q.holds[i] {
			refs++
		}
		for range refs {
			if q.shared.unref(f) {
				put = append(put, f)
			}
		}
		q.holds[i], q.posted[i] = false, 0
		if len(put) == cap(put) {
			q.shared.put(put)
			put = put[:0]
		}
	}
	for _, f := range q.txFree {
		if q.shared.unref(f) {
			put = append(put, f)
		}
		if len(put) == cap(put) {
			q.shared.put(put)
			put = put[:0]
		}
	}
	q.txFree = q.txFree[:0]
	q.fillOwned = 0
	q.shared.put(put)
}

// sharedFrames returns how many frames of its shared UMEM q holds:
// for receiving, on its TX ring, lent, and in its writer's cache.
func (q *queue) sharedFrames() (n int) {
	for i := range q.holds {
		if q.holds[i] {
			n++
		}
		n += int(q.posted[i])
	}
	return n + len(q.lent) + len(q.txFree)
}
