//go:build linux

package afpacket

import (
	"errors"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
)

// TestReady checks the readiness check on real sockets: false on an
// empty ring, true once a frame sent from the peer arrives, false again
// after Read drained it, true after Close (Read would not block); it
// allocates nothing.
func TestReady(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	if pb.Ready() {
		t.Fatal("Ready on an empty ring")
	}
	if allocs := testing.AllocsPerRun(100, func() { pb.Ready() }); allocs != 0 {
		t.Errorf("Ready: %v allocations, want 0", allocs)
	}
	const magic = 0x4eadf
	frames, sizes := newBatch()
	for i := range 3 {
		writeAll(t, pa, [][]byte{testFrame(pb.MAC(), pa.MAC(), magic, uint32(i), 60)})
		deadline := time.Now().Add(5 * time.Second)
		for !pb.Ready() {
			if time.Now().After(deadline) {
				t.Fatalf("frame %d: Ready still false 5 s after it was sent (stats %+v)", i, pb.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		n, err := pb.Read(frames, sizes)
		if err != nil || n != 1 {
			t.Fatalf("frame %d: Read after Ready = %d, %v; want 1 frame", i, n, err)
		}
		if id, ok := frameID(dataplane.Eth(frames[0][:sizes[0]]), magic); !ok || id != uint32(i) {
			t.Fatalf("frame %d: read %x, not the frame sent", i, frames[0][:sizes[0]])
		}
		if pb.Ready() {
			t.Fatalf("frame %d: Ready after Read drained the ring", i)
		}
	}
	pb.Close()
	if !pb.Ready() {
		t.Error("Ready = false after Close; want true (Read returns at once)")
	}
	if _, err := pb.Read(frames, sizes); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Read after Close: %v; want ErrClosed", err)
	}
}
