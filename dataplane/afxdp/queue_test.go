package afxdp

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
)

// fakeKernel owns ring memory in plain slices and plays the kernel's
// side of the four rings, so the ring arithmetic and the queue's frame
// bookkeeping run without a socket.
type fakeKernel struct {
	t    *testing.T
	idx  [4][3]uint32 // producer, consumer, flags of fill, rx, tx, comp
	l    layout
	q    *queue
	sent [][]byte // frames taken from the TX ring

	// the kernel's own indexes: consumer of fill and TX, producer of RX
	// and completion
	fillCons, rxProd, txCons, compProd *uint32
}

const (
	rFill = iota
	rRX
	rTX
	rComp
)

// newFake builds a queue of frames frames of size bytes, half of them for
// RX, with every ring index starting at start (to test wrapping).
func newFake(t *testing.T, frames, size int, start uint32) *fakeKernel {
	return newFakeWith(t, frames, size, start, false)
}

// newFakeWith is newFake, with multi-buffer frames when multi is set.
func newFakeWith(t *testing.T, frames, size int, start uint32, multi bool) *fakeKernel {
	k := &fakeKernel{t: t}
	entries := uint32(frames / 2)
	for i := range k.idx {
		k.idx[i][0], k.idx[i][1] = start, start
	}
	mk := func(i int) ring { return newRing(&k.idx[i][0], &k.idx[i][1], &k.idx[i][2], entries) }
	k.l = layout{
		umem: make([]byte, frames*size), frameSize: uint64(size), rxFrames: int(entries),
		fill: mk(rFill), rx: mk(rRX), tx: mk(rTX), comp: mk(rComp),
		fills: make([]uint64, entries), comps: make([]uint64, entries),
		rxs: make([]desc, entries), txs: make([]desc, entries), multi: multi,
	}
	k.fillCons, k.rxProd = &k.idx[rFill][1], &k.idx[rRX][0]
	k.txCons, k.compProd = &k.idx[rTX][1], &k.idx[rComp][0]
	k.q = newQueue(k.l)
	return k
}

// deliver plays a frame arriving: the kernel takes a frame from the fill
// ring, copies eth into it after XDP's headroom and posts it on the RX
// ring. It reports false when the fill ring is empty or the RX ring full
// (the kernel would drop the frame).
func (k *fakeKernel) deliver(eth []byte) bool {
	fillProd, rxCons := k.idx[rFill][0], k.idx[rRX][1]
	if *k.fillCons == fillProd || *k.rxProd-rxCons == uint32(len(k.l.rxs)) {
		return false
	}
	addr := k.l.fills[*k.fillCons&uint32(len(k.l.fills)-1)]
	*k.fillCons++
	if addr%k.l.frameSize != 0 || addr >= uint64(len(k.l.umem)) {
		k.t.Fatalf("fill ring has address %#x, not a frame", addr)
	}
	data := addr + xdpHeadroom
	copy(k.l.umem[data:], eth)
	k.l.rxs[*k.rxProd&uint32(len(k.l.rxs)-1)] = desc{Addr: data, Len: uint32(len(eth))}
	*k.rxProd++
	return true
}

// send plays the kernel sending up to n frames from the TX ring and
// completing them.
func (k *fakeKernel) send(n int) int {
	done := 0
	for ; done < n && *k.txCons != k.idx[rTX][0]; done++ {
		if *k.compProd-k.idx[rComp][1] == uint32(len(k.l.comps)) {
			k.t.Fatalf("completion ring full with a frame to complete")
		}
		d := k.l.txs[*k.txCons&uint32(len(k.l.txs)-1)]
		*k.txCons++
		k.sent = append(k.sent, bytes.Clone(k.l.umem[d.Addr:d.Addr+uint64(d.Len)]))
		k.l.comps[*k.compProd&uint32(len(k.l.comps)-1)] = d.Addr
		*k.compProd++
	}
	return done
}

// rxHeld returns how many RX frames the kernel holds (fill ring and RX
// ring): all of them when the queue has read everything.
func (k *fakeKernel) rxHeld() uint32 {
	return (k.idx[rFill][0] - *k.fillCons) + (*k.rxProd - k.idx[rRX][1])
}

func ethFrame(id uint32, size int) []byte {
	e := make([]byte, size)
	for i := range e {
		e[i] = byte(i + int(id))
	}
	binary.BigEndian.PutUint32(e[14:], id)
	return e
}

