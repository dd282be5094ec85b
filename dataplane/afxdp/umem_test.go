package afxdp

import (
	"bytes"
	"math"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
)

// newSharedUMEM returns a UMEM of frames frames of 2 KiB in plain memory.
func newSharedUMEM(t *testing.T, frames int) *UMEM {
	u, err := NewUMEM(UMEMOptions{NumFrames: frames})
	if err != nil {
		t.Fatal(err)
	}
	if err := u.use(func(n int) ([]byte, error) { return make([]byte, n), nil }); err != nil {
		t.Fatal(err)
	}
	return u
}

// newFakeShared is newFake for a socket on shared UMEM u, with rings of
// entries entries starting at start.
func newFakeShared(t *testing.T, u *UMEM, entries int, start uint32) *fakeKernel {
	k := &fakeKernel{t: t}
	for i := range k.idx {
		k.idx[i][0], k.idx[i][1] = start, start
	}
	mk := func(i int) ring { return newRing(&k.idx[i][0], &k.idx[i][1], &k.idx[i][2], uint32(entries)) }
	k.l = layout{
		umem: u.mem, frameSize: u.frameSize, shared: u,
		fill: mk(rFill), rx: mk(rRX), tx: mk(rTX), comp: mk(rComp),
		fills: make([]uint64, entries), comps: make([]uint64, entries),
		rxs: make([]desc, entries), txs: make([]desc, entries),
	}
	k.fillCons, k.rxProd = &k.idx[rFill][1], &k.idx[rRX][0]
	k.txCons, k.compProd = &k.idx[rTX][1], &k.idx[rComp][0]
	k.q = newQueue(k.l)
	return k
}

// accounted checks that every frame of u is free or held by one of the
// queues (for receiving, on a TX ring, lent, cached), and that a frame
// held for receiving or cached is nowhere else.
func accounted(t *testing.T, u *UMEM, ks ...*fakeKernel) {
	t.Helper()
	seen := make([]int, u.numFrames) // exclusive holders
	used := make([]bool, u.numFrames)
	u.mu.Lock()
	for _, f := range u.free {
		seen[f/u.frameSize]++
	}
	u.mu.Unlock()
	for _, k := range ks {
		for i := range k.q.holds {
			if k.q.holds[i] {
				seen[i]++
			}
			if k.q.posted[i] > 0 {
				used[i] = true
			}
		}
		for _, a := range k.q.lent {
			used[k.q.frameOf(a)/u.frameSize] = true
		}
		for _, f := range k.q.txFree {
			seen[f/u.frameSize]++
		}
	}
	for i := range seen {
		if seen[i] > 1 || seen[i] == 1 && used[i] || seen[i] == 0 && !used[i] {
			t.Errorf("frame %d: %d exclusive holders, lent or on a TX ring %v: leaked or held twice", i, seen[i], used[i])
		}
	}
}

// TestSharedFlood lends a frame received on one socket and writes it to
// two others: both TX rings carry its descriptor (no copy), and it goes
// back to the UMEM only when the loan is released and both rings have
// completed it, in any order.
func TestSharedFlood(t *testing.T) {
	for _, order := range [][3]string{{"release", "b", "c"}, {"b", "release", "c"}, {"c", "b", "release"}} {
		t.Run(order[0]+"-"+order[1]+"-"+order[2], func(t *testing.T) {
			u := newSharedUMEM(t, 64)
			a := newFakeShared(t, u, 8, math.MaxUint32-1)
			b := newFakeShared(t, u, 8, 7)
			c := newFakeShared(t, u, 8, 0)
			accounted(t, u, a, b, c)
			eth := ethFrame(1, 300)
			a.deliver(eth)
			frames, sizes := [][]byte{make([]byte, dataplane.MaxFrame)}, []int{0}
			if n, _, _, _ := a.q.lend(frames, sizes); n != 1 {
				t.Fatal("nothing lent")
			}
			fr := frames[0][:sizes[0]]
			addr, ok := a.q.inUMEM(dataplane.Eth(fr))
			if !ok {
				t.Fatal("lent frame not in the UMEM")
			}
			for _, k := range []*fakeKernel{b, c} {
				if r := k.q.transmit([][]byte{fr}); r.queued != 1 {
					t.Fatalf("transmit: %+v", r)
				}
				if d := k.l.txs[(k.idx[rTX][0]-1)&7]; d.Addr != addr || d.Len != uint32(len(eth)) {
					t.Errorf("TX descriptor %+v, want the lent frame at %#x, %d bytes", d, addr, len(eth))
				}
			}
			f := a.q.frameOf(addr)
			for _, step := range order {
				switch step {
				case "release":
					a.q.giveBack()
				case "b":
					b.send(1)
					b.q.reclaim()
				case "c":
					c.send(1)
					c.q.reclaim()
				}
				accounted(t, u, a, b, c)
			}
			for _, k := range []*fakeKernel{b, c} {
				if !bytes.Equal(k.sent[0], eth) {
					t.Errorf("sent %x, want %x", k.sent[0], eth)
				}
			}
			// Done with by all: on a's fill ring, in a writer's
			// cache or free (accounted checked it is in one only).
			if b.q.posted[f/u.frameSize]+c.q.posted[f/u.frameSize] != 0 || len(a.q.lent) != 0 {
				t.Errorf("frame still posted (%d, %d) or lent (%d)", b.q.posted[f/u.frameSize], c.q.posted[f/u.frameSize], len(a.q.lent))
			}
		})
	}
}

