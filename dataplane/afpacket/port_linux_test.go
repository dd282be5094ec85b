//go:build linux

package afpacket

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/test/nstest"
)

func TestOpen(t *testing.T) {
	a, _ := pair(t)
	a.SetMAC(t, "a0", "02:00:00:00:0a:01")
	p := openIn(t, a, "a0", Options{})
	if got, want := p.Name(), "a0"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := p.MAC(), [6]byte{2, 0, 0, 0, 0x0a, 1}; got != want {
		t.Errorf("MAC() = %x, want %x", got, want)
	}
	var idx int
	if err := a.Do(func() error {
		ifi, err := net.InterfaceByName("a0")
		idx = ifi.Index
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if p.Index() != idx {
		t.Errorf("Index() = %d, want %d", p.Index(), idx)
	}

	tests := []struct {
		name string
		o    Options
	}{
		{"block not page aligned", Options{BlockSize: DefaultBlockSize + 1}},
		{"block not a multiple of the frame size", Options{BlockSize: 12 << 10, FrameSize: 8 << 10}},
		{"frame too small", Options{FrameSize: 128}},
		{"frame not 16-byte aligned", Options{FrameSize: 2040}},
		{"one frame", Options{NumBlocks: 1, BlockSize: 4096, FrameSize: 4096}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Do(func() error {
				p, err := Open("a0", tt.o)
				if err == nil {
					p.Close()
				}
				return err
			}); err == nil {
				t.Errorf("Open(%+v) succeeded", tt.o)
			}
		})
	}
	if err := a.Do(func() error {
		_, err := Open("nosuch0", Options{})
		return err
	}); err == nil {
		t.Error("Open(nosuch0) succeeded")
	}
	if err := a.Do(func() error {
		_, err := Open("lo", Options{})
		return err
	}); !errors.Is(err, ErrNotEthernet) {
		t.Errorf("Open(lo): %v, want ErrNotEthernet", err)
	}
}

// TestTransfer writes frames on one end of a veth and reads them back on
// the other through the ring, byte for byte, VLAN tags included.
func TestTransfer(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})

	sizes := []int{60, 61, 64, 128, 1000, 1514}
	tests := []struct {
		name string
		tags []tag
	}{
		{"untagged", nil},
		{"802.1Q", []tag{{0x8100, 5<<13 | 100}}},
		{"802.1Q VID 0 PCP 0", []tag{{0x8100, 0}}},
		{"802.1Q priority tagged", []tag{{0x8100, 3 << 13}}},
		{"802.1Q DEI VID 4094", []tag{{0x8100, 1<<12 | 4094}}},
		{"802.1ad", []tag{{0x88a8, 200}}},
		{"QinQ", []tag{{0x88a8, 300}, {0x8100, 7<<13 | 42}}},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for dir, ends := range [][2]*Port{{pa, pb}, {pb, pa}} {
				from, to := ends[0], ends[1]
				magic := uint64(0xa5a5_0000_0000_0000) | uint64(ti)<<8 | uint64(dir)
				var want [][]byte
				// The kernel lets a frame exceed MTU+14 by a tag only if it
				// is 802.1Q (packet_extra_vlan_len_allowed).
				limit := 1514
				if len(tt.tags) == 1 && tt.tags[0].tpid == 0x8100 {
					limit += 4
				}
				for i, size := range sizes {
					size = min(size+4*len(tt.tags), limit)
					want = append(want, testFrame(to.MAC(), from.MAC(), magic, uint32(i), size, tt.tags...))
				}
				writeAll(t, from, want)
				got := collect(t, to, magic, len(want), 5*time.Second)
				for i, w := range want {
					if g := got[uint32(i)]; !bytes.Equal(g, w) {
						t.Errorf("%s->%s frame %d (%d bytes):\n got %x\nwant %x", from.Name(), to.Name(), i, len(w)-dataplane.VnetHdrLen, g, w)
					}
				}
			}
		})
	}

	sa, sb := pa.Stats(), pb.Stats()
	if sa.WriteFrames == 0 || sa.WriteFrames != sb.ReadFrames || sb.WriteFrames != sa.ReadFrames {
		t.Errorf("stats do not match: a %+v, b %+v", sa, sb)
	}
	if sa.WriteBytes != sb.ReadBytes {
		t.Errorf("a wrote %d bytes, b read %d", sa.WriteBytes, sb.ReadBytes)
	}
	if sa.RingDrops+sb.RingDrops+sa.Truncated+sb.Truncated+sa.WriteErrors+sb.WriteErrors != 0 {
		t.Errorf("losses: a %+v, b %+v", sa, sb)
	}
}

