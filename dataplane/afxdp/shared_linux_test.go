//go:build linux

package afxdp

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// sharedBed is a forwarder namespace with ports on one shared UMEM: in
// (from the vm namespace's vm0) and outs (each to a peer namespace's
// pN0), and the Ports the test sends from and receives with (their own
// UMEMs).
type sharedBed struct {
	u     *UMEM
	in    *Port
	outs  []*Port
	vm    *Port
	peers []*Port
}

func newSharedBed(t *testing.T, mtu, outs int) *sharedBed {
	nstest.Require(t)
	vm, fwd := newNS(t, "vm"), newNS(t, "fwd")
	nstest.Veth(t, vm, "vm0", fwd, "fi0")
	setMTU := func(ns *nstest.NS, dev string) { ns.MustRun(t, "ip", "link", "set", dev, "mtu", fmt.Sprint(mtu)) }
	setMTU(vm, "vm0")
	setMTU(fwd, "fi0")
	fs := DefaultFrameSize
	if mtu > 1774 {
		fs = 4096
	}
	u, err := NewUMEM(UMEMOptions{FrameSize: fs})
	if err != nil {
		t.Fatal(err)
	}
	b := &sharedBed{u: u}
	b.vm = openIn(t, vm, "vm0", Options{})
	b.in = openIn(t, fwd, "fi0", Options{UMEM: u})
	for i := range outs {
		peer := newNS(t, fmt.Sprintf("peer%d", i))
		fo, pe := fmt.Sprintf("fo%d", i), fmt.Sprintf("p%d0", i)
		nstest.Veth(t, fwd, fo, peer, pe)
		setMTU(fwd, fo)
		setMTU(peer, pe)
		b.outs = append(b.outs, openIn(t, fwd, fo, Options{UMEM: u}))
		b.peers = append(b.peers, openIn(t, peer, pe, Options{}))
	}
	return b
}

// forward reads b.in with ReadLoan and writes every batch to each out
// Port (the team's flood), until in is closed; closing an out Port only
// drops it from the flood.
func (b *sharedBed) forward(t *testing.T) (stop func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		own, sizes := newBatch()
		frames := slices.Clone(own)
		outs := slices.Clone(b.outs)
		for {
			copy(frames, own)
			n, err := b.in.ReadLoan(frames, sizes)
			if err != nil {
				if !errors.Is(err, dataplane.ErrClosed) {
					t.Error(err)
				}
				return
			}
			for i := range n {
				frames[i] = frames[i][:sizes[i]]
			}
			for j := 0; j < len(outs); j++ {
				if _, err := outs[j].Write(frames[:n]); errors.Is(err, dataplane.ErrClosed) {
					outs = slices.Delete(outs, j, j+1)
					j--
				}
			}
			b.in.Release()
		}
	}()
	return func() { b.in.Close(); wg.Wait() }
}