// TestSharedExhaustion: with every frame of the UMEM taken, transmit
// stops (the frames wait, nothing is refused), and completions let it
// go on; frames of the UMEM itself still go out without a free frame.
func TestSharedExhaustion(t *testing.T) {
	u := newSharedUMEM(t, 64)
	a := newFakeShared(t, u, 32, 0) // holds 32 for receiving
	b := newFakeShared(t, u, 32, 0) // the other 32
	if u.Free() != 0 {
		t.Fatalf("%d frames free, want 0", u.Free())
	}
	own := append(make([]byte, dataplane.VnetHdrLen), ethFrame(9, 100)...)
	if r := b.q.transmit([][]byte{own}); r.consumed != 0 {
		t.Fatalf("transmit with no free frame: %+v, want nothing consumed", r)
	}
	// A frame received on a, lent, goes out on b all the same.
	a.deliver(ethFrame(1, 100))
	frames, sizes := [][]byte{make([]byte, dataplane.MaxFrame)}, []int{0}
	a.q.lend(frames, sizes)
	if r := b.q.transmit([][]byte{frames[0][:sizes[0]]}); r.queued != 1 {
		t.Fatalf("transmit of a lent frame: %+v", r)
	}
	b.send(1)
	a.q.giveBack()
	accounted(t, u, a, b)
	// b's completion frees that frame into b's cache: the copy goes.
	if r := b.q.transmit([][]byte{own}); r.queued != 1 {
		t.Fatalf("transmit after a completion: %+v", r)
	}
	b.send(1)
	b.q.reclaim()
	accounted(t, u, a, b)
	if len(b.sent) != 2 || !bytes.Equal(b.sent[1], dataplane.Eth(own)) {
		t.Errorf("sent %d frames", len(b.sent))
	}
}