// TestReadSmallBatches reads a burst in batches smaller than what the
// ring holds, so Read must resume where the previous call stopped.
func TestReadSmallBatches(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	const magic, count = 0x0b10c, 1000
	var want [][]byte
	for i := range count {
		want = append(want, testFrame(pb.MAC(), pa.MAC(), magic, uint32(i), 60+i%200))
	}
	writeAll(t, pa, want)

	got := make(map[uint32]bool)
	frames, sizes := newBatch()
	wd := time.AfterFunc(10*time.Second, func() { pb.Close() })
	defer wd.Stop()
	for len(got) < count {
		n, err := pb.Read(frames[:7], sizes[:7])
		if err != nil {
			t.Fatalf("after %d frames: %v", len(got), err)
		}
		for i := range n {
			f := frames[i][:sizes[i]]
			id, ok := frameID(dataplane.Eth(f), magic)
			if !ok {
				continue
			}
			if got[id] {
				t.Fatalf("frame %d read twice", id)
			}
			if !bytes.Equal(f, want[id]) {
				t.Fatalf("frame %d differs", id)
			}
			got[id] = true
		}
	}
}

// TestTransferLong sends frames longer than a ring slot (jumbo frames
// on a 9000-byte MTU, tagged and not), which the kernel queues beside the
// ring: they arrive whole, in order with the short ones around them.
func TestTransferLong(t *testing.T) {
	a, b := pair(t)
	a.MustRun(t, "ip", "link", "set", "a0", "mtu", "9000")
	b.MustRun(t, "ip", "link", "set", "b0", "mtu", "9000")
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	const magic = 0x10e6
	var want [][]byte
	for i, size := range []int{60, 1900, 2000, 4000, 100, 9014, 61, 8000} {
		var tags []tag
		if i%2 == 1 {
			tags = []tag{{0x8100, uint16(i)}}
		}
		want = append(want, testFrame(pb.MAC(), pa.MAC(), magic, uint32(i), size, tags...))
	}
	writeAll(t, pa, want)
	got := collectOrdered(t, pb, magic, len(want), 5*time.Second)
	for i, w := range want {
		if i >= len(got) || !bytes.Equal(got[i], w) {
			t.Fatalf("frame %d of %d (%d bytes) missing, out of order or damaged", i, len(want), len(w)-dataplane.VnetHdrLen)
		}
	}
	// 1900 bytes fit a 2 KiB slot with its 76 bytes of headers; 2000,
	// 4000, 9014 and 8000 do not.
	if st := pb.Stats(); st.Copied != 4 || st.Truncated != 0 {
		t.Errorf("b0 stats %+v: want Copied 4 (frames over a slot), Truncated 0", st)
	}
}

// TestReadSkipsOversize gives Read buffers too small for some frames: they
// are skipped and counted, the rest still arrive.
func TestReadSkipsOversize(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	const magic = 0x5111
	writeAll(t, pa, [][]byte{
		testFrame(pb.MAC(), pa.MAC(), magic, 0, 1000),
		testFrame(pb.MAC(), pa.MAC(), magic, 1, 100),
	})
	frames := make([][]byte, dataplane.BatchSize)
	for i := range frames {
		frames[i] = make([]byte, 200)
	}
	sizes := make([]int, len(frames))
	wd := time.AfterFunc(5*time.Second, func() { pb.Close() })
	defer wd.Stop()
	for {
		n, err := pb.Read(frames, sizes)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			id, ok := frameID(dataplane.Eth(frames[i][:sizes[i]]), magic)
			if !ok {
				continue
			}
			if id != 1 {
				t.Fatalf("got frame %d, want only frame 1", id)
			}
			if st := pb.Stats(); st.Truncated != 1 {
				t.Errorf("Truncated = %d, want 1", st.Truncated)
			}
			return
		}
	}
}

