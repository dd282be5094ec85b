//go:build linux

package integration

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/test/nstest"
)

// udpStream is a paced, sequence-numbered UDP stream from a socket in one
// namespace to a socket in another. The receiver counts every sequence
// number, so the result is exact: lost, duplicated and reordered
// datagrams, unlike ping or iperf3 which cannot see duplicates.
type udpStream struct {
	name string
	rate int // datagrams per second
	size int // UDP payload bytes
	tag  uint64

	tx, rx *net.UDPConn

	stop     chan struct{}
	sendDone chan struct{}
	recvDone chan struct{}
	start    time.Time

	next    atomic.Uint64 // next sequence number to send
	sendErr atomic.Uint64
	maxSeen atomic.Int64 // highest sequence number received, -1 none

	mu        sync.Mutex
	sentAt    []time.Duration // by sequence number, since start
	count     []uint8         // copies received, by sequence number
	stray     uint64          // datagrams not of this stream
	received  uint64          // first copies
	dups      uint64          // further copies
	reordered uint64          // arrivals below the highest seen so far
}

// streamResult is what a stream measured.
type streamResult struct {
	Name                  string
	Sent, Received        uint64
	Lost, Dups, Reordered uint64
	SendErrors            uint64
	// Gaps lists the runs of lost datagrams as "seq a-b at +t".
	Gaps []string
}

func (r streamResult) String() string {
	s := fmt.Sprintf("%s: %d sent, %d received, %d lost, %d duplicated, %d reordered, %d send errors",
		r.Name, r.Sent, r.Received, r.Lost, r.Dups, r.Reordered, r.SendErrors)
	if len(r.Gaps) > 0 {
		s += "; lost " + strings.Join(r.Gaps, ", ")
	}
	return s
}

// forceBuf sets a socket buffer beyond net.core.[rw]mem_max (we are root),
// so that a scheduling hiccup of the test process is not counted as loss.
func forceBuf(c *net.UDPConn, opt int, size int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, size)
	}); err != nil {
		return err
	}
	return serr
}

// startUDPStream sends rate datagrams per second of size bytes from
// srcIP in src to dstIP in dst until stop is called.
func startUDPStream(t *testing.T, name string, src *nstest.NS, srcIP string, dst *nstest.NS, dstIP string, rate, size int) *udpStream {
	t.Helper()
	s := &udpStream{
		name: name, rate: rate, size: size, tag: rand.Uint64(),
		stop: make(chan struct{}), sendDone: make(chan struct{}), recvDone: make(chan struct{}),
	}
	s.maxSeen.Store(-1)
	err := dst.Do(func() error {
		var err error
		s.rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(dstIP)})
		return err
	})
	if err != nil {
		t.Fatalf("stream %s: receiver in %s: %v", name, dst.Name, err)
	}
	t.Cleanup(func() { s.rx.Close() })
	err = src.Do(func() error {
		var err error
		s.tx, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(srcIP)}, s.rx.LocalAddr().(*net.UDPAddr))
		return err
	})
	if err != nil {
		t.Fatalf("stream %s: sender in %s: %v", name, src.Name, err)
	}
	t.Cleanup(func() { s.tx.Close() })
	must(t, forceBuf(s.rx, unix.SO_RCVBUFFORCE, 32<<20))
	must(t, forceBuf(s.tx, unix.SO_SNDBUFFORCE, 4<<20))
	s.start = time.Now()
	go s.receive()
	go s.send()
	t.Cleanup(func() { s.halt() })
	return s
}

func (s *udpStream) send() {
	defer close(s.sendDone)
	buf := make([]byte, s.size)
	binary.BigEndian.PutUint64(buf[8:], s.tag)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		// Catch up with the schedule: rate per second since start, so
		// a late tick sends a burst instead of lowering the rate.
		due := uint64(time.Since(s.start).Seconds() * float64(s.rate))
		for seq := s.next.Load(); seq < due; seq = s.next.Load() {
			binary.BigEndian.PutUint64(buf, seq)
			s.mu.Lock()
			s.sentAt = append(s.sentAt, time.Since(s.start))
			s.mu.Unlock()
			if _, err := s.tx.Write(buf); err != nil {
				// The sequence number is used up: a datagram the
				// kernel refused (no neighbour, no buffer) is lost.
				s.sendErr.Add(1)
			}
			s.next.Store(seq + 1)
		}
	}
}