func TestRingArithmetic(t *testing.T) {
	for _, start := range []uint32{0, 5, math.MaxUint32 - 2} {
		var prod, cons, flags uint32 = start, start, 0
		r := newRing(&prod, &cons, &flags, 8)
		r.initProducer()
		if got := r.free(); got != 8 {
			t.Fatalf("start %d: free %d on an empty ring, want 8", start, got)
		}
		s, got := r.reserve(5)
		if s != start || got != 5 {
			t.Fatalf("start %d: reserve(5) = %d, %d", start, s, got)
		}
		if prod != start {
			t.Errorf("reserve published the producer index")
		}
		r.submit()
		if prod != start+5 || r.pending() != 5 {
			t.Errorf("after submit: producer %d pending %d", prod, r.pending())
		}
		if _, got := r.reserve(10); got != 3 {
			t.Errorf("start %d: reserve(10) on a ring with 3 free got %d", start, got)
		}
		r.submit()
		if _, got := r.reserve(1); got != 0 || r.free() != 0 {
			t.Errorf("full ring: reserve got %d, free %d", got, r.free())
		}
		// The other side consumes 4: they can be produced again, across
		// the wrap of the uint32 index when start is near it.
		c := newRing(&prod, &cons, &flags, 8)
		c.initConsumer()
		if s, got := c.peek(4); s != start || got != 4 {
			t.Fatalf("peek(4) = %d, %d", s, got)
		}
		c.release(4)
		if cons != start+4 || r.free() != 4 {
			t.Errorf("after release: consumer %d, producer sees %d free", cons, r.free())
		}
		if s, got := c.peek(100); s != start+4 || got != 4 {
			t.Errorf("peek(100) = %d, %d; want the 4 left", s, got)
		}
		flags = xdpRingNeedWakeup
		if !r.needWakeup() {
			t.Errorf("needWakeup false with the flag set")
		}
	}
}

// TestQueueRecyclesRX delivers many times more frames than the UMEM has
// RX frames, with indexes wrapping, and checks each arrives intact behind
// a zero virtio-net header and every RX frame goes back to the kernel.
func TestQueueRecyclesRX(t *testing.T) {
	k := newFake(t, 16, 2048, math.MaxUint32-20)
	if got := k.rxHeld(); got != 8 {
		t.Fatalf("the fill ring holds %d frames after setup, want 8", got)
	}
	frames, sizes := make([][]byte, 5), make([]int, 5)
	for i := range frames {
		frames[i] = bytes.Repeat([]byte{0xee}, 1600)
	}
	id := uint32(0)
	for round := range 200 {
		var want [][]byte
		for k.deliver(ethFrame(id, 60+int(id)%1400)) {
			want = append(want, ethFrame(id, 60+int(id)%1400))
			id++
		}
		if len(want) != 8 {
			t.Fatalf("round %d: kernel took %d frames, want 8 (all RX frames)", round, len(want))
		}
		for len(want) > 0 {
			n, _, bad, _ := k.q.receive(frames, sizes)
			if bad != 0 || n == 0 || n > len(want) {
				t.Fatalf("round %d: receive = %d, bad %d, %d waiting", round, n, bad, len(want))
			}
			for i := range n {
				f := frames[i][:sizes[i]]
				if !bytes.Equal(f[:dataplane.VnetHdrLen], make([]byte, dataplane.VnetHdrLen)) || !bytes.Equal(f[dataplane.VnetHdrLen:], want[i]) {
					t.Fatalf("round %d: frame %d differs", round, i)
				}
			}
			want = want[n:]
		}
		if got := k.rxHeld(); got != 8 {
			t.Fatalf("round %d: kernel holds %d RX frames, want 8: a frame leaked", round, got)
		}
	}
	if n, _, _, _ := k.q.receive(frames, sizes); n != 0 {
		t.Errorf("receive on an empty RX ring = %d", n)
	}
}

func TestQueueReceiveTooBig(t *testing.T) {
	k := newFake(t, 8, 2048, 0)
	k.deliver(ethFrame(1, 1000))
	k.deliver(ethFrame(2, 100))
	frames := [][]byte{make([]byte, 200), make([]byte, 200)}
	sizes := make([]int, 2)
	n, _, bad, _ := k.q.receive(frames, sizes)
	if n != 1 || bad != 1 || sizes[0] != dataplane.VnetHdrLen+100 {
		t.Fatalf("receive = %d, bad %d, sizes %v; want the 100-byte frame and one skipped", n, bad, sizes)
	}
	if k.rxHeld() != 4 {
		t.Errorf("the skipped frame was not given back: kernel holds %d", k.rxHeld())
	}
}

