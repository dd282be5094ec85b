//go:build linux

package afxdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestTransfer sends frames of every size from the minimum to the MTU
// both ways between two Ports on the ends of a veth, and compares them
// byte for byte.
func TestTransfer(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	for dir, ends := range [][2]*Port{{pa, pb}, {pb, pa}} {
		from, to := ends[0], ends[1]
		magic := uint64(0x7e57_0000_0000) | uint64(dir)
		var want [][]byte
		for size := 60; size <= 1514; size++ {
			want = append(want, testFrame(to.MAC(), from.MAC(), magic, uint32(size), size))
		}
		done := make(chan map[uint32][]byte)
		go func() { done <- collect(t, to, magic, len(want), 10*time.Second) }()
		writeAll(t, from, want)
		got := <-done
		for _, w := range want {
			id, _ := frameID(dataplane.Eth(w), magic)
			if g := got[id]; !bytes.Equal(g, w) {
				t.Errorf("%s->%s frame of %d bytes:\n got %x\nwant %x", from.Name(), to.Name(), id, g, w)
			}
		}
	}
	sa, sb := pa.Stats(), pb.Stats()
	t.Logf("a0 %+v\nb0 %+v", sa, sb)
	if sa.WriteFrames != sb.ReadFrames || sb.WriteFrames != sa.ReadFrames || sa.WriteBytes != sb.ReadBytes {
		t.Errorf("stats do not match: a %+v, b %+v", sa, sb)
	}
}

func TestOpen(t *testing.T) {
	a, _ := pair(t)
	a.SetMAC(t, "a0", "02:00:00:00:0a:01")
	p := openIn(t, a, "a0", Options{})
	if got, want := p.MAC(), [6]byte{2, 0, 0, 0, 0x0a, 1}; got != want || p.Name() != "a0" || p.Index() == 0 {
		t.Errorf("Name %q MAC %x Index %d", p.Name(), got, p.Index())
	}
	if out := a.MustRun(t, "ip", "-d", "link", "show", "a0"); !strings.Contains(out, "prog/xdp") {
		t.Errorf("no XDP program on a0 while the Port is open:\n%s", out)
	}
	tests := []struct {
		name   string
		ifname string
		o      Options
		want   error // nil: any error
	}{
		{"frame size", "a0", Options{FrameSize: 1024}, nil},
		{"frames not a power of two", "a0", Options{NumFrames: 1000}, nil},
		{"no such interface", "nosuch0", Options{}, nil},
		{"loopback", "lo", Options{}, ErrNotEthernet},
		{"already has a program", "a0", Options{}, unix.EBUSY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Do(func() error {
				p, err := Open(tt.ifname, tt.o)
				if err == nil {
					p.Close()
				}
				return err
			})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Open(%q, %+v) = %v, want %v", tt.ifname, tt.o, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.ifname) {
				t.Errorf("error %q does not name the interface", err)
			}
		})
	}
	p.Close()
	if out := a.MustRun(t, "ip", "-d", "link", "show", "a0"); strings.Contains(out, "prog/xdp") {
		t.Errorf("XDP program left on a0 after Close:\n%s", out)
	}
	if _, err := p.Read(make([][]byte, 1), make([]int, 1)); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := p.Write([][]byte{testFrame(p.MAC(), p.MAC(), 1, 1, 60)}); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
}