// TestSharedForwardWrap forwards many times the UMEM's frames between
// two sockets both ways, lent and copied, with ring indexes wrapping and
// completions late: every frame arrives intact, and at the end every
// frame of the UMEM is accounted for, and all are free once the sockets
// are dropped.
func TestSharedForwardWrap(t *testing.T) {
	u := newSharedUMEM(t, 128)
	a := newFakeShared(t, u, 16, math.MaxUint32-9)
	b := newFakeShared(t, u, 16, math.MaxUint32-3)
	own := make([][]byte, 8)
	for i := range own {
		own[i] = make([]byte, dataplane.MaxFrame)
	}
	frames, sizes := make([][]byte, 8), make([]int, 8)
	id := uint32(0)
	for round := range 300 {
		from, to := a, b
		if round%2 == 1 {
			from, to = b, a
		}
		var want [][]byte
		for range 1 + round%8 {
			e := ethFrame(id, 60+int(id*7)%1400)
			if !from.deliver(e) {
				break
			}
			want = append(want, e)
			id++
		}
		copy(frames, own)
		n, _, _, _ := from.q.lend(frames, sizes)
		if n != len(want) {
			t.Fatalf("round %d: lent %d, want %d", round, n, len(want))
		}
		batch := make([][]byte, n)
		for i := range n {
			batch[i] = frames[i][:sizes[i]]
		}
		if round%3 == 0 {
			// A copied frame too (not in the UMEM).
			batch = append(batch, append(make([]byte, dataplane.VnetHdrLen), ethFrame(1<<20+id, 80)...))
			want = append(want, ethFrame(1<<20+id, 80))
		}
		if r := to.q.transmit(batch); r.queued != len(batch) {
			t.Fatalf("round %d: transmit %+v of %d", round, r, len(batch))
		}
		if round%4 == 0 {
			from.q.giveBack() // release before the completion
		}
		to.sent = to.sent[:0]
		to.send(len(batch))
		if round%4 != 0 {
			from.q.giveBack()
		}
		for i, w := range want {
			if !bytes.Equal(to.sent[i], w) {
				t.Fatalf("round %d: frame %d differs", round, i)
			}
		}
		if round%5 != 0 {
			to.q.reclaim() // sometimes late
		}
		accounted(t, u, a, b)
	}
	a.q.reclaim()
	b.q.reclaim()
	accounted(t, u, a, b)
	a.q.drop()
	b.q.drop()
	if u.Free() != u.numFrames {
		t.Errorf("%d of %d frames free after the sockets closed", u.Free(), u.numFrames)
	}
}

func TestSharedAllocs(t *testing.T) {
	u := newSharedUMEM(t, 256)
	a := newFakeShared(t, u, 32, 0)
	b := newFakeShared(t, u, 32, 0)
	eth := ethFrame(1, 60)
	own := [][]byte{make([]byte, 2048)}
	frames, sizes := make([][]byte, 1), []int{0}
	allocs := testing.AllocsPerRun(1000, func() {
		a.deliver(eth)
		copy(frames, own)
		n, _, _, _ := a.q.lend(frames, sizes)
		frames[0] = frames[0][:sizes[0]]
		b.q.transmit(frames[:n])
		*b.txCons = b.idx[rTX][0] // the kernel sent it...
		d := b.l.txs[(b.idx[rTX][0]-1)&31]
		b.l.comps[b.idx[rComp][0]&31] = d.Addr
		b.idx[rComp][0]++ // ...and completed it
		a.q.giveBack()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame forwarded on a shared UMEM, want 0", allocs)
	}
}

// TestSharedReadWhileWrite runs a socket's reader (lend, giveBack) and
// its writer (transmit of the frames another socket lent, completions)
// in two goroutines at once, as a Port's reader goroutine and another
// Port's forwarding run (go test -race sees any state they share), and
// checks that no frame is lost: two lists of frames to give back, one
// shared by both, lost frames until the UMEM ran dry.
func TestSharedReadWhileWrite(t *testing.T) {
	u := newSharedUMEM(t, 256)
	a := newFakeShared(t, u, 32, 0)
	b := newFakeShared(t, u, 32, 0)
	const rounds = 3000
	done := make(chan struct{})
	go func() { // a's reader
		defer close(done)
		frames, sizes := [][]byte{make([]byte, dataplane.MaxFrame)}, []int{0}
		for i := range rounds {
			a.deliver(ethFrame(uint32(i), 100))
			if n, _, _, _ := a.q.lend(frames, sizes); n != 1 {
				t.Errorf("a: nothing lent in round %d", i)
				return
			}
			a.q.giveBack()
		}
	}()
	// The writer of a sends what b lends, on this goroutine; b's reader
	// too (b's state is this goroutine's only).
	frames, sizes := [][]byte{make([]byte, dataplane.MaxFrame)}, []int{0}
	for i := range rounds {
		b.deliver(ethFrame(uint32(i), 200))
		if n, _, _, _ := b.q.lend(frames, sizes); n != 1 {
			t.Fatalf("b: nothing lent in round %d", i)
		}
		if r := a.q.transmit([][]byte{frames[0][:sizes[0]]}); r.queued != 1 {
			t.Fatalf("a: transmit %+v in round %d", r, i)
		}
		b.q.giveBack()
		a.send(1)
		a.sent = a.sent[:0]
	}
	<-done
	a.q.reclaim()
	accounted(t, u, a, b)
}
