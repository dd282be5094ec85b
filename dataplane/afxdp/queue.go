package afxdp

import (
	"encoding/binary"
	"math/bits"

	"github.com/teamd-go/teamd-go/dataplane"
	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
)

// queue is one AF_XDP socket's UMEM and rings, and the bookkeeping of
// which UMEM frame is where, without any syscall: receive and transmit
// only move descriptors and copy bytes, the Port around them sleeps and
// kicks the kernel. The frames of the UMEM are split once: the first
// half only ever circulates between the fill and RX rings, the second
// half between the TX ring, the completion ring and txFree.
//
// receive is owned by the reading goroutine, transmit and reclaim by the
// writing one; they share no field.
type queue struct {
	umem      []byte
	frameSize uint64 // a power of two: an address masked down is its frame
	multi     bool   // a frame may span several descriptors (XDP_USE_SG)

	fill  ring
	fills []uint64 // the fill ring's entries: frame addresses
	rx    ring
	rxs   []desc

	tx     ring
	txs    []desc
	comp   ring
	comps  []uint64
	txFree []uint64 // TX frames not in the TX or completion ring
	txAll  int      // TX frames in all
	// txLen is the Ethernet length of each UMEM frame put on the TX ring
	// (by frame number), txQueued the sum over the frames not yet back
	// from the completion ring: the bytes the device has not sent.
	txLen    []uint32
	txQueued uint64

	// lent are the RX descriptors' addresses of the frames lend handed
	// out and giveBack has not yet returned to the fill ring; back is
	// lend's scratch list of frames to return at once (chains it
	// copied, frames it skipped). Both hold at most the RX frames.
	lent []uint64
	back []uint64

	// With a shared UMEM (see umem.go): the RX frames are not fixed but
	// taken from it and given back, so fillOwned counts those this
	// socket holds for receiving (on its fill or RX ring, or in the
	// kernel between them), at most the fill ring's size, and holds
	// marks them by frame number; posted counts by frame number the
	// times a frame is on this socket's TX or completion ring; txFree is
	// a cache of frames taken from the UMEM for copying into.
	shared    *UMEM
	fillOwned uint32
	holds     []bool
	posted    []uint16
	spill     []uint64 // the writer's frames to give back to the UMEM
	rxSpill   []uint64 // the reader's
}

// layout is where a queue's shared memory is: built by the Port from
// mmap'd rings, and by tests from plain slices.
type layout struct {
	umem      []byte
	frameSize uint64
	rxFrames  int // frames given to the fill ring; the rest are for TX
	multi     bool
	shared    *UMEM // umem is its memory, rxFrames unused

	fill, rx, tx, comp ring
	fills, comps       []uint64
	rxs, txs           []desc
}

func newQueue(l layout) *queue {
	q := &queue{
		umem: l.umem, frameSize: l.frameSize, multi: l.multi,
		fill: l.fill, fills: l.fills, rx: l.rx, rxs: l.rxs,
		tx: l.tx, txs: l.txs, comp: l.comp, comps: l.comps,
	}
	q.fill.initProducer()
	q.tx.initProducer()
	q.rx.initConsumer()
	q.comp.initConsumer()
	if l.shared != nil {
		q.newShared(l.shared)
		return q
	}
	frames := len(l.umem) / int(l.frameSize)
	q.txAll = frames - l.rxFrames
	q.txFree = make([]uint64, 0, q.txAll)
	q.txLen = make([]uint32, frames)
	q.lent = make([]uint64, 0, l.rxFrames)
	q.back = make([]uint64, 0, l.rxFrames)
	for i := frames - 1; i >= l.rxFrames; i-- {
		q.txFree = append(q.txFree, uint64(i)*l.frameSize)
	}
	start, got := q.fill.reserve(uint32(l.rxFrames))
	for i := range got {
		q.fills[(start+i)&q.fill.mask] = uint64(i) * l.frameSize
	}
	q.fill.submit()
	return q
}