// TestWriteSkipsBadFrame puts frames the kernel refuses in a batch: they
// are counted and dropped, the others go out.
func TestWriteSkipsBadFrame(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	const magic = 0xbad
	good := func(id uint32) []byte { return testFrame(pb.MAC(), pa.MAC(), magic, id, 100) }
	tooLong := testFrame(pb.MAC(), pa.MAC(), magic, 99, 3000) // > MTU, no GSO
	batch := [][]byte{good(0), {}, good(1), make([]byte, 5), tooLong, good(2)}
	n, err := pa.Write(batch)
	if err != nil || n != 3 {
		t.Fatalf("Write = %d, %v; want 3, nil", n, err)
	}
	if st := pa.Stats(); st.WriteErrors != 3 || st.WriteFrames != 3 {
		t.Errorf("stats %+v, want 3 written, 3 errors", st)
	}
	got := collect(t, pb, magic, 3, 5*time.Second)
	for id := range got {
		if id > 2 {
			t.Errorf("got frame %d", id)
		}
	}
}

// TestIgnoreOutgoing checks that a Port reads only what its interface
// receives: not its own writes, nor those of another socket on the same
// interface.
func TestIgnoreOutgoing(t *testing.T) {
	a, b := pair(t)
	p := openIn(t, a, "a0", Options{})
	other := openIn(t, a, "a0", Options{})
	peer := openIn(t, b, "b0", Options{})
	const magic = 0x16
	var mine, theirs [][]byte
	for i := range 100 {
		mine = append(mine, testFrame(peer.MAC(), p.MAC(), magic, uint32(i), 80))
		theirs = append(theirs, testFrame(peer.MAC(), p.MAC(), magic, uint32(1000+i), 80))
	}
	writeAll(t, p, mine)
	writeAll(t, other, theirs)
	// The peer saw them all, so they did leave through a0.
	collect(t, peer, magic, 200, 5*time.Second)

	writeAll(t, peer, [][]byte{testFrame(p.MAC(), peer.MAC(), magic, 5000, 80)})
	for _, port := range []*Port{p, other} {
		got := collect(t, port, magic, 1, 5*time.Second)
		if _, ok := got[5000]; !ok || len(got) != 1 {
			t.Errorf("%s read its own or its neighbour's writes: ids %v", port.Name(), keys(got))
		}
	}
}

func keys(m map[uint32][]byte) []uint32 {
	var k []uint32
	for id := range m {
		k = append(k, id)
	}
	return k
}

func TestClose(t *testing.T) {
	a, _ := pair(t)
	p := openIn(t, a, "a0", Options{})
	done := make(chan error, 1)
	go func() {
		frames, sizes := newBatch()
		_, err := p.Read(frames, sizes)
		done <- err
	}()
	// Give Read time to block in poll; the test is meaningful only then,
	// and passes either way.
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, dataplane.ErrClosed) {
			t.Errorf("Read after Close: %v, want ErrClosed", err)
		}
		t.Logf("Read returned %v after Close", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	frames, sizes := newBatch()
	if _, err := p.Read(frames, sizes); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Read on closed port: %v", err)
	}
	if _, err := p.Write(frames[:1]); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Write on closed port: %v", err)
	}
	_ = p.Stats()
}

