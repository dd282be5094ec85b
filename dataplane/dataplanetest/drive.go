package dataplanetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
)

// StatPort is a real Port (afpacket, afxdp) whose counters the helpers
// below show when they fail.
type StatPort[S any] interface {
	dataplane.Port
	Stats() S
}

// Collect reads from p until it has want test frames (see Frame) marked
// with magic, keyed by id, copying each (virtio header included). Other
// frames are ignored; a frame read twice is an error. A watchdog closes p
// if that takes longer than timeout, which unblocks Read and fails the
// test.
func Collect[S any, P StatPort[S]](t testing.TB, p P, magic uint64, want int, timeout time.Duration) map[uint32][]byte {
	t.Helper()
	got := make(map[uint32][]byte)
	read := readUntil(t, p, want, timeout, func() int { return len(got) })
	for f := range read {
		if id, ok := FrameID(dataplane.Eth(f), magic); ok {
			if _, dup := got[id]; dup {
				t.Errorf("%s: frame %d read twice", p.Name(), id)
			}
			got[id] = bytes.Clone(f)
		}
	}
	return got
}

// CollectOrdered is Collect that returns the frames in the order they
// were read.
func CollectOrdered[S any, P StatPort[S]](t testing.TB, p P, magic uint64, want int, timeout time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	for f := range readUntil(t, p, want, timeout, func() int { return len(got) }) {
		if _, ok := FrameID(dataplane.Eth(f), magic); ok {
			got = append(got, bytes.Clone(f))
		}
	}
	return got
}

// readUntil yields every frame read from p until have() reaches want,
// failing the test on a read error or when timeout passes (a watchdog
// then closes p).
func readUntil[S any, P StatPort[S]](t testing.TB, p P, want int, timeout time.Duration, have func() int) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		t.Helper()
		var expired atomic.Bool
		wd := time.AfterFunc(timeout, func() {
			expired.Store(true)
			p.Close()
		})
		defer wd.Stop()
		frames, sizes := NewBatch()
		for have() < want {
			n, err := p.Read(frames, sizes)
			if err != nil {
				if expired.Load() {
					t.Fatalf("%s: got %d of %d frames after %v (stats %+v)", p.Name(), have(), want, timeout, p.Stats())
				}
				t.Fatalf("%s: read: %v (stats %+v)", p.Name(), err, p.Stats())
			}
			for i := range n {
				if !yield(frames[i][:sizes[i]]) {
					return
				}
			}
		}
	}
}

// WriteAll writes frames in batches and fails the test unless all are
// accepted.
func WriteAll[S any, P StatPort[S]](t testing.TB, p P, frames [][]byte) {
	t.Helper()
	for len(frames) > 0 {
		b := frames[:min(len(frames), dataplane.BatchSize)]
		frames = frames[len(b):]
		n, err := p.Write(b)
		if err != nil || n != len(b) {
			t.Fatalf("%s: write: %d of %d accepted: %v (stats %+v)", p.Name(), n, len(b), err, p.Stats())
		}
	}
}

// Forwarder copies frames between two Ports in both directions, the way
// the team's data path does, and counts what it carried.
type Forwarder struct {
	GSO     atomic.Int64 // frames read with a GSO type in the header
	MaxSize atomic.Int64 // largest frame read
	wg      sync.WaitGroup
	errs    chan error
}

// Forward starts a Forwarder between a and b. At the end of the test it
// closes both Ports, waits for the copying to stop and reports any error
// but dataplane.ErrClosed; if the test failed, it logs both Ports'
// counters.
func Forward[S any, P StatPort[S]](t testing.TB, a, b P) *Forwarder {
	f := &Forwarder{errs: make(chan error, 2)}
	f.wg.Add(2)
	go f.run(a, b)
	go f.run(b, a)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("forwarder: %s %+v; %s %+v", a.Name(), a.Stats(), b.Name(), b.Stats())
		}
		a.Close()
		b.Close()
		f.wg.Wait()
		close(f.errs)
		for err := range f.errs {
			t.Error(err)
		}
	})
	return f
}

func (f *Forwarder) run(src, dst dataplane.Port) {
	defer f.wg.Done()
	frames, sizes := NewBatch()
	out := make([][]byte, len(frames))
	for {
		n, err := src.Read(frames, sizes)
		if err != nil {
			if !errors.Is(err, dataplane.ErrClosed) {
				f.errs <- fmt.Errorf("read %s: %w", src.Name(), err)
			}
			return
		}
		for i := range n {
			out[i] = frames[i][:sizes[i]]
			if dataplane.DecodeVnetHdr(out[i]).GSOType != dataplane.VnetGSONone {
				f.GSO.Add(1)
			}
			for {
				m := f.MaxSize.Load()
				if int64(sizes[i]) <= m || f.MaxSize.CompareAndSwap(m, int64(sizes[i])) {
					break
				}
			}
		}
		if _, err := dst.Write(out[:n]); err != nil {
			if !errors.Is(err, dataplane.ErrClosed) {
				f.errs <- fmt.Errorf("write %s: %w", dst.Name(), err)
			}
			return
		}
	}
}