// receive copies up to len(frames) frames from the RX ring into frames,
// each behind a virtio-net header (all zero, or NEEDS_CSUM for a frame
// whose checksum was left partial: see markPartial), and gives their UMEM
// frames back to the kernel through the fill ring. It returns how many it
// filled and their Ethernet bytes; frames that do not fit their buffer,
// or whose descriptor points outside the UMEM, are skipped and counted in
// bad; partial counts the frames marked NEEDS_CSUM.
func (q *queue) receive(frames [][]byte, sizes []int) (n int, bytes, bad, partial uint64) {
	max := min(len(frames), len(sizes))
	want := uint32(max)
	if q.multi {
		want = q.rx.size() // a frame may take several descriptors
	}
	start, got := q.rx.peek(want)
	if got == 0 || max == 0 {
		return 0, 0, 0, 0
	}
	// The fill ring always has room: it and the RX ring between them
	// hold the RX frames, and the fill ring alone can hold them all.
	fstart, _ := q.fill.reserve(got)
	var used uint32 // descriptors of whole frames taken
	for used < got && n < max {
		dst := frames[n]
		size, ok := 0, true
		i := used
		for {
			if i == got {
				// The rest of the chain is not published yet (the
				// kernel publishes whole frames): leave the chain for
				// the next call.
				goto done
			}
			d := q.rxs[(start+i)&q.rx.mask]
			q.fills[(fstart+i)&q.fill.mask] = q.frameOf(d.Addr)
			size, ok = q.copyPiece(dst, d, i == used, size, ok)
			i++
			if !q.multi || d.Options&xdpPktContd == 0 {
				break
			}
		}
		used = i
		if !ok {
			bad++
			continue
		}
		sizes[n] = size
		if markPartial(dst[:size]) {
			partial++
		}
		bytes += uint64(size - dataplane.VnetHdrLen)
		n++
	}
done:
	q.fill.local = fstart + used // give back the slots of frames left
	q.rx.release(used)
	q.fill.submit()
	return n, bytes, bad, partial
}

// putFrame copies the received frame at umem[addr:end] into dst behind an
// all-zero virtio-net header and returns its length, or false if it does
// not fit. A VLAN tag that the XDP program found beside the frame and
// left in the metadata in front of it goes back in after the MAC
// addresses, and the metadata's flags are cleared, so the next frame
// received into this UMEM frame does not inherit the tag.
func (q *queue) putFrame(dst []byte, addr, end uint64) (int, bool) {
	const h = dataplane.VnetHdrLen
	frame := q.umem[addr:end]
	var meta []byte
	if addr&(q.frameSize-1) >= xskprog.MetaLen {
		meta = q.umem[addr-xskprog.MetaLen : addr]
	}
	if meta == nil || binary.NativeEndian.Uint32(meta[xskprog.MetaFlags:])&xskprog.MetaVLAN == 0 || len(frame) < 12 {
		if h+len(frame) > len(dst) {
			return 0, false
		}
		dataplane.ClearVnetHdr(dst)
		copy(dst[h:], frame)
		return h + len(frame), true
	}
	binary.NativeEndian.PutUint32(meta[xskprog.MetaFlags:], 0)
	n := h + len(frame) + 4
	if n > len(dst) {
		return 0, false
	}
	dataplane.ClearVnetHdr(dst)
	copy(dst[h:h+12], frame[:12])
	copy(dst[h+12:h+14], meta[xskprog.MetaTPID:xskprog.MetaTPID+2]) // network order already
	binary.BigEndian.PutUint16(dst[h+14:], binary.NativeEndian.Uint16(meta[xskprog.MetaTCI:]))
	copy(dst[h+16:n], frame[12:])
	return n, true
}