func (s *udpStream) receive() {
	defer close(s.recvDone)
	buf := make([]byte, 65536)
	for {
		n, err := s.rx.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			return
		}
		s.mu.Lock()
		if n < 16 || binary.BigEndian.Uint64(buf[8:]) != s.tag {
			s.stray++
			s.mu.Unlock()
			continue
		}
		seq := int64(binary.BigEndian.Uint64(buf))
		for int64(len(s.count)) <= seq {
			s.count = append(s.count, 0)
		}
		switch s.count[seq] {
		case 0:
			s.received++
		default:
			s.dups++
		}
		if s.count[seq] < 255 {
			s.count[seq]++
		}
		if seq < s.maxSeen.Load() {
			s.reordered++
		} else {
			s.maxSeen.Store(seq)
		}
		s.mu.Unlock()
	}
}

// sentSoFar returns the next sequence number to be sent: a datagram with
// this number or more was sent after the call.
func (s *udpStream) sentSoFar() int64 { return int64(s.next.Load()) }

// arrivedAfter fails unless a datagram sent after seq arrives.
func (s *udpStream) waitArrivalAfter(t *testing.T, seq int64, what string) {
	t.Helper()
	nstest.Eventually(t, 10*time.Second, func() error {
		if m := s.maxSeen.Load(); m < seq {
			return fmt.Errorf("stream %s: nothing sent after %s arrived (highest seq %d, %s at %d)", s.name, what, m, what, seq)
		}
		return nil
	})
}

// halt stops the sender (idempotent).
func (s *udpStream) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.sendDone
}

// finish stops the stream, waits until nothing more arrives for a second
// (datagrams still in rings and queues are not lost) and returns the
// counts.
func (s *udpStream) finish() streamResult {
	s.halt()
	sent := s.next.Load()
	last := ^uint64(0)
	for {
		s.mu.Lock()
		got := s.received + s.dups
		s.mu.Unlock()
		if got == last || got >= sent {
			if got >= sent {
				// All may be in, but let duplicates show up too.
				time.Sleep(200 * time.Millisecond)
			}
			break
		}
		last = got
		time.Sleep(time.Second)
	}
	_ = s.rx.SetReadDeadline(time.Now())
	<-s.recvDone
	s.mu.Lock()
	defer s.mu.Unlock()
	r := streamResult{
		Name: s.name, Sent: sent, Received: s.received, Dups: s.dups,
		Reordered: s.reordered, SendErrors: s.sendErr.Load(),
	}
	r.Lost = sent - s.received
	// Runs of lost sequence numbers, for the log.
	for seq := uint64(0); seq < sent; {
		if seq < uint64(len(s.count)) && s.count[seq] > 0 {
			seq++
			continue
		}
		end := seq
		for end+1 < sent && (end+1 >= uint64(len(s.count)) || s.count[end+1] == 0) {
			end++
		}
		if len(r.Gaps) < 20 {
			r.Gaps = append(r.Gaps, fmt.Sprintf("seq %d-%d at +%v", seq, end, s.sentAt[seq].Round(time.Millisecond)))
		}
		seq = end + 1
	}
	return r
}

// elapsed is the time since the stream started, for logging events on the
// stream's clock.
func (s *udpStream) elapsed() time.Duration { return time.Since(s.start).Round(time.Millisecond) }