// TestQueueTransmit fills the TX ring past its size while the kernel
// sends slowly: transmit takes what fits, completions free frames again,
// and every frame goes out once, in order, with nothing left in flight.
func TestQueueTransmit(t *testing.T) {
	k := newFake(t, 16, 2048, math.MaxUint32-3)
	var batch, want [][]byte
	for i := range 100 {
		e := ethFrame(uint32(i), 60+i*13)
		want = append(want, e)
		batch = append(batch, append(make([]byte, dataplane.VnetHdrLen), e...))
	}
	for rounds := 0; len(batch) > 0; rounds++ {
		r := k.q.transmit(batch)
		if r.consumed > 8 || r.consumed != r.queued {
			t.Fatalf("transmit consumed %d queued %d with 8 TX frames", r.consumed, r.queued)
		}
		if rounds > 0 && r.consumed == 0 {
			t.Fatalf("no progress after the kernel sent")
		}
		batch = batch[r.consumed:]
		k.send(3) // a slow device
		if rounds > 1000 {
			t.Fatal("stuck")
		}
	}
	for k.send(8) > 0 {
	}
	k.q.reclaim()
	if len(k.sent) != len(want) {
		t.Fatalf("sent %d frames, want %d", len(k.sent), len(want))
	}
	for i := range want {
		if !bytes.Equal(k.sent[i], want[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if k.q.inFlight() != 0 || len(k.q.txFree) != 8 {
		t.Errorf("after completion: %d in flight, %d free; want 0 and 8", k.q.inFlight(), len(k.q.txFree))
	}
}

func TestQueueTransmitRefuses(t *testing.T) {
	gso := make([]byte, dataplane.VnetHdrLen+100)
	dataplane.VnetHdr{GSOType: dataplane.VnetGSOTCPv4, GSOSize: 1448}.Encode(gso)
	badCsum := make([]byte, dataplane.VnetHdrLen+100)
	dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, CsumStart: 90, CsumOffset: 16}.Encode(badCsum)
	ok := append(make([]byte, dataplane.VnetHdrLen), ethFrame(7, 60)...)
	batch := [][]byte{
		make([]byte, dataplane.VnetHdrLen+13),   // runt
		make([]byte, dataplane.VnetHdrLen+2049), // longer than a frame
		gso, badCsum, ok,
	}
	k := newFake(t, 16, 2048, 0)
	r := k.q.transmit(batch)
	want := txResult{consumed: 5, queued: 1, bytes: 60, tooLong: 1, runts: 1, gso: 1, csumBad: 1}
	if r != want {
		t.Errorf("transmit = %+v, want %+v", r, want)
	}
	k.send(8)
	if len(k.sent) != 1 || !bytes.Equal(k.sent[0], ok[dataplane.VnetHdrLen:]) {
		t.Errorf("sent %d frames, want only the good one", len(k.sent))
	}
	k.q.reclaim()
	if k.q.inFlight() != 0 {
		t.Errorf("refused frames leaked TX frames: %d in flight", k.q.inFlight())
	}
}

// TestCompleteChecksum: a UDP/IPv4 frame with the pseudo-header sum in
// its checksum field, as a sender with checksum offload leaves it, gets
// the checksum that makes the receiver's sum come out as 0xffff.
func TestCompleteChecksum(t *testing.T) {
	for _, plen := range []int{0, 1, 7, 8, 9, 100, 1471} {
		f := udpFrame(plen)
		if !completeChecksum(f, 34, 6) {
			t.Fatalf("payload %d: offsets refused", plen)
		}
		// Verify: sum of pseudo-header and UDP segment is all ones.
		udp := f[34:]
		ps := pseudoSum(f[26:34], len(udp))
		if got := fold(sum(udp, ps)); got != 0xffff {
			t.Errorf("payload %d: verification sum %#x, want 0xffff", plen, got)
		}
	}
	if completeChecksum(make([]byte, 40), 34, 6) {
		t.Errorf("offsets past the end accepted")
	}
}

func pseudoSum(addrs []byte, l4len int) uint64 {
	return sum(addrs, 17+uint64(l4len))
}

// udpFrame is Ethernet + IPv4 + UDP with plen payload bytes and the UDP
// checksum field holding the folded pseudo-header sum (CHECKSUM_PARTIAL).
func udpFrame(plen int) []byte {
	f := make([]byte, 14+20+8+plen)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+plen))
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 1234)
	binary.BigEndian.PutUint16(udp[2:], 5678)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+plen))
	for i := range plen {
		udp[8+i] = byte(i*31 + 7)
	}
	binary.BigEndian.PutUint16(udp[6:], fold(pseudoSum(ip[12:20], 8+plen)))
	return f
}