// TestControlFrames: what the team must see (LACPDUs, Marker PDUs, ARP
// broadcasts, frames for other MACs with Promisc) comes through the XDP
// program to the socket, and none reaches the host's stack.
func TestControlFrames(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{Promisc: true})
	slow := [6]byte{0x01, 0x80, 0xc2, 0, 0, 0x02}
	bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	other := [6]byte{2, 0, 0, 0, 0x99, 0x99}
	mk := func(dst [6]byte, et uint16, id uint32) []byte {
		f := testFrame(dst, pa.MAC(), 0xc0de, id, 124)
		binary.BigEndian.PutUint16(f[dataplane.VnetHdrLen+12:], et)
		binary.BigEndian.PutUint16(f[dataplane.VnetHdrLen+14:], etherTypeTest) // mark
		binary.BigEndian.PutUint64(f[dataplane.VnetHdrLen+16:], 0xc0de)
		binary.BigEndian.PutUint32(f[dataplane.VnetHdrLen+24:], id)
		return f
	}
	want := [][]byte{mk(slow, 0x8809, 1), mk(slow, 0x8809, 2), mk(bcast, 0x0806, 3), mk(other, 0x0800, 4)}
	if out := b.MustRun(t, "ip", "-d", "link", "show", "b0"); !strings.Contains(out, "promiscuity 1") {
		t.Errorf("b0 not promiscuous with Promisc:\n%s", out)
	}
	done := make(chan int)
	go func() {
		frames, sizes := newBatch()
		got := 0
		wd := time.AfterFunc(5*time.Second, func() { pb.Close() })
		defer wd.Stop()
		for got < len(want) {
			n, err := pb.Read(frames, sizes)
			if err != nil {
				break
			}
			for i := range n {
				e := dataplane.Eth(frames[i][:sizes[i]])
				if len(e) > 28 && binary.BigEndian.Uint16(e[14:]) == etherTypeTest {
					id := binary.BigEndian.Uint32(e[24:])
					if !bytes.Equal(frames[i][:sizes[i]], want[id-1]) {
						t.Errorf("frame %d differs", id)
					}
					got++
				}
			}
		}
		done <- got
	}()
	writeAll(t, pa, want)
	if got := <-done; got != len(want) {
		t.Fatalf("read %d of %d control frames (b0 %+v)", got, len(want), pb.Stats())
	}
	st := pb.Stats()
	if st.Program.Passed != 0 || st.Program.Redirected < uint64(len(want)) {
		t.Errorf("program counters %+v: want all redirected, none passed", st.Program)
	}
}