// TestSharedForward: frames of every size up to the MTU, forwarded
// between two Ports of one shared UMEM, arrive intact, sent by
// descriptor (no copy); at MTU 9000 the Ports keep UMEMs of their own
// (a frame spans several) and forward by copying, intact too.
func TestSharedForward(t *testing.T) {
	for _, mtu := range []int{1500, 3000, 9000} {
		t.Run(fmt.Sprint(mtu), func(t *testing.T) {
			b := newSharedBed(t, mtu, 1)
			stop := b.forward(t)
			magic := uint64(0x5ea4_ed00_0000) | uint64(mtu)
			var want [][]byte
			for size := 60; size <= mtu+14; size++ {
				want = append(want, testFrame(b.peers[0].MAC(), b.vm.MAC(), magic, uint32(size), size))
			}
			m := make(map[uint32][]byte)
			var have atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				wd := time.AfterFunc(30*time.Second, func() { b.peers[0].Close() })
				defer wd.Stop()
				frames, sizes := newBatch()
				for len(m) < len(want) {
					n, err := b.peers[0].Read(frames, sizes)
					if err != nil {
						return
					}
					for i := range n {
						f := frames[i][:sizes[i]]
						if id, ok := frameID(dataplane.Eth(f), magic); ok {
							m[id] = bytes.Clone(f)
						}
					}
					have.Store(int64(len(m)))
				}
			}()
			for sent := 0; sent < len(want); sent += 32 {
				for int64(sent)-have.Load() > 128 {
					time.Sleep(100 * time.Microsecond)
				}
				writeAll(t, b.vm, want[sent:min(len(want), sent+32)])
			}
			<-done
			stop()
			for _, w := range want {
				id, _ := frameID(dataplane.Eth(w), magic)
				if g := m[id]; !bytes.Equal(g, w) {
					t.Errorf("frame of %d bytes differs (got %d bytes)", id, len(g))
				}
			}
			so := b.outs[0].Stats()
			if shared := mtu <= 3822; so.SharedUMEM != shared || shared && so.WriteShared != so.WriteFrames || !shared && so.WriteShared != 0 {
				t.Errorf("MTU %d: shared UMEM %v, %d of %d frames sent by descriptor", mtu, so.SharedUMEM, so.WriteShared, so.WriteFrames)
			}
			for _, p := range append(b.outs, b.in) {
				p.Close()
			}
			if b.u.Free() != b.u.numFrames {
				t.Errorf("%d of %d UMEM frames free after the Ports closed", b.u.Free(), b.u.numFrames)
			}
		})
	}
}

// TestSharedFloodMillion floods a million frames from one Port to two of
// one shared UMEM, closing the second under load: the first keeps
// forwarding every frame, intact in content, and once all Ports are
// closed every UMEM frame is free (none leaked by a frame on two TX
// rings, or on the closed Port's).
func TestSharedFloodMillion(t *testing.T) {
	b := newSharedBed(t, 1500, 2)
	stop := b.forward(t)
	const total = 1_000_000
	magic := uint64(0x311_0000)
	var seen, bad atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		frames, sizes := newBatch()
		for seen.Load() < total {
			n, err := b.peers[0].Read(frames, sizes)
			if err != nil {
				return
			}
			for i := range n {
				f := frames[i][:sizes[i]]
				id, ok := frameID(dataplane.Eth(f), magic)
				if !ok {
					continue
				}
				if !bytes.Equal(f, testFrame(b.peers[0].MAC(), b.vm.MAC(), magic, id, 60+int(id%1000))) {
					bad.Add(1)
				}
				seen.Add(1)
			}
		}
	}()
	wd := time.AfterFunc(120*time.Second, func() { b.peers[0].Close() })
	defer wd.Stop()
	batch := make([][]byte, 64)
	for sent := 0; sent < total; sent += len(batch) {
		for i := range batch {
			id := uint32(sent + i)
			batch[i] = testFrame(b.peers[0].MAC(), b.vm.MAC(), magic, id, 60+int(id%1000))
		}
		for int64(sent)-seen.Load() > 512 { // the forwarder's RX ring holds 1024
			time.Sleep(50 * time.Microsecond)
		}
		writeAll(t, b.vm, batch)
		if sent <= total/2 && sent+len(batch) > total/2 {
			if s := b.outs[1].Stats(); s.WriteShared == 0 {
				t.Errorf("fo1 sent no frame by descriptor before its close (%+v)", s)
			}
			b.outs[1].Close()
		}
	}
	<-done
	stop()
	if seen.Load() != total || bad.Load() != 0 {
		t.Errorf("p00 got %d of %d frames, %d differing (fo0 %+v)", seen.Load(), total, bad.Load(), b.outs[0].Stats())
	}
	if s := b.outs[0].Stats(); s.WriteShared != s.WriteFrames || s.WriteFrames != total {
		t.Errorf("fo0 sent %d frames, %d by descriptor; want %d, all", s.WriteFrames, s.WriteShared, total)
	}
	// Every frame the flood left is back with the open Port, fo0 (held
	// for receiving or in its writer's cache) or free.
	q := b.outs[0].tx.q
	q.reclaim()
	var fo0 int
	for _, s := range b.outs[0].socks {
		fo0 += s.q.sharedFrames()
	}
	if free := b.u.Free(); free+fo0 != b.u.numFrames {
		t.Errorf("%d UMEM frames free and %d with fo0, of %d: frames leaked", free, fo0, b.u.numFrames)
	}
	b.outs[0].Close()
	if b.u.Free() != b.u.numFrames {
		t.Errorf("%d of %d UMEM frames free after the Ports closed", b.u.Free(), b.u.numFrames)
	}
}