// FuzzTransmit hands transmit arbitrary frames (header included): it
// never panics, never leaks a TX frame, and what it sends is what it was
// given except for a checksum it completed.
func FuzzTransmit(f *testing.F) {
	f.Add(append(make([]byte, dataplane.VnetHdrLen), ethFrame(1, 60)...))
	f.Add(append([]byte{1, 0, 0, 0, 0, 0, 34, 0, 6, 0}, udpFrame(20)...))
	f.Add([]byte{1, 4, 0, 0, 0xa8, 5, 0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Fuzz(func(t *testing.T, frame []byte) {
		k := newFake(t, 8, 2048, 0)
		r := k.q.transmit([][]byte{frame, frame})
		if r.consumed != 2 {
			t.Fatalf("consumed %d of 2", r.consumed)
		}
		k.send(8)
		k.q.reclaim()
		if k.q.inFlight() != 0 {
			t.Fatalf("%d TX frames in flight", k.q.inFlight())
		}
		for _, s := range k.sent {
			if len(s) != len(frame)-dataplane.VnetHdrLen {
				t.Fatalf("sent %d bytes of a %d-byte frame", len(s), len(frame))
			}
		}
	})
}

func TestQueueAllocs(t *testing.T) {
	k := newFake(t, 64, 2048, 0)
	batch := [][]byte{append(make([]byte, dataplane.VnetHdrLen), ethFrame(1, 60)...)}
	frames, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	k.sent = make([][]byte, 0, 1)
	allocs := testing.AllocsPerRun(1000, func() {
		k.q.transmit(batch)
		k.idx[rTX][1] = k.idx[rTX][0] // the kernel sent it...
		d := k.l.txs[(k.idx[rTX][0]-1)&31]
		k.l.comps[k.idx[rComp][0]&31] = d.Addr
		k.idx[rComp][0]++ // ...and completed it
		k.deliver(batch[0][dataplane.VnetHdrLen:])
		k.q.receive(frames, sizes)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame sent and received, want 0", allocs)
	}
}

// deliverTagged plays a frame arriving with its VLAN tag beside it: the
// XDP program's metadata in front of the frame (ebpf/xsk xsk_meta).
func (k *fakeKernel) deliverTagged(eth []byte, tpid, tci uint16) bool {
	fillProd := k.idx[rFill][0]
	if *k.fillCons == fillProd {
		return false
	}
	meta := k.l.fills[*k.fillCons&uint32(len(k.l.fills)-1)] + xdpHeadroom - xskprog.MetaLen
	m := k.l.umem[meta : meta+xskprog.MetaLen]
	binary.NativeEndian.PutUint16(m[xskprog.MetaTCI:], tci)
	binary.BigEndian.PutUint16(m[xskprog.MetaTPID:], tpid)
	binary.NativeEndian.PutUint32(m[xskprog.MetaFlags:], xskprog.MetaVLAN)
	return k.deliver(eth)
}

// TestReceiveVLANMetadata: a tag left in the metadata goes back in after
// the MACs, and is cleared so that the next frame received into the same
// UMEM frame (the ring has two) does not inherit it.
func TestReceiveVLANMetadata(t *testing.T) {
	k := newFake(t, 4, 2048, 0)
	frames := [][]byte{make([]byte, dataplane.MaxFrame)}
	sizes := make([]int, 1)
	for i, tc := range []struct {
		tagged    bool
		tpid, tci uint16
		bufLen    int
	}{
		{true, 0x8100, 7<<13 | 1<<12 | 4094, dataplane.MaxFrame},
		{false, 0, 0, dataplane.MaxFrame},
		{false, 0, 0, dataplane.MaxFrame}, // into the first frame again
		{true, 0x88a8, 10, dataplane.MaxFrame},
		{true, 0x8100, 10, dataplane.VnetHdrLen + 100 + 3}, // the tag does not fit
		{false, 0, 0, dataplane.MaxFrame},
		{false, 0, 0, dataplane.MaxFrame}, // into the frame of the skipped one
	} {
		eth := ethFrame(uint32(i), 100)
		frames[0] = frames[0][:tc.bufLen]
		if tc.tagged {
			k.deliverTagged(eth, tc.tpid, tc.tci)
		} else {
			k.deliver(eth)
		}
		n, _, bad, _ := k.q.receive(frames, sizes)
		if tc.bufLen < dataplane.MaxFrame {
			if n != 0 || bad != 1 {
				t.Errorf("frame %d: n %d bad %d, want it skipped", i, n, bad)
			}
			continue
		}
		want := eth
		if tc.tagged {
			want = append(append(append([]byte{}, eth[:12]...), byte(tc.tpid>>8), byte(tc.tpid), byte(tc.tci>>8), byte(tc.tci)), eth[12:]...)
		}
		if n != 1 || !bytes.Equal(frames[0][dataplane.VnetHdrLen:sizes[0]], want) {
			t.Errorf("frame %d: got %x, want %x", i, frames[0][dataplane.VnetHdrLen:sizes[0]], want)
		}
	}
	eth := ethFrame(1, 100)
	if a := testing.AllocsPerRun(100, func() {
		k.deliverTagged(eth, 0x8100, 5)
		k.q.receive(frames[:1], sizes)
	}); a != 0 {
		t.Errorf("%v allocations per tagged frame", a)
	}
}

// TestQueueQueued: the bytes reported queued are those of the frames on
// the TX ring that the kernel has not completed, frame by frame, and
// nothing once all are back (what dataplane.TxQueuer reports).
func TestQueueQueued(t *testing.T) {
	k := newFake(t, 16, 2048, math.MaxUint32-3)
	var batch [][]byte
	var lens []uint64
	for i := range 6 {
		e := ethFrame(uint32(i), 100+i*10)
		batch = append(batch, append(make([]byte, dataplane.VnetHdrLen), e...))
		lens = append(lens, uint64(len(e)))
	}
	if got := k.q.queued(); got != 0 {
		t.Fatalf("queued before any write: %d", got)
	}
	r := k.q.transmit(batch)
	if r.queued != 6 {
		t.Fatalf("queued %d frames, want 6", r.queued)
	}
	want := uint64(0)
	for _, n := range lens {
		want += n
	}
	if got := k.q.queued(); got != want {
		t.Fatalf("queued %d bytes before the kernel sent, want %d", got, want)
	}
	for sent := 0; sent < 6; {
		sent += k.send(2)
		want -= lens[sent-2] + lens[sent-1]
		if got := k.q.queued(); got != want {
			t.Fatalf("after %d sent: queued %d bytes, want %d", sent, got, want)
		}
	}
	// A refused frame (a runt) leaves nothing queued.
	k.q.transmit([][]byte{make([]byte, dataplane.VnetHdrLen+4)})
	if got := k.q.queued(); got != 0 {
		t.Errorf("queued %d bytes after everything completed", got)
	}
}

// deliverChain plays a long frame arriving on a multi-buffer socket: the
// kernel fills as many frames as it takes, each after XDP's headroom, and
// posts their descriptors, all but the last marked XDP_PKT_CONTD; with
// publish false it writes them without moving the RX producer index.
func (k *fakeKernel) deliverChain(eth []byte, publish bool) {
	k.t.Helper()
	room := int(k.l.frameSize) - xdpHeadroom
	prod := *k.rxProd
	for len(eth) > 0 {
		if *k.fillCons == k.idx[rFill][0] {
			k.t.Fatal("fill ring empty in the middle of a chain")
		}
		addr := k.l.fills[*k.fillCons&uint32(len(k.l.fills)-1)] + xdpHeadroom
		*k.fillCons++
		n := min(room, len(eth))
		copy(k.l.umem[addr:], eth[:n])
		eth = eth[n:]
		var opts uint32
		if len(eth) > 0 {
			opts = xdpPktContd
		}
		k.l.rxs[prod&uint32(len(k.l.rxs)-1)] = desc{Addr: addr, Len: uint32(n), Options: opts}
		prod++
	}
	if publish {
		*k.rxProd = prod
	}
}

// sendChains plays the kernel sending everything on the TX ring of a
// multi-buffer socket, joining chains into frames.
func (k *fakeKernel) sendChains() {
	var cur []byte
	for *k.txCons != k.idx[rTX][0] {
		d := k.l.txs[*k.txCons&uint32(len(k.l.txs)-1)]
		*k.txCons++
		if d.Len > uint32(k.l.frameSize) || d.Addr%k.l.frameSize != 0 {
			k.t.Fatalf("TX descriptor %+v does not fit its frame", d)
		}
		cur = append(cur, k.l.umem[d.Addr:d.Addr+uint64(d.Len)]...)
		if d.Options&xdpPktContd == 0 {
			k.sent = append(k.sent, cur)
			cur = nil
		}
		k.l.comps[*k.compProd&uint32(len(k.l.comps)-1)] = d.Addr
		*k.compProd++
	}
	if cur != nil {
		k.t.Fatalf("TX ring ends in the middle of a chain (%d bytes)", len(cur))
	}
}

// TestQueueMultiBuffer: with multi-buffer, chains of RX descriptors are
// joined into one frame each (a chain not fully published waits, a batch
// smaller than the descriptors takes whole frames), every UMEM frame goes
// back to the fill ring, and long frames are sent as chains with a
// partial checksum completed across a piece boundary.
func TestQueueMultiBuffer(t *testing.T) {
	k := newFakeWith(t, 64, 2048, math.MaxUint32-5, true)
	sizes := []int{60, 1792, 1793, 5000, 9014, 3584}
	var want [][]byte
	for i, n := range sizes {
		want = append(want, ethFrame(uint32(i), n))
		k.deliverChain(want[i], true)
	}
	k.deliverChain(ethFrame(99, 4000), false) // not published yet
	frames, lens := make([][]byte, 4), make([]int, 4)
	for i := range frames {
		frames[i] = make([]byte, dataplane.MaxFrame)
	}
	var got [][]byte
	for len(got) < len(want) {
		n, _, bad, _ := k.q.receive(frames, lens)
		if n == 0 || bad != 0 {
			t.Fatalf("receive: %d frames, %d bad, after %d of %d", n, bad, len(got), len(want))
		}
		for i := range n {
			got = append(got, bytes.Clone(dataplane.Eth(frames[i][:lens[i]])))
		}
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d of %d bytes: got %d bytes, differs", i, len(want[i]), len(got[i]))
		}
	}
	if n, _, _, _ := k.q.receive(frames, lens); n != 0 {
		t.Errorf("an unpublished chain was read (%d frames)", n)
	}
	*k.rxProd += 3 // the kernel publishes the chain of 4000 bytes
	if n, _, _, _ := k.q.receive(frames, lens); n != 1 || !bytes.Equal(dataplane.Eth(frames[0][:lens[0]]), ethFrame(99, 4000)) {
		t.Errorf("the chain once published: %d frames", n)
	}
	if held := k.rxHeld(); held != k.q.fill.size() {
		t.Errorf("the kernel holds %d RX frames, want all %d", held, k.q.fill.size())
	}

	// Send: a frame of 5000 bytes whose partial checksum field straddles
	// the first 2048-byte piece's end, a short one, a too-long one.
	long := make([]byte, dataplane.VnetHdrLen+5000)
	copy(dataplane.Eth(long), ethFrame(7, 5000))
	h := dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, CsumStart: 1000, CsumOffset: 1047}
	h.Encode(long)
	wantLong := bytes.Clone(dataplane.Eth(long))
	if !completeChecksum(wantLong, 1000, 1047) {
		t.Fatal("completeChecksum refused the offsets")
	}
	short := append(make([]byte, dataplane.VnetHdrLen), ethFrame(8, 100)...)
	tooLong := make([]byte, dataplane.VnetHdrLen+(maxChain+1)*2048)
	r := k.q.transmit([][]byte{long, short, tooLong})
	if r.consumed != 3 || r.queued != 2 || r.tooLong != 1 {
		t.Fatalf("transmit: %+v, want 3 consumed, 2 queued, 1 too long", r)
	}
	k.sendChains()
	if len(k.sent) != 2 || !bytes.Equal(k.sent[0], wantLong) || !bytes.Equal(k.sent[1], dataplane.Eth(short)) {
		t.Errorf("sent %d frames; the long one matches: %v", len(k.sent), len(k.sent) > 0 && bytes.Equal(k.sent[0], wantLong))
	}
	k.q.reclaim()
	if k.q.inFlight() != 0 {
		t.Errorf("%d TX frames still in flight", k.q.inFlight())
	}
}