// lend is receive without the copy: it sets frames[i] to frame i where
// it lies in the UMEM, the virtio-net header written in the XDP headroom
// just before it (and a VLAN tag from the metadata put back after the
// MAC addresses by moving them 4 bytes into the headroom), sliced to the
// end of its UMEM frame so that the room behind it can take a pushed
// tag. The UMEM frames stay out of the fill ring until giveBack. A frame
// lend cannot hand out in place, a multi-buffer chain or one too close
// to the start of its UMEM frame, is copied into the caller's buffer
// frames[i] as receive does (so frames must hold the caller's buffers on
// entry). It returns what receive returns.
func (q *queue) lend(frames [][]byte, sizes []int) (n int, bytes, bad, partial uint64) {
	const h = dataplane.VnetHdrLen
	max := min(len(frames), len(sizes))
	want := uint32(max)
	if q.multi {
		want = q.rx.size()
	}
	start, got := q.rx.peek(want)
	if got == 0 || max == 0 {
		return 0, 0, 0, 0
	}
	q.back = q.back[:0]
	var used uint32
	for used < got && n < max {
		d := q.rxs[(start+used)&q.rx.mask]
		end := d.Addr + uint64(d.Len)
		off := d.Addr & (q.frameSize - 1)
		if (q.multi && d.Options&xdpPktContd != 0) || end > uint64(len(q.umem)) || off < h+4 || off < xskprog.MetaLen {
			// The copy path, for chains and odd addresses.
			size, ok, i, whole := q.copyChain(frames[n], start, used, got)
			if !whole {
				break
			}
			used = i
			if !ok {
				bad++
				continue
			}
			sizes[n] = size
			if markPartial(frames[n][:size]) {
				partial++
			}
			bytes += uint64(size - h)
			n++
			continue
		}
		used++
		lo := d.Addr
		if d.Len >= 12 && binary.NativeEndian.Uint32(q.umem[lo-xskprog.MetaLen+xskprog.MetaFlags:])&xskprog.MetaVLAN != 0 {
			meta := q.umem[lo-xskprog.MetaLen : lo]
			tpid := [2]byte{meta[xskprog.MetaTPID], meta[xskprog.MetaTPID+1]}
			tci := binary.NativeEndian.Uint16(meta[xskprog.MetaTCI:])
			lo -= 4
			copy(q.umem[lo:lo+12], q.umem[lo+4:lo+16])
			q.umem[lo+12], q.umem[lo+13] = tpid[0], tpid[1]
			binary.BigEndian.PutUint16(q.umem[lo+14:], tci)
		}
		lo -= h
		frameEnd := (d.Addr &^ (q.frameSize - 1)) + q.frameSize
		fr := q.umem[lo:frameEnd:frameEnd]
		dataplane.ClearVnetHdr(fr)
		size := int(end - lo)
		q.lent = append(q.lent, d.Addr)
		if q.shared != nil {
			f := q.frameOf(d.Addr)
			q.holds[f/q.frameSize] = false
			q.fillOwned--
		}
		frames[n], sizes[n] = fr, size
		if markPartial(fr[:size]) {
			partial++
		}
		bytes += uint64(size - h)
		n++
	}
	q.rx.release(used)
	if len(q.back) > 0 {
		fstart, _ := q.fill.reserve(uint32(len(q.back)))
		for i, a := range q.back {
			q.fills[(fstart+uint32(i))&q.fill.mask] = a
		}
		q.fill.submit()
	}
	return n, bytes, bad, partial
}

// copyPiece copies the piece of a received frame that descriptor d
// holds into dst, behind the size bytes of the frame copied so far (the
// first piece behind a virtio-net header, see putFrame), and returns the
// new size. ok false (the frame did not fit, or d points outside the
// UMEM) stays false: the rest of the chain is walked, not copied.
func (q *queue) copyPiece(dst []byte, d desc, first bool, size int, ok bool) (int, bool) {
	end := d.Addr + uint64(d.Len)
	switch {
	case !ok:
	case end > uint64(len(q.umem)):
		ok = false
	case first:
		size, ok = q.putFrame(dst, d.Addr, end)
	case size+int(d.Len) > len(dst):
		ok = false
	default:
		size += copy(dst[size:], q.umem[d.Addr:end])
	}
	return size, ok
}

// copyChain copies the frame whose first descriptor is at RX index
// start+used into dst behind a virtio-net header, as receive does, and
// queues its UMEM frames in back. It returns the frame's length, whether
// it fitted, the RX index past it, and false for whole if the rest of
// the chain is not published yet (then nothing is taken).
func (q *queue) copyChain(dst []byte, start, used, got uint32) (size int, ok bool, next uint32, whole bool) {
	mark := len(q.back)
	ok = true
	i := used
	for {
		if i == got {
			q.back = q.back[:mark]
			return 0, false, used, false
		}
		d := q.rxs[(start+i)&q.rx.mask]
		q.back = append(q.back, q.frameOf(d.Addr))
		size, ok = q.copyPiece(dst, d, i == used, size, ok)
		i++
		if !q.multi || d.Options&xdpPktContd == 0 {
			return size, ok, i, true
		}
	}
}