// TestBurst writes several times the TX ring's worth of frames in one
// Write while the other end reads: every frame is accepted, and each one
// either arrives or is counted as dropped by the receiving kernel.
func TestBurst(t *testing.T) {
	a, b := pair(t)
	o := Options{NumFrames: 256} // rings of 128
	pa := openIn(t, a, "a0", o)
	pb := openIn(t, b, "b0", o)
	const count = 2000
	var burst [][]byte
	for i := range count {
		burst = append(burst, testFrame(pb.MAC(), pa.MAC(), 0xb0b0, uint32(i), 60+i%500))
	}
	var got atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frames, sizes := newBatch()
		for {
			n, err := pb.Read(frames, sizes)
			if err != nil {
				return
			}
			for i := range n {
				if _, ok := frameID(dataplane.Eth(frames[i][:sizes[i]]), 0xb0b0); ok {
					got.Add(1)
				}
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	n, err := pa.Write(burst)
	if err != nil || n != count {
		t.Fatalf("Write(%d frames) = %d, %v (a0 %+v)", count, n, err, pa.Stats())
	}
	nstest.Eventually(t, 5*time.Second, func() error {
		if s := got.Load() + int64(pb.Stats().RXDropped); s != count {
			return fmt.Errorf("%d read + %d dropped, want %d", got.Load(), pb.Stats().RXDropped, count)
		}
		return nil
	})
	close(stop)
	pb.Close()
	wg.Wait()
	t.Logf("%d frames read, a0 %+v, b0 %+v", got.Load(), pa.Stats(), pb.Stats())
}

// TestCarrierLoss takes the peer down and up while frames are written:
// Write neither blocks nor fails while the carrier is gone, and traffic
// flows again afterwards.
func TestCarrierLoss(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	stop := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		batch := make([][]byte, dataplane.BatchSize)
		for i := range batch {
			batch[i] = testFrame(pb.MAC(), pa.MAC(), 0xdead, uint32(i), 100)
		}
		for {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			if _, err := pa.Write(batch); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 3 {
		time.Sleep(50 * time.Millisecond)
		b.MustRun(t, "ip", "link", "set", "b0", "down")
		time.Sleep(50 * time.Millisecond)
		b.MustRun(t, "ip", "link", "set", "b0", "up")
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatalf("Write during carrier loss: %v", err)
	}
	// After the flaps the path works.
	want := []([]byte){testFrame(pb.MAC(), pa.MAC(), 0xa11e, 1, 60)}
	done := make(chan struct{})
	go func() { collect(t, pb, 0xa11e, 1, 5*time.Second); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		writeAll(t, pa, want)
		select {
		case <-done:
			t.Logf("a0 %+v, b0 %+v", pa.Stats(), pb.Stats())
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no frame through after the carrier came back")
		}
	}
}

// TestCloseUnderLoad closes both Ports while one goroutine floods and
// another reads: both return ErrClosed promptly and nothing stays
// attached to the interfaces.
func TestCloseUnderLoad(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		batch := make([][]byte, dataplane.BatchSize)
		for i := range batch {
			batch[i] = testFrame(pb.MAC(), pa.MAC(), 0xc105, uint32(i), 60)
		}
		for {
			if _, err := pa.Write(batch); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		frames, sizes := newBatch()
		for {
			if _, err := pb.Read(frames, sizes); err != nil {
				errs <- err
				return
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	pa.Close()
	pb.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, dataplane.ErrClosed) {
			t.Errorf("got %v, want ErrClosed", err)
		}
	}
	for _, c := range []struct {
		ns  *nstest.NS
		dev string
	}{{a, "a0"}, {b, "b0"}} {
		if out := c.ns.MustRun(t, "ip", "-d", "link", "show", c.dev); strings.Contains(out, "prog/xdp") {
			t.Errorf("XDP program left on %s:\n%s", c.dev, out)
		}
	}
}

// TestMillionFrames sends a million frames and checks, by the queue's own
// accounting, that every TX frame came back from the completion ring and
// every RX frame is back with the kernel: no descriptor leaked.
func TestMillionFrames(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	const total = 1_000_000
	var read atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		frames, sizes := newBatch()
		for read.Load()+int64(pb.Stats().RXDropped) < total {
			n, err := pb.Read(frames, sizes)
			if err != nil {
				return
			}
			read.Add(int64(n))
		}
	}()
	batch := make([][]byte, dataplane.BatchSize)
	for i := range batch {
		batch[i] = testFrame(pb.MAC(), pa.MAC(), 0x1e6, uint32(i), 60)
	}
	sent := 0
	for sent < total {
		n, err := pa.Write(batch[:min(len(batch), total-sent)])
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	wd := time.AfterFunc(30*time.Second, func() { pb.Close() })
	wg.Wait()
	wd.Stop()
	pa.wmu.Lock()
	pa.tx.q.reclaim()
	inFlight := pa.tx.q.inFlight()
	pa.wmu.Unlock()
	sa, sb := pa.Stats(), pb.Stats()
	t.Logf("a0 %+v\nb0 %+v", sa, sb)
	if inFlight != 0 {
		t.Errorf("a0: %d TX frames never came back", inFlight)
	}
	if got := read.Load() + int64(sb.RXDropped); got != total {
		t.Errorf("b0 read %d + dropped %d, want %d", read.Load(), sb.RXDropped, total)
	}
	pb.rmu.Lock()
	for _, s := range pb.socks {
		q := s.q
		held := q.fill.pending() + (atomic.LoadUint32(q.rx.producer) - q.rx.local)
		// In copy mode the kernel keeps a frame or a few it took from
		// the fill ring in its pool's free list for the next copy
		// (net/xdp/xsk_buff_pool.c xp_alloc, xp_free); it never gives
		// them back while the socket lives, so allow a handful.
		if held > q.fill.size() || held < q.fill.size()-8 {
			t.Errorf("b0 queue %d: the kernel holds %d RX frames, want all %d", s.queue, held, q.fill.size())
		}
	}
	pb.rmu.Unlock()
	// What the counts cannot see, traffic does: three times as many
	// frames as there are RX frames still arrive, paced so nothing is
	// dropped, and the ring stays at the same level.
	const more = 3 * 2048
	done := make(chan map[uint32][]byte)
	go func() { done <- collect(t, pb, 0x3e6, more, 20*time.Second) }()
	for i := 0; i < more; i += 16 {
		var b [][]byte
		for j := range 16 {
			b = append(b, testFrame(pb.MAC(), pa.MAC(), 0x3e6, uint32(i+j), 60))
		}
		writeAll(t, pa, b)
		time.Sleep(time.Millisecond)
	}
	<-done
	if sa.WriteFrames != total || sa.WriteErrors+sa.WriteDrops+sa.TXInvalid != 0 {
		t.Errorf("a0 stats %+v", sa)
	}
}

func TestZeroAllocs(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	batch := [][]byte{testFrame(pb.MAC(), pa.MAC(), 0xa110c, 1, 60)}
	own, sizes := newBatch()
	frames := slices.Clone(own)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := pa.Write(batch); err != nil {
			t.Fatal(err)
		}
		if _, err := pb.Read(frames, sizes); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Write+Read, want 0", allocs)
	}
	// The lending read, and a lent frame written on (the team's
	// forwarding path).
	allocs = testing.AllocsPerRun(1000, func() {
		if _, err := pa.Write(batch); err != nil {
			t.Fatal(err)
		}
		copy(frames, own)
		n, err := pb.ReadLoan(frames, sizes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pb.Write(frames[:n]); err != nil {
			t.Fatal(err)
		}
		pb.Release()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Write+ReadLoan+Write+Release, want 0", allocs)
	}
}

// TestCloseWaitsForRelease: Close from another goroutine while frames
// are lent waits for Release (it would unmap the UMEM under the
// reader), and the next ReadLoan says closed.
func TestCloseWaitsForRelease(t *testing.T) {
	a, b := pair(t)
	pa := openIn(t, a, "a0", Options{})
	pb := openIn(t, b, "b0", Options{})
	writeAll(t, pa, [][]byte{testFrame(pb.MAC(), pa.MAC(), 0xc105e, 1, 200)})
	own, sizes := newBatch()
	frames := slices.Clone(own)
	n, err := pb.ReadLoan(frames, sizes)
	if n != 1 || err != nil {
		t.Fatalf("ReadLoan = %d, %v", n, err)
	}
	closed := make(chan struct{})
	go func() { pb.Close(); close(closed) }()
	for !pb.closed.Load() {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-closed:
		t.Fatal("Close returned with a frame lent")
	case <-time.After(50 * time.Millisecond):
	}
	if id, ok := frameID(dataplane.Eth(frames[0][:sizes[0]]), 0xc105e); !ok || id != 1 {
		t.Error("the lent frame changed while Close waited")
	}
	pb.Release()
	<-closed
	copy(frames, own)
	if _, err := pb.ReadLoan(frames, sizes); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("ReadLoan after Close: %v, want ErrClosed", err)
	}
}

// TestMultiQueue: on a veth with two RX queues, a frame lands on the RX
// queue of the number of the sender's TX queue (drivers/net/veth.c
// veth_xmit). The Port has a socket on each queue. UDP flows from the
// peer's stack first spread over both TX queues by hash, then, with XPS
// sending everything on TX queue 1, all arrive on RX queue 1: the Port
// reads every datagram, counted on the queue it came from, and the
// program passes none to the stack.
func TestMultiQueue(t *testing.T) {
	nstest.Require(t)
	a, b := newNS(t, "a"), newNS(t, "b")
	a.MustRun(t, "ip", "link", "add", "mq0", "numrxqueues", "2", "numtxqueues", "2", "type", "veth",
		"peer", "mq1", "numrxqueues", "2", "numtxqueues", "2")
	a.MustRun(t, "ip", "link", "set", "mq1", "netns", b.Name)
	a.MustRun(t, "ip", "link", "set", "mq0", "up")
	b.MustRun(t, "ip", "link", "set", "mq1", "up")
	b.Addr(t, "mq1", "10.77.0.2/24")
	p := openIn(t, a, "mq0", Options{})
	if st := p.Stats(); st.Queues != 2 {
		t.Fatalf("Queues = %d, want 2", st.Queues)
	}
	mac := p.MAC()
	b.MustRun(t, "ip", "neigh", "add", "10.77.0.1", "lladdr", net.HardwareAddr(mac[:]).String(), "dev", "mq1")

	// send sends one datagram from each of flows source ports and reads
	// them all from the Port.
	send := func(t *testing.T, base, flows int) {
		t.Helper()
		got := make(chan int)
		go func() {
			frames, sizes := newBatch()
			seen := map[uint16]bool{}
			wd := time.AfterFunc(5*time.Second, func() { p.Close() })
			defer wd.Stop()
			for len(seen) < flows {
				n, err := p.Read(frames, sizes)
				if err != nil {
					break
				}
				for i := range n {
					e := dataplane.Eth(frames[i][:sizes[i]])
					// IPv4, UDP, our payload
					if len(e) >= 14+20+8+4 && binary.BigEndian.Uint16(e[12:]) == 0x0800 && e[23] == 17 &&
						string(e[42:46]) == "mq!!" {
						seen[binary.BigEndian.Uint16(e[34:])] = true
					}
				}
			}
			got <- len(seen)
		}()
		if err := b.Do(func() error {
			for i := range flows {
				c, err := net.DialUDP("udp4", &net.UDPAddr{Port: base + i}, &net.UDPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 9})
				if err != nil {
					return err
				}
				_, err = c.Write([]byte("mq!!"))
				c.Close()
				if err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n := <-got; n != flows {
			t.Fatalf("read %d of %d flows (stats %+v)", n, flows, p.Stats())
		}
	}
	const flows = 64
	send(t, 20000, flows)
	st := p.Stats()
	t.Logf("hashed: %d frames on queue 0, %d on queue 1", st.QueueFrames[0], st.QueueFrames[1])
	if st.QueueFrames[0]+st.QueueFrames[1] != flows || st.QueueFrames[0] == 0 || st.QueueFrames[1] == 0 {
		t.Errorf("%d flows hashed over two TX queues: read %v per queue, want both used", flows, st.QueueFrames)
	}

	// XPS: every CPU sends on TX queue 1 only.
	b.MustRun(t, "sh", "-c", "echo 0 > /sys/class/net/mq1/queues/tx-0/xps_cpus && "+
		"printf %x $(( (1 << $(nproc --all)) - 1 )) > /sys/class/net/mq1/queues/tx-1/xps_cpus")
	send(t, 30000, flows)
	after := p.Stats()
	if d0, d1 := after.QueueFrames[0]-st.QueueFrames[0], after.QueueFrames[1]-st.QueueFrames[1]; d0 != 0 || d1 != flows {
		t.Errorf("with XPS on TX queue 1: %d frames read from queue 0, %d from queue 1; want 0 and %d", d0, d1, flows)
	}
	if after.Program.Passed != 0 {
		t.Errorf("program passed %d frames to the stack: a queue had no socket", after.Program.Passed)
	}
}

// TestTransferMTU sends frames of every size from the minimum to the MTU
// both ways over veths with MTU 1500 (2 KiB UMEM frames), 3000 (4 KiB
// frames, the multi-buffer aware program) and 9000 (frames in chains of
// 4 KiB descriptors, XDP_USE_SG), and compares them byte for byte. The
// sender waits for the receiver to keep up, so no ring overflows. The
// loan cases read with ReadLoan: every frame that fits one UMEM frame is
// lent, chains are copied.
func TestTransferMTU(t *testing.T) {
	for _, tt := range []struct {
		mtu, frameSize int
		frags          bool
		loan           bool
	}{
		{1500, 2048, false, false},
		{3000, 4096, true, false},
		{9000, 4096, true, false},
		{1500, 2048, false, true},
		{9000, 4096, true, true},
	} {
		name := fmt.Sprint(tt.mtu)
		if tt.loan {
			name += "/loan"
		}
		t.Run(name, func(t *testing.T) {
			a, b := pair(t)
			a.MustRun(t, "ip", "link", "set", "a0", "mtu", fmt.Sprint(tt.mtu))
			b.MustRun(t, "ip", "link", "set", "b0", "mtu", fmt.Sprint(tt.mtu))
			pa := openIn(t, a, "a0", Options{Mode: xskprog.ModeDriver})
			pb := openIn(t, b, "b0", Options{Mode: xskprog.ModeDriver})
			if pa.opts.FrameSize != tt.frameSize || pa.prog.Frags != tt.frags {
				t.Errorf("MTU %d: %d-byte UMEM frames, frags program %v; want %d, %v", tt.mtu, pa.opts.FrameSize, pa.prog.Frags, tt.frameSize, tt.frags)
			}
			for dir, ends := range [][2]*Port{{pa, pb}, {pb, pa}} {
				from, to := ends[0], ends[1]
				magic := uint64(0x7e57_0000_0000) | uint64(tt.mtu)<<8 | uint64(dir)
				var want [][]byte
				for size := 60; size <= tt.mtu+14; size++ {
					want = append(want, testFrame(to.MAC(), from.MAC(), magic, uint32(size), size))
				}
				var got atomic.Int64
				done := make(chan map[uint32][]byte)
				go func() {
					m := make(map[uint32][]byte)
					wd := time.AfterFunc(30*time.Second, func() { to.Close() })
					defer wd.Stop()
					own, sizes := newBatch()
					frames := slices.Clone(own)
					for len(m) < len(want) {
						copy(frames, own)
						var n int
						var err error
						if tt.loan {
							n, err = to.ReadLoan(frames, sizes)
						} else {
							n, err = to.Read(frames, sizes)
						}
						if err != nil {
							break
						}
						for i := range n {
							f := frames[i][:sizes[i]]
							if lent := &f[0] != &own[i][0]; tt.loan && lent != (len(f)-dataplane.VnetHdrLen <= to.opts.FrameSize-xdpHeadroom) {
								t.Errorf("frame of %d bytes: lent %v", len(f), lent)
							}
							if id, ok := frameID(dataplane.Eth(f), magic); ok {
								m[id] = bytes.Clone(f)
							}
						}
						to.Release()
						got.Store(int64(len(m)))
					}
					done <- m
				}()
				for sent := 0; sent < len(want); {
					for int64(sent)-got.Load() > 256 {
						time.Sleep(100 * time.Microsecond)
					}
					b := want[sent:min(len(want), sent+dataplane.BatchSize)]
					writeAll(t, from, b)
					sent += len(b)
				}
				m := <-done
				if len(m) != len(want) {
					t.Fatalf("%s->%s: %d of %d frames (stats %+v, %+v)", from.Name(), to.Name(), len(m), len(want), from.Stats(), to.Stats())
				}
				for _, w := range want {
					id, _ := frameID(dataplane.Eth(w), magic)
					if g := m[id]; !bytes.Equal(g, w) {
						t.Errorf("%s->%s frame of %d bytes differs (got %d bytes)", from.Name(), to.Name(), id, len(g))
					}
				}
			}
			sa, sb := pa.Stats(), pb.Stats()
			if sa.WriteErrors+sb.WriteErrors+sa.Truncated+sb.Truncated+sa.RXDropped+sb.RXDropped != 0 {
				t.Errorf("errors: a %+v, b %+v", sa, sb)
			}
		})
	}
}
