//go:build linux

package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/internal/udpprobe"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// udpStream is a udpprobe.Stream (a paced, sequence-numbered UDP stream
// whose receiver counts every sequence number, so lost, duplicated and
// reordered datagrams are exact, unlike ping or iperf3) tied to a test.
type udpStream struct {
	*udpprobe.Stream
	name string
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

// startUDPStream sends rate datagrams per second of size bytes from
// srcIP in src to dstIP in dst until halt or finish; the sockets close
// at the end of the test.
func startUDPStream(t *testing.T, name string, src *nstest.NS, srcIP string, dst *nstest.NS, dstIP string, rate, size int) *udpStream {
	t.Helper()
	st, err := udpprobe.Open(&src.NS, srcIP, &dst.NS, dstIP, rate, size)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	t.Cleanup(st.Close)
	st.Start()
	t.Cleanup(st.Halt)
	return &udpStream{Stream: st, name: name}
}

// sentSoFar returns the next sequence number to be sent: a datagram with
// this number or more was sent after the call.
func (s *udpStream) sentSoFar() int64 { return int64(s.SentSoFar()) }

// waitArrivalAfter fails unless a datagram sent after seq arrives.
func (s *udpStream) waitArrivalAfter(t *testing.T, seq int64, what string) {
	t.Helper()
	nstest.Eventually(t, 10*time.Second, func() error {
		if m := s.MaxSeen(); m < seq {
			return fmt.Errorf("stream %s: nothing sent after %s arrived (highest seq %d, %s at %d)", s.name, what, m, what, seq)
		}
		return nil
	})
}

// halt stops the sender (idempotent).
func (s *udpStream) halt() { s.Halt() }

// finish stops the stream, waits until nothing more arrives for a second
// (datagrams still in rings and queues are not lost) and returns the
// counts.
func (s *udpStream) finish() streamResult {
	c := s.Finish(time.Second, 0)
	r := streamResult{Name: s.name, Sent: c.Sent, Received: c.Received, Lost: c.Lost, Dups: c.Duplicated,
		Reordered: c.Reordered, SendErrors: c.SendErrors}
	for _, g := range udpprobe.Runs(s.Lost(), 20) {
		r.Gaps = append(r.Gaps, fmt.Sprintf("seq %d-%d at +%v", g[0], g[1], s.SentAt(g[0]).Round(time.Millisecond)))
	}
	return r
}

// elapsed is the time since the stream started, for logging events on the
// stream's clock.
func (s *udpStream) elapsed() time.Duration { return s.Elapsed().Round(time.Millisecond) }

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