// TestSharedZeroAllocs: a frame lent on one Port of a shared UMEM and
// sent on another by descriptor costs no allocation.
func TestSharedZeroAllocs(t *testing.T) {
	b := newSharedBed(t, 1500, 1)
	batch := [][]byte{testFrame(b.peers[0].MAC(), b.vm.MAC(), 0xa110c, 1, 60)}
	own, sizes := newBatch()
	frames := slices.Clone(own)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := b.vm.Write(batch); err != nil {
			t.Fatal(err)
		}
		copy(frames, own)
		n, err := b.in.ReadLoan(frames, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			frames[i] = frames[i][:sizes[i]]
		}
		if _, err := b.outs[0].Write(frames[:n]); err != nil {
			t.Fatal(err)
		}
		b.in.Release()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame forwarded by descriptor, want 0", allocs)
	}
	if s := b.outs[0].Stats(); s.WriteShared == 0 {
		t.Errorf("nothing sent by descriptor: %+v", s)
	}
}

// TestSharedForwardTCP runs TCP from a VM namespace (default offloads:
// partial checksums) through two Ports of one shared UMEM, each read
// with ReadLoan and written to the other at once (so each Port's reader
// gives frames back while another goroutine writes on it), and compares
// the data by hash; every frame goes by descriptor.
func TestSharedForwardTCP(t *testing.T) {
	nstest.Require(t)
	vm, fwd, peer := newNS(t, "vm"), newNS(t, "fwd"), newNS(t, "peer")
	nstest.Veth(t, vm, "vm0", fwd, "fa0")
	nstest.Veth(t, fwd, "fb0", peer, "pe0")
	vm.Addr(t, "vm0", "10.98.0.1/24")
	peer.Addr(t, "pe0", "10.98.0.2/24")
	u, err := NewUMEM(UMEMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pa := openIn(t, fwd, "fa0", Options{UMEM: u})
	pb := openIn(t, fwd, "fb0", Options{UMEM: u})
	var wg sync.WaitGroup
	run := func(src, dst *Port) {
		defer wg.Done()
		own, sizes := newBatch()
		frames := slices.Clone(own)
		for {
			copy(frames, own)
			n, err := src.ReadLoan(frames, sizes)
			if err != nil {
				return
			}
			for i := range n {
				frames[i] = frames[i][:sizes[i]]
			}
			_, _ = dst.Write(frames[:n])
			src.Release()
		}
	}
	wg.Add(2)
	go run(pa, pb)
	go run(pb, pa)
	sent, got, n := tcpTransfer(t, vm, peer, "10.98.0.2:5201", 32<<20)
	if sent != got {
		t.Errorf("peer received %d bytes with sha256 %x, VM sent %x", n, got, sent)
	}
	pa.Close()
	pb.Close()
	wg.Wait()
	sa, sb := pa.Stats(), pb.Stats()
	if sa.WriteShared != sa.WriteFrames || sb.WriteShared != sb.WriteFrames || sb.WriteFrames == 0 {
		t.Errorf("frames not sent by descriptor: fa0 %d of %d, fb0 %d of %d", sa.WriteShared, sa.WriteFrames, sb.WriteShared, sb.WriteFrames)
	}
	if sa.Partial == 0 {
		t.Error("no partial checksum seen: the test did not test completing one in place")
	}
	if u.Free() != u.numFrames {
		t.Errorf("%d of %d UMEM frames free after the Ports closed", u.Free(), u.numFrames)
	}
}