// TestPromisc opens a Port on a bridge, the kind of device that keeps
// frames for other hosts from its own receive path unless it is
// promiscuous (a veth passes everything up either way).
func TestPromisc(t *testing.T) {
	a, b := pair(t)
	b.Bridge(t, "br0", "b0")
	b.SetMAC(t, "br0", "02:00:00:00:0b:01")
	sender := openIn(t, a, "a0", Options{})
	plain := openIn(t, b, "br0", Options{})
	foreign := [6]byte{2, 0, 0, 0, 0xee, 0xee}
	local := plain.MAC()
	const magic = 0x9209

	// Not promiscuous: the frame to the foreign address is not seen, the
	// one to the bridge's own address after it is.
	writeAll(t, sender, [][]byte{
		testFrame(foreign, sender.MAC(), magic, 1, 60),
		testFrame(local, sender.MAC(), magic, 2, 60),
	})
	if got := collect(t, plain, magic, 1, 5*time.Second); got[2] == nil {
		t.Fatalf("without Promisc: got ids %v, want only 2", keys(got))
	}
	if got := promiscuity(t, b, "br0"); got != 0 {
		t.Fatalf("promiscuity %d before", got)
	}

	pr := openIn(t, b, "br0", Options{Promisc: true})
	if got := promiscuity(t, b, "br0"); got != 1 {
		t.Errorf("promiscuity %d with a Promisc port, want 1", got)
	}
	writeAll(t, sender, [][]byte{testFrame(foreign, sender.MAC(), magic, 3, 60)})
	if got := collect(t, pr, magic, 1, 5*time.Second); got[3] == nil {
		t.Errorf("with Promisc: got ids %v, want 3", keys(got))
	}
	pr.Close()
	if got := promiscuity(t, b, "br0"); got != 0 {
		t.Errorf("promiscuity %d after Close, want 0", got)
	}
}

var promiscRE = regexp.MustCompile(`promiscuity (\d+)`)

func promiscuity(t *testing.T, ns *nstest.NS, dev string) int {
	t.Helper()
	out := ns.MustRun(t, "ip", "-d", "link", "show", "dev", dev)
	m := promiscRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no promiscuity in %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestZeroAllocs checks that Read and Write allocate nothing per batch.
func TestZeroAllocs(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	out := make([][]byte, dataplane.BatchSize)
	for i := range out {
		out[i] = testFrame(pb.MAC(), pa.MAC(), 0xa110c, uint32(i), 60+i)
	}
	const runs = 100
	write := func() {
		if n, err := pa.Write(out); err != nil || n != len(out) {
			panic(fmt.Sprintf("write: %d, %v", n, err))
		}
	}
	if allocs := testing.AllocsPerRun(runs, write); allocs != 0 {
		t.Errorf("Write: %v allocations per batch, want 0", allocs)
	}
	// runs+1 batches are on their way to pb: more than runs+1 Reads want.
	frames, sizes := newBatch()
	read := func() {
		if _, err := pb.Read(frames, sizes); err != nil {
			panic(err)
		}
	}
	if allocs := testing.AllocsPerRun(runs, read); allocs != 0 {
		t.Errorf("Read: %v allocations per batch, want 0", allocs)
	}
}

// TestTxQueued checks SIOCOUTQ on a member whose qdisc holds frames: a
// slow token bucket keeps what was written queued and counted; removing
// the qdisc frees it. Reading it allocates nothing.
func TestTxQueued(t *testing.T) {
	a, b := pair(t)
	a.MustRun(t, "tc", "qdisc", "add", "dev", "a0", "root", "tbf", "rate", "1mbit", "burst", "1600", "limit", "1000000")
	pa := openIn(t, a, "a0", Options{NoQdiscBypass: true})
	pb := openIn(t, b, "b0", Options{})
	if q, err := pa.TxQueued(); err != nil || q != 0 {
		t.Fatalf("before writing: TxQueued = %d, %v; want 0, nil", q, err)
	}
	out := make([][]byte, 20)
	for i := range out {
		out[i] = testFrame(pb.MAC(), pa.MAC(), 0x0a7, uint32(i), 1000)
	}
	if n, err := pa.Write(out); err != nil || n != len(out) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// 1 Mbit/s lets one frame through per 8 ms: most are still queued.
	q, err := pa.TxQueued()
	if err != nil || q < 10*1000 {
		t.Fatalf("20 kB written into a 1 Mbit/s qdisc: TxQueued = %d, %v; want at least 10 kB", q, err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _, _ = pa.TxQueued() }); allocs != 0 {
		t.Errorf("TxQueued: %v allocations, want 0", allocs)
	}
	a.MustRun(t, "tc", "qdisc", "del", "dev", "a0", "root")
	deadline := time.Now().Add(5 * time.Second)
	for q != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		q, _ = pa.TxQueued()
	}
	if q != 0 {
		t.Errorf("qdisc removed: TxQueued = %d, want 0", q)
	}
	pa.Close()
	if _, err := pa.TxQueued(); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