// giveBack returns the UMEM frames lend handed out to the fill ring,
// clearing the metadata flags in front of each (the virtio-net header
// lend wrote overlaps them), so that the next frame received into it
// does not read a VLAN tag that is not there. It reports whether it
// returned any.
func (q *queue) giveBack() bool {
	if len(q.lent) == 0 {
		return false
	}
	if q.shared != nil {
		q.giveBackShared()
		return true
	}
	// The fill ring has room for every RX frame.
	fstart, _ := q.fill.reserve(uint32(len(q.lent)))
	for i, a := range q.lent {
		binary.NativeEndian.PutUint32(q.umem[a-xskprog.MetaLen+xskprog.MetaFlags:], 0)
		q.fills[(fstart+uint32(i))&q.fill.mask] = q.frameOf(a)
	}
	q.fill.submit()
	q.lent = q.lent[:0]
	return true
}

// frameOf returns the start of the UMEM frame holding addr, always a
// valid frame even for a nonsense address.
func (q *queue) frameOf(addr uint64) uint64 {
	return (addr &^ (q.frameSize - 1)) % uint64(len(q.umem))
}

// reclaim moves the frames the kernel has sent from the completion ring
// back to txFree.
func (q *queue) reclaim() {
	start, got := q.comp.peek(q.comp.size())
	for i := range got {
		f := q.frameOf(q.comps[(start+i)&q.comp.mask])
		n := &q.txLen[f/q.frameSize]
		q.txQueued -= min(uint64(*n), q.txQueued)
		*n = 0
		if q.shared != nil {
			q.completeShared(f)
			continue
		}
		q.txFree = append(q.txFree, f)
	}
	q.comp.release(got)
	if q.shared != nil {
		q.shared.put(q.spill)
		q.spill = q.spill[:0]
	}
}

// queued returns the Ethernet bytes put on the TX ring that the kernel
// has not completed yet, after taking in the completions so far.
func (q *queue) queued() uint64 {
	q.reclaim()
	return q.txQueued
}

// txResult is what transmit did with a batch.
type txResult struct {
	consumed int    // frames taken from the batch (queued or refused)
	queued   int    // frames put on the TX ring
	shared   int    // of which frames of the shared UMEM, not copied
	bytes    uint64 // their Ethernet bytes
	tooLong  uint64 // refused: longer than a UMEM frame
	runts    uint64 // refused: no Ethernet header
	gso      uint64 // refused: a GSO super-frame (see the package doc)
	csumBad  uint64 // refused: checksum offsets outside the frame
}