// prioritize gives every thread of the daemon the highest nice level (the
// Go runtime's later threads inherit it). Other engineers' tests share
// this 2-core machine; without it the daemon is sometimes not scheduled
// for more than the 64 ms its AF_PACKET rings hold (32 blocks retired
// every 2 ms), and the rings overflow whether or not a reload runs.
// That is a loss of this machine, not of the team, and it would make
// the comparison with the baseline a coin toss.
func (d *daemon) prioritize() {
	d.t.Helper()
	out, err := exec.Command("ip", "netns", "pids", d.tp.host.Name).Output()
	if err != nil {
		d.t.Fatalf("ip netns pids %s: %v", d.tp.host.Name, err)
	}
	found := false
	for _, pid := range strings.Fields(string(out)) {
		cmdline, err := os.ReadFile("/proc/" + pid + "/cmdline")
		if err != nil || !strings.Contains(string(cmdline), "\x00-c\x00"+d.cfg+"\x00") {
			continue
		}
		tasks, err := os.ReadDir("/proc/" + pid + "/task")
		if err != nil {
			d.t.Fatal(err)
		}
		for _, task := range tasks {
			tid, err := strconv.Atoi(task.Name())
			if err != nil {
				continue
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, -20); err != nil && !errors.Is(err, unix.ESRCH) {
				d.t.Fatalf("renice daemon thread %d: %v", tid, err)
			}
		}
		found = true
	}
	if !found {
		d.t.Fatalf("daemon with config %s not found among %s", d.cfg, out)
	}
}

// rxSample is what the kernel and the daemon counted as received on the
// daemon's ports (vm1 and the members): the difference over a run is
// what the daemon's AF_PACKET rings dropped because it did not read them
// in time. It tells a loss of the team from one of a starved daemon.
type rxSample struct{ kernel, daemon map[string]uint64 }

// rxSample reads both counters. At the start of a run the daemon's are
// read first, at the end the kernel's, so that frames arriving while the
// sample is taken can only make the drops look smaller, never invent one.
func (d *daemon) rxSample(end bool) rxSample {
	d.t.Helper()
	s := rxSample{kernel: map[string]uint64{}, daemon: map[string]uint64{}}
	readDaemon := func() {
		st := d.state()
		for _, v := range st.VNICs {
			s.daemon[v.Name] = v.RxPackets
		}
		for _, m := range st.Members {
			s.daemon[m.Name] = m.RxPackets
		}
	}
	readKernel := func(names []string) {
		for _, name := range names {
			out := d.tp.host.MustRun(d.t, "ip", "-s", "-j", "link", "show", name)
			var v []struct {
				Stats64 struct {
					Rx struct{ Packets uint64 } `json:"rx"`
				} `json:"stats64"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
				d.t.Fatalf("ip -s -j link show %s: %v\n%s", name, err, out)
			}
			s.kernel[name] = v[0].Stats64.Rx.Packets
		}
	}
	if !end {
		readDaemon()
		readKernel(slices.Sorted(maps.Keys(s.daemon)))
		return s
	}
	st := d.state()
	names := []string{}
	for _, v := range st.VNICs {
		names = append(names, v.Name)
	}
	for _, m := range st.Members {
		names = append(names, m.Name)
	}
	readKernel(names)
	readDaemon()
	return s
}

// ringDrops returns the frames the kernel received on the team's ports
// and the daemon never read, per port in both samples (vm1 alone if
// members changed: a member's counters restart when it is re-added), and
// their total.
func ringDrops(a, b rxSample) (string, int64) {
	var parts []string
	var total int64
	for _, name := range slices.Sorted(maps.Keys(b.daemon)) {
		if _, ok := a.daemon[name]; !ok || b.daemon[name] < a.daemon[name] {
			continue
		}
		if name != "vm1" && !slices.Equal(slices.Sorted(maps.Keys(a.daemon)), slices.Sorted(maps.Keys(b.daemon))) {
			continue // members came and went: their counters restarted
		}
		n := int64(b.kernel[name]-a.kernel[name]) - int64(b.daemon[name]-a.daemon[name])
		parts = append(parts, fmt.Sprintf("%s %d", name, n))
		total += max(n, 0)
	}
	return strings.Join(parts, ", "), total
}
