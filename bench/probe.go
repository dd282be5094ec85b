//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

// probe is a paced, sequence-numbered UDP stream from a socket in the
// sender's namespace to one in the receiver's. The receiver counts every
// sequence number, so loss, duplicates and reordering are exact (iperf3
// sees neither duplicates nor how far a datagram was displaced).
//
// The sender wakes every millisecond and sends what the schedule says is
// due, so the stream leaves in bursts a millisecond apart: at the default
// flowlet_gap (500µs) every burst may start a new flowlet, the worst case
// for reordering under balance: dynamic.
//
// Each datagram carries its sequence number (8 bytes) and the stream's
// random tag (8 bytes); anything else arriving on the port is ignored.
type probe struct {
	rate, size int
	tag        uint64
	tx, rx     *net.UDPConn
	start      time.Time

	stop     chan struct{}
	sendDone chan struct{}
	recvDone chan struct{}

	next    atomic.Uint64 // next sequence number to send
	sendErr atomic.Uint64

	mu        sync.Mutex
	seen      []bool // by sequence number
	received  uint64 // first copies
	dups      uint64 // further copies
	reordered uint64 // arrivals below the highest sequence number so far
	maxDisp   uint64 // largest (highest so far - seq) of a reordered arrival
	maxSeen   int64
	lost      []uint64 // set by finish
	sent      uint64   // set by finish
}

