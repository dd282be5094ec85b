package afxdp

import (
	"bytes"
	"math"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// TestQueueLend delivers many times more frames than the UMEM has RX
// frames, with indexes wrapping, and lends them: each lies in its UMEM
// frame behind a zero virtio-net header, with room behind it for a
// pushed tag (pushed here, in place, as the team does); the UMEM frames
// stay out of the fill ring until giveBack, and all go back then.
func TestQueueLend(t *testing.T) {
	k := newFake(t, 16, 2048, math.MaxUint32-20)
	own := make([][]byte, 5)
	for i := range own {
		own[i] = make([]byte, dataplane.MaxFrame)
	}
	frames, sizes := make([][]byte, 5), make([]int, 5)
	id := uint32(0)
	for round := range 200 {
		var want [][]byte
		for k.deliver(ethFrame(id, 60+int(id)%1500)) {
			want = append(want, ethFrame(id, 60+int(id)%1500))
			id++
		}
		if len(want) != 8 {
			t.Fatalf("round %d: kernel took %d frames, want 8", round, len(want))
		}
		for len(want) > 0 {
			copy(frames, own)
			n, _, bad, _ := k.q.lend(frames, sizes)
			if bad != 0 || n == 0 || n > len(want) {
				t.Fatalf("round %d: lend = %d, bad %d, %d waiting", round, n, bad, len(want))
			}
			if held := k.rxHeld(); held != 8-uint32(len(k.q.lent)) {
				t.Fatalf("round %d: kernel holds %d RX frames with %d lent", round, held, len(k.q.lent))
			}
			for i := range n {
				f := frames[i][:sizes[i]]
				if &frames[i][0] == &own[i][0] {
					t.Fatalf("round %d: frame %d was copied, not lent", round, i)
				}
				if !bytes.Equal(f[:dataplane.VnetHdrLen], make([]byte, dataplane.VnetHdrLen)) || !bytes.Equal(dataplane.Eth(f), want[i]) {
					t.Fatalf("round %d: frame %d differs", round, i)
				}
				pushed, ok := frame.PushTag(f, 100)
				if !ok || len(pushed) != len(f)+frame.TagLen {
					t.Fatalf("round %d: no room to push a tag on a lent frame of %d bytes", round, len(f))
				}
			}
			want = want[n:]
			if !k.q.giveBack() {
				t.Fatalf("round %d: giveBack returned nothing", round)
			}
		}
		if got := k.rxHeld(); got != 8 {
			t.Fatalf("round %d: kernel holds %d RX frames, want 8: a frame leaked", round, got)
		}
	}
	if k.q.giveBack() {
		t.Error("giveBack with nothing lent returned frames")
	}
}

// TestQueueLendVLAN: a tag the program left in the metadata is put back
// after the MACs in place (the MACs move into the headroom), and the
// metadata's flags are cleared when the frame is given back, so the next
// frame received into that UMEM frame is not tagged.
func TestQueueLendVLAN(t *testing.T) {
	k := newFake(t, 4, 2048, 0) // two RX frames: every other frame reuses one
	frames, sizes := make([][]byte, 1), make([]int, 1)
	own := make([]byte, dataplane.MaxFrame)
	for i, tagged := range []bool{true, false, false, true, false, false} {
		eth := ethFrame(uint32(i), 100)
		const tpid, tci = 0x8100, 5<<13 | 42
		want := eth
		if tagged {
			k.deliverTagged(eth, tpid, tci)
			want = append(append(bytes.Clone(eth[:12]), tpid>>8, tpid&0xff, tci>>8, tci&0xff), eth[12:]...)
		} else {
			k.deliver(eth)
		}
		frames[0] = own
		if n, _, _, _ := k.q.lend(frames, sizes); n != 1 || !bytes.Equal(dataplane.Eth(frames[0][:sizes[0]]), want) {
			t.Errorf("frame %d (tagged %v): got %x, want %x", i, tagged, dataplane.Eth(frames[0][:sizes[0]]), want)
		}
		k.q.giveBack()
	}
}

// TestQueueLendChains: with multi-buffer, a chain is copied into the
// caller's buffer (a lent frame is one UMEM frame), a single-descriptor
// frame beside it is lent, and every UMEM frame goes back to the fill
// ring: the chains' at once, the lent ones at giveBack.
func TestQueueLendChains(t *testing.T) {
	k := newFakeWith(t, 64, 2048, math.MaxUint32-5, true)
	lens := []int{60, 5000, 1500, 9014}
	var want [][]byte
	for i, n := range lens {
		want = append(want, ethFrame(uint32(i), n))
		k.deliverChain(want[i], true)
	}
	own := make([][]byte, 4)
	for i := range own {
		own[i] = make([]byte, dataplane.MaxFrame)
	}
	frames, sizes := make([][]byte, 4), make([]int, 4)
	copy(frames, own)
	n, _, bad, _ := k.q.lend(frames, sizes)
	if n != 4 || bad != 0 {
		t.Fatalf("lend: %d frames, %d bad; want 4, 0", n, bad)
	}
	for i := range want {
		lent := &frames[i][0] != &own[i][0]
		if lent != (lens[i] <= 2048-xdpHeadroom) {
			t.Errorf("frame %d of %d bytes: lent %v", i, lens[i], lent)
		}
		if !bytes.Equal(dataplane.Eth(frames[i][:sizes[i]]), want[i]) {
			t.Errorf("frame %d of %d bytes differs", i, lens[i])
		}
	}
	if held, all := k.rxHeld(), k.q.fill.size(); held != all-2 {
		t.Errorf("kernel holds %d of %d RX frames with 2 lent", held, all)
	}
	k.q.giveBack()
	if held, all := k.rxHeld(), k.q.fill.size(); held != all {
		t.Errorf("kernel holds %d of %d RX frames after giveBack", held, all)
	}
}

func TestQueueLendAllocs(t *testing.T) {
	k := newFake(t, 64, 2048, 0)
	eth := ethFrame(1, 60)
	own := [][]byte{make([]byte, 2048)}
	frames, sizes := make([][]byte, 1), []int{0}
	allocs := testing.AllocsPerRun(1000, func() {
		k.deliver(eth)
		copy(frames, own)
		k.q.lend(frames, sizes)
		k.q.giveBack()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame lent, want 0", allocs)
	}
}