// transmit copies as many frames of batch (each a virtio-net header and
// an Ethernet frame) as there are free TX frames and TX ring slots into
// the UMEM, completing any partial checksum the header asks for, and
// submits them on the TX ring. Frames it refuses are consumed and
// counted. The caller kicks the kernel and calls again with the rest.
func (q *queue) transmit(batch [][]byte) txResult {
	var r txResult
	q.reclaim()
	room := uint32(len(q.txFree))
	if q.shared != nil {
		room = q.tx.size() // frames come from the UMEM as needed
	}
	start, got := q.tx.reserve(room)
	idx, end := start, start+got
	fs := int(q.frameSize)
	for _, f := range batch {
		if idx == end {
			break
		}
		if len(f) < dataplane.VnetHdrLen+14 {
			r.consumed++
			r.runts++
			continue
		}
		h := dataplane.DecodeVnetHdr(f)
		eth := f[dataplane.VnetHdrLen:]
		need := (len(eth) + fs - 1) / fs
		switch {
		case h.GSOType != dataplane.VnetGSONone:
			r.consumed++
			r.gso++
			continue
		case need > 1 && (!q.multi || need > maxChain):
			r.consumed++
			r.tooLong++
			continue
		case uint32(need) > end-idx:
			goto out // the chain has no room yet
		}
		if q.shared != nil {
			if a, ok := q.inUMEM(eth); ok {
				// A frame of the shared UMEM (lent by a Port's
				// ReadLoan): its descriptor goes on the ring as is.
				r.consumed++
				if h.Flags&dataplane.VnetFlagNeedsCsum != 0 {
					// Completed where it lies, once: the header no
					// longer asks, for the next Port it is written to.
					if !completeChecksum(eth, int(h.CsumStart), int(h.CsumOffset)) {
						r.csumBad++
						continue
					}
					f[0] &^= dataplane.VnetFlagNeedsCsum
				}
				q.post(a, uint32(len(eth)), idx)
				idx++
				r.queued++
				r.shared++
				r.bytes += uint64(len(eth))
				continue
			}
			if len(q.txFree) < need {
				q.txFree = q.shared.take(q.txFree, cap(q.txFree)-len(q.txFree))
				if len(q.txFree) < need {
					goto out // the UMEM has no free frame: wait for completions
				}
			}
		}
		r.consumed++
		var csum uint16
		at := -1
		if h.Flags&dataplane.VnetFlagNeedsCsum != 0 {
			c, ok := partialChecksum(eth, int(h.CsumStart), int(h.CsumOffset))
			if !ok {
				r.csumBad++
				continue
			}
			csum, at = c, int(h.CsumStart)+int(h.CsumOffset)
		}
		for k := range need {
			lo, hi := k*fs, min((k+1)*fs, len(eth))
			addr := q.txFree[len(q.txFree)-1]
			q.txFree = q.txFree[:len(q.txFree)-1]
			buf := q.umem[addr : addr+uint64(hi-lo)]
			copy(buf, eth[lo:hi])
			if at >= 0 {
				// The checksum's two bytes may straddle two pieces.
				if at >= lo && at < hi {
					buf[at-lo] = byte(csum >> 8)
				}
				if at+1 >= lo && at+1 < hi {
					buf[at+1-lo] = byte(csum)
				}
			}
			var opts uint32
			if k < need-1 {
				opts = xdpPktContd
			}
			q.txs[idx&q.tx.mask] = desc{Addr: addr, Len: uint32(hi - lo), Options: opts}
			q.txLen[addr/q.frameSize] = uint32(hi - lo)
			if q.shared != nil {
				q.posted[addr/q.frameSize]++ // the reference take gave
			}
			q.txQueued += uint64(hi - lo)
			idx++
		}
		r.queued++
		r.bytes += uint64(len(eth))
	}
out:
	q.tx.local = idx // give back the slots not used
	q.tx.submit()
	return r
}

// inFlight returns how many TX frames are on the TX or completion ring.
func (q *queue) inFlight() int { return q.txAll - len(q.txFree) }

// completeChecksum fills in the Internet checksum that a frame with
// VIRTIO_NET_HDR_F_NEEDS_CSUM leaves partial: the ones' complement sum
// from start to the end of the frame (which already includes the
// pseudo-header sum at start+offset) goes at start+offset. It reports
// false if the offsets do not fit the frame.
func completeChecksum(eth []byte, start, offset int) bool {
	c, ok := partialChecksum(eth, start, offset)
	if ok {
		binary.BigEndian.PutUint16(eth[start+offset:], c)
	}
	return ok
}

// partialChecksum returns the checksum completeChecksum would put at
// start+offset, leaving eth as it is.
func partialChecksum(eth []byte, start, offset int) (uint16, bool) {
	at := start + offset
	if start < 0 || offset < 0 || at+2 > len(eth) || start > len(eth) {
		return 0, false
	}
	return ^fold(sum(eth[start:], 0)), true
}

// sum adds b to s as big-endian 16-bit words in ones' complement (RFC
// 1071), eight bytes at a time with an end-around carry: the 64-bit sum
// folds to the same 16-bit one.
func sum(b []byte, s uint64) uint64 {
	var c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.BigEndian.Uint64(b), c)
		b = b[8:]
	}
	var tail uint64
	for i, v := range b {
		tail |= uint64(v) << (56 - 8*i)
	}
	s, c = bits.Add64(s, tail, c)
	s, c = bits.Add64(s, c, 0)
	return s + c
}

func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