// ProbeCounts is what a probe measured.
type ProbeCounts struct {
	Sent       uint64 `json:"sent"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	// MaxDisplacement is how many sequence numbers the most late
	// datagram arrived behind the highest one already received.
	MaxDisplacement uint64 `json:"max_displacement"`
	// SendErrors are datagrams the sender's kernel refused (counted as
	// sent and lost).
	SendErrors uint64 `json:"send_errors"`
	// LossRuns are the first runs of lost sequence numbers, "a-b @t"
	// with t the scheduled send time of a in seconds since the start.
	LossRuns []string `json:"loss_runs"`
}

func (c ProbeCounts) String() string {
	return fmt.Sprintf("%d sent, %d lost, %d dup, %d reordered (max %d behind), %d send errors",
		c.Sent, c.Lost, c.Duplicated, c.Reordered, c.MaxDisplacement, c.SendErrors)
}

// openProbe opens both sockets for a stream of rate datagrams per second
// of size bytes (UDP payload); run starts it. Call finish.
func openProbe(snd *testbed.NS, srcIP string, rcv *testbed.NS, dstIP string, rate, size int) (*probe, error) {
	if size < 16 {
		size = 16
	}
	pr := &probe{rate: rate, size: size, tag: rand.Uint64(), maxSeen: -1,
		stop: make(chan struct{}), sendDone: make(chan struct{}), recvDone: make(chan struct{})}
	if err := rcv.Do(func() (err error) {
		pr.rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(dstIP)})
		return err
	}); err != nil {
		return nil, fmt.Errorf("probe receiver: %w", err)
	}
	if err := snd.Do(func() (err error) {
		pr.tx, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(srcIP)}, pr.rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		pr.rx.Close()
		return nil, fmt.Errorf("probe sender: %w", err)
	}
	// Beyond net.core.[rw]mem_max (we are root): a scheduling hiccup of
	// this process on a busy machine is not loss on the path.
	if err := forceBuf(pr.rx, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
		pr.close()
		return nil, err
	}
	if err := forceBuf(pr.tx, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
		pr.close()
		return nil, err
	}
	return pr, nil
}

// run starts receiving and sending.
func (pr *probe) run() {
	pr.start = time.Now()
	go pr.receive()
	go pr.send()
}

// ports are the stream's UDP source and destination ports.
func (pr *probe) ports() (src, dst int) {
	return pr.tx.LocalAddr().(*net.UDPAddr).Port, pr.rx.LocalAddr().(*net.UDPAddr).Port
}

func forceBuf(c *net.UDPConn, opt, size int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, size) }); err != nil {
		return err
	}
	return serr
}

func (pr *probe) send() {
	defer close(pr.sendDone)
	buf := make([]byte, pr.size)
	binary.BigEndian.PutUint64(buf[8:], pr.tag)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case <-tick.C:
		}
		// Catch up with the schedule: a late tick sends a bigger burst
		// instead of lowering the rate.
		due := uint64(time.Since(pr.start).Seconds() * float64(pr.rate))
		for seq := pr.next.Load(); seq < due; seq++ {
			binary.BigEndian.PutUint64(buf, seq)
			if _, err := pr.tx.Write(buf); err != nil {
				pr.sendErr.Add(1) // the number is used up: lost
			}
			pr.next.Store(seq + 1)
		}
	}
}

func (pr *probe) receive() {
	defer close(pr.recvDone)
	buf := make([]byte, 65536)
	for {
		n, err := pr.rx.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			return // closed or deadline: finish
		}
		if n < 16 || binary.BigEndian.Uint64(buf[8:]) != pr.tag {
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		pr.mu.Lock()
		for uint64(len(pr.seen)) <= seq {
			pr.seen = append(pr.seen, false)
		}
		if pr.seen[seq] {
			pr.dups++
		} else {
			pr.seen[seq] = true
			pr.received++
		}
		if int64(seq) < pr.maxSeen {
			pr.reordered++
			pr.maxDisp = max(pr.maxDisp, uint64(pr.maxSeen)-seq)
		} else {
			pr.maxSeen = int64(seq)
		}
		pr.mu.Unlock()
	}
}

func (pr *probe) halt() {
	select {
	case <-pr.stop:
	default:
		close(pr.stop)
	}
	<-pr.sendDone
}

// finish stops sending, waits until nothing more arrives for 300ms (what
// is still in rings and queues is not lost; 3s at most), closes the
// sockets and returns the counts.
func (pr *probe) finish() ProbeCounts {
	pr.halt()
	sent := pr.next.Load()
	last, quiet := ^uint64(0), time.Now()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		pr.mu.Lock()
		got := pr.received + pr.dups
		pr.mu.Unlock()
		if got >= sent {
			time.Sleep(200 * time.Millisecond) // let duplicates show
			break
		}
		if got != last {
			last, quiet = got, time.Now()
		} else if time.Since(quiet) > 300*time.Millisecond {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = pr.rx.SetReadDeadline(time.Now())
	<-pr.recvDone
	pr.close()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	c := ProbeCounts{Sent: sent, Received: pr.received, Lost: sent - pr.received,
		Duplicated: pr.dups, Reordered: pr.reordered, MaxDisplacement: pr.maxDisp,
		SendErrors: pr.sendErr.Load(), LossRuns: []string{}}
	pr.sent = sent
	pr.lost = pr.lost[:0]
	for seq := uint64(0); seq < sent; seq++ {
		if seq >= uint64(len(pr.seen)) || !pr.seen[seq] {
			pr.lost = append(pr.lost, seq)
		}
	}
	for i := 0; i < len(pr.lost) && len(c.LossRuns) < maxLossRuns; {
		j := i
		for j+1 < len(pr.lost) && pr.lost[j+1] == pr.lost[j]+1 {
			j++
		}
		c.LossRuns = append(c.LossRuns, fmt.Sprintf("%d-%d @%.3fs", pr.lost[i], pr.lost[j], pr.sendTime(pr.lost[i]).Seconds()))
		i = j + 1
	}
	return c
}

// maxLossRuns bounds ProbeCounts.LossRuns.
const maxLossRuns = 10

// sendTime is when the schedule sent seq, since the start (the sender
// keeps to it within a tick).
func (pr *probe) sendTime(seq uint64) time.Duration {
	return time.Duration(float64(seq) / float64(pr.rate) * float64(time.Second))
}

// lossSplit is a part of the stream: datagrams sent, and where the lost
// ones were lost: before the switch (never seen at its ports facing the
// members: in the VM's veth or the team), in the switch (seen there, never
// at the receiver's interface: Open vSwitch, its veth to the receiver) or
// at the receiver (seen on its interface, never read from the socket).
type lossSplit struct {
	Sent             uint64 `json:"sent"`
	LostBeforeSwitch uint64 `json:"lost_before_switch"`
	LostInSwitch     uint64 `json:"lost_in_switch"`
	LostAtReceiver   uint64 `json:"lost_at_receiver"`
}

func (l *lossSplit) add(o lossSplit) {
	l.Sent += o.Sent
	l.LostBeforeSwitch += o.LostBeforeSwitch
	l.LostInSwitch += o.LostInSwitch
	l.LostAtReceiver += o.LostAtReceiver
}

// split counts, after finish, the datagrams scheduled in [from, to) and
// where the lost ones were lost; atSwitch and atReceiver say which
// reached the switch and the receiver's interface.
func (pr *probe) split(atSwitch, atReceiver func(seq uint64) bool, from, to time.Duration) lossSplit {
	lo := uint64(max(0, math.Ceil(from.Seconds()*float64(pr.rate))))
	hi := min(uint64(max(0, math.Ceil(to.Seconds()*float64(pr.rate)))), pr.sent)
	var l lossSplit
	if hi > lo {
		l.Sent = hi - lo
	}
	for _, seq := range pr.lost {
		switch {
		case seq < lo || seq >= hi:
		case atReceiver(seq):
			l.LostAtReceiver++
		case atSwitch(seq):
			l.LostInSwitch++
		default:
			l.LostBeforeSwitch++
		}
	}
	return l
}

// elapsed is the time since the stream started.
func (pr *probe) elapsed() time.Duration { return time.Since(pr.start) }

func (pr *probe) close() {
	if pr.tx != nil {
		pr.tx.Close()
	}
	if pr.rx != nil {
		pr.rx.Close()
	}
}
