//go:build linux

package afpacket

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// etherTypeTest is the IEEE local experimental EtherType; test frames
// carry it so that nothing else on the wire is mistaken for them.
const etherTypeTest = 0x88b5

// newNS is nstest.NewNS with IPv6 off, so the kernel's neighbour
// discovery chatter stays out of the rings.
func newNS(t testing.TB, name string) *nstest.NS {
	t.Helper()
	ns := nstest.NewNS(t, name)
	ns.MustRun(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// pair builds two namespaces joined by a veth pair a0 (in a) — b0 (in b).
func pair(t testing.TB) (a, b *nstest.NS) {
	t.Helper()
	nstest.Require(t)
	a, b = newNS(t, "a"), newNS(t, "b")
	nstest.Veth(t, a, "a0", b, "b0")
	return a, b
}

// openIn opens a Port on ifname inside ns, closed at cleanup.
func openIn(t testing.TB, ns *nstest.NS, ifname string, o Options) *Port {
	t.Helper()
	var p *Port
	if err := ns.Do(func() (err error) {
		p, err = Open(ifname, o)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// newBatch returns BatchSize frame buffers of MaxFrame bytes and sizes.
func newBatch() ([][]byte, []int) {
	frames := make([][]byte, dataplane.BatchSize)
	for i := range frames {
		frames[i] = make([]byte, dataplane.MaxFrame)
	}
	return frames, make([]int, dataplane.BatchSize)
}

// tag is an 802.1Q or 802.1ad tag for testFrame.
type tag struct {
	tpid, tci uint16
}

// testFrame returns a frame with an all-zero virtio-net header and an
// Ethernet frame of size bytes (tags included) from src to dst, carrying
// magic and id right after the EtherType.
func testFrame(dst, src [6]byte, magic uint64, id uint32, size int, tags ...tag) []byte {
	f := make([]byte, dataplane.VnetHdrLen+size)
	e := dataplane.Eth(f)
	copy(e[0:6], dst[:])
	copy(e[6:12], src[:])
	o := 12
	for _, tg := range tags {
		binary.BigEndian.PutUint16(e[o:], tg.tpid)
		binary.BigEndian.PutUint16(e[o+2:], tg.tci)
		o += 4
	}
	binary.BigEndian.PutUint16(e[o:], etherTypeTest)
	binary.BigEndian.PutUint64(e[o+2:], magic)
	binary.BigEndian.PutUint32(e[o+10:], id)
	for i := o + 14; i < len(e); i++ {
		e[i] = byte(i*7 + int(id))
	}
	return f
}

// frameID finds magic in an Ethernet frame (after up to two tags) and
// returns the id that follows it.
func frameID(eth []byte, magic uint64) (uint32, bool) {
	var m [8]byte
	binary.BigEndian.PutUint64(m[:], magic)
	for _, o := range []int{12, 16, 20} {
		if len(eth) >= o+14 && binary.BigEndian.Uint16(eth[o:]) == etherTypeTest && bytes.Equal(eth[o+2:o+10], m[:]) {
			return binary.BigEndian.Uint32(eth[o+10:]), true
		}
	}
	return 0, false
}

// collect reads from p until it has want test frames marked with magic,
// keyed by id, copying each (virtio header included). Other frames are
// ignored. A watchdog closes p if that takes longer than timeout, which
// unblocks Read and fails the test.
func collect(t testing.TB, p *Port, magic uint64, want int, timeout time.Duration) map[uint32][]byte {
	t.Helper()
	got := make(map[uint32][]byte)
	var (
		mu      sync.Mutex
		expired bool
	)
	wd := time.AfterFunc(timeout, func() {
		mu.Lock()
		expired = true
		mu.Unlock()
		p.Close()
	})
	defer wd.Stop()
	frames, sizes := newBatch()
	for len(got) < want {
		n, err := p.Read(frames, sizes)
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			if expired {
				t.Fatalf("%s: got %d of %d frames after %v", p.Name(), len(got), want, timeout)
			}
			t.Fatalf("%s: read: %v", p.Name(), err)
		}
		for i := range n {
			f := frames[i][:sizes[i]]
			if id, ok := frameID(dataplane.Eth(f), magic); ok {
				if _, dup := got[id]; dup {
					t.Errorf("%s: frame %d read twice", p.Name(), id)
				}
				got[id] = bytes.Clone(f)
			}
		}
	}
	return got
}

// writeAll writes frames in batches and fails unless all are accepted.
func writeAll(t testing.TB, p *Port, frames [][]byte) {
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

// collectOrdered reads from p until it has want test frames marked with
// magic and returns them in the order they were read.
func collectOrdered(t testing.TB, p *Port, magic uint64, want int, timeout time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	wd := time.AfterFunc(timeout, func() { p.Close() })
	defer wd.Stop()
	frames, sizes := newBatch()
	for len(got) < want {
		n, err := p.Read(frames, sizes)
		if err != nil {
			t.Fatalf("%s: got %d of %d frames: %v", p.Name(), len(got), want, err)
		}
		for i := range n {
			f := frames[i][:sizes[i]]
			if _, ok := frameID(dataplane.Eth(f), magic); ok {
				got = append(got, bytes.Clone(f))
			}
		}
	}
	return got
}
