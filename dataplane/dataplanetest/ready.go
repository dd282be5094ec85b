package dataplanetest

import (
	"errors"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
)

// ReadyPort is a real Port with the readiness check readers spin on.
type ReadyPort[S any] interface {
	StatPort[S]
	dataplane.Readier
	MAC() [6]byte
}

// CheckReady checks rx's readiness check against real traffic from tx:
// false on an empty ring, true once a frame tx sent arrives, false again
// after Read drained it, true after Close (Read would not block), and no
// allocation.
func CheckReady[S any, P ReadyPort[S]](t *testing.T, tx, rx P) {
	t.Helper()
	if rx.Ready() {
		t.Fatal("Ready on an empty ring")
	}
	if allocs := testing.AllocsPerRun(100, func() { rx.Ready() }); allocs != 0 {
		t.Errorf("Ready: %v allocations, want 0", allocs)
	}
	const magic = 0x4eadf
	frames, sizes := NewBatch()
	for i := range 3 {
		WriteAll(t, tx, [][]byte{Frame(rx.MAC(), tx.MAC(), magic, uint32(i), 60)})
		deadline := time.Now().Add(5 * time.Second)
		for !rx.Ready() {
			if time.Now().After(deadline) {
				t.Fatalf("frame %d: Ready still false 5 s after it was sent (stats %+v)", i, rx.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		n, err := rx.Read(frames, sizes)
		if err != nil || n != 1 {
			t.Fatalf("frame %d: Read after Ready = %d, %v; want 1 frame", i, n, err)
		}
		if id, ok := FrameID(dataplane.Eth(frames[0][:sizes[0]]), magic); !ok || id != uint32(i) {
			t.Fatalf("frame %d: read %x, not the frame sent", i, frames[0][:sizes[0]])
		}
		if rx.Ready() {
			t.Fatalf("frame %d: Ready after Read drained the ring", i)
		}
	}
	rx.Close()
	if !rx.Ready() {
		t.Error("Ready = false after Close; want true (Read returns at once)")
	}
	if _, err := rx.Read(frames, sizes); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Read after Close: %v; want ErrClosed", err)
	}
}
