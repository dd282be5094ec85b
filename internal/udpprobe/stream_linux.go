//go:build linux

package udpprobe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

// Stream is one probe stream. Open it, Start it, Finish it.
type Stream struct {
	rate, size int
	tag        uint64
	tx, rx     *net.UDPConn
	start      time.Time

	stop     chan struct{}
	sendDone chan struct{}
	recvDone chan struct{}
	started  bool

	next    atomic.Uint64 // next sequence number to send
	sendErr atomic.Uint64
	maxSeen atomic.Int64 // highest sequence number received, -1 none

	mu        sync.Mutex
	sentAt    []time.Duration // by sequence number, since Start
	count     []uint8         // copies received, by sequence number
	stray     uint64          // datagrams not of this stream
	received  uint64          // first copies
	dups      uint64          // further copies
	reordered uint64          // arrivals below the highest seen so far
	maxDisp   uint64          // largest (highest so far - seq) of a reordered arrival
	lost      []uint64        // set by Finish
}

// Counts is what a stream measured.
type Counts struct {
	Sent       uint64 `json:"sent"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Duplicated uint64 `json:"duplicated"`
	Reordered  uint64 `json:"reordered"`
	// MaxDisplacement is how many sequence numbers the most late
	// datagram arrived behind the highest one already received.
	MaxDisplacement uint64 `json:"max_displacement"`
	// SendErrors are datagrams the sender's kernel refused (no
	// neighbour, no buffer): counted as sent and lost.
	SendErrors uint64 `json:"send_errors"`
	// Stray datagrams arrived on the port without the stream's tag.
	Stray uint64 `json:"-"`
}

// Open opens both sockets of a stream of rate datagrams per second of
// size bytes (UDP payload, at least 16) from srcIP in snd to dstIP in
// rcv. Socket buffers are forced beyond net.core.[rw]mem_max (root): a
// scheduling hiccup of the caller is not loss on the path.
func Open(snd *testbed.NS, srcIP string, rcv *testbed.NS, dstIP string, rate, size int) (*Stream, error) {
	s := &Stream{rate: rate, size: max(size, 16), tag: rand.Uint64(),
		stop: make(chan struct{}), sendDone: make(chan struct{}), recvDone: make(chan struct{})}
	s.maxSeen.Store(-1)
	if err := rcv.Do(func() (err error) {
		s.rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(dstIP)})
		return err
	}); err != nil {
		return nil, fmt.Errorf("probe receiver in %s: %w", rcv.Name, err)
	}
	if err := snd.Do(func() (err error) {
		s.tx, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(srcIP)}, s.rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		s.rx.Close()
		return nil, fmt.Errorf("probe sender in %s: %w", snd.Name, err)
	}
	if err := forceBuf(s.rx, unix.SO_RCVBUFFORCE, 32<<20); err != nil {
		s.Close()
		return nil, err
	}
	if err := forceBuf(s.tx, unix.SO_SNDBUFFORCE, 4<<20); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
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

// Start starts receiving and sending; the schedule's clock starts now.
func (s *Stream) Start() {
	s.start = time.Now()
	s.started = true
	go s.receive()
	go s.send()
}

// Ports are the stream's UDP source and destination ports.
func (s *Stream) Ports() (src, dst int) {
	return s.tx.LocalAddr().(*net.UDPAddr).Port, s.rx.LocalAddr().(*net.UDPAddr).Port
}

// Tag is the stream's tag, the second 8 bytes of each datagram.
func (s *Stream) Tag() uint64 { return s.tag }

// SentSoFar is the next sequence number to be sent: a datagram with this
// number or more is sent after the call.
func (s *Stream) SentSoFar() uint64 { return s.next.Load() }

// MaxSeen is the highest sequence number received (-1: none yet).
func (s *Stream) MaxSeen() int64 { return s.maxSeen.Load() }

// Elapsed is the time since Start, the stream's clock.
func (s *Stream) Elapsed() time.Duration { return time.Since(s.start) }

// ScheduledAt is when the schedule sends seq, since Start (the sender
// keeps to it within a tick).
func (s *Stream) ScheduledAt(seq uint64) time.Duration {
	return time.Duration(float64(seq) / float64(s.rate) * float64(time.Second))
}

// SentAt is when seq was handed to the kernel, since Start.
func (s *Stream) SentAt(seq uint64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq < uint64(len(s.sentAt)) {
		return s.sentAt[seq]
	}
	return 0
}

// Rate is the stream's datagrams per second.
func (s *Stream) Rate() int { return s.rate }

func (s *Stream) send() {
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
		due := uint64(time.Since(s.start).Seconds() * float64(s.rate))
		for seq := s.next.Load(); seq < due; seq = s.next.Load() {
			binary.BigEndian.PutUint64(buf, seq)
			s.mu.Lock()
			s.sentAt = append(s.sentAt, time.Since(s.start))
			s.mu.Unlock()
			if _, err := s.tx.Write(buf); err != nil {
				s.sendErr.Add(1) // the sequence number is used up: lost
			}
			s.next.Store(seq + 1)
		}
	}
}

func (s *Stream) receive() {
	defer close(s.recvDone)
	buf := make([]byte, 65536)
	for {
		n, err := s.rx.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue
			}
			return // closed or past the deadline Finish set
		}
		s.mu.Lock()
		if n < 16 || binary.BigEndian.Uint64(buf[8:]) != s.tag {
			s.stray++
			s.mu.Unlock()
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		for uint64(len(s.count)) <= seq {
			s.count = append(s.count, 0)
		}
		if s.count[seq] == 0 {
			s.received++
		} else {
			s.dups++
		}
		if s.count[seq] < 255 {
			s.count[seq]++
		}
		if m := s.maxSeen.Load(); int64(seq) < m {
			s.reordered++
			s.maxDisp = max(s.maxDisp, uint64(m)-seq)
		} else {
			s.maxSeen.Store(int64(seq))
		}
		s.mu.Unlock()
	}
}

// Halt stops the sender (idempotent).
func (s *Stream) Halt() {
	if !s.started {
		return
	}
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.sendDone
}

// Finish stops sending, waits until nothing more has arrived for quiet
// (datagrams still in rings and queues are not lost; limit bounds the
// wait, 0: no bound), stops receiving and returns the counts. Close
// still has to be called.
func (s *Stream) Finish(quiet, limit time.Duration) Counts {
	s.Halt()
	sent := s.next.Load()
	last, since := ^uint64(0), time.Now()
	for deadline := time.Now().Add(limit); limit == 0 || time.Now().Before(deadline); {
		s.mu.Lock()
		got := s.received + s.dups
		s.mu.Unlock()
		if got >= sent {
			time.Sleep(200 * time.Millisecond) // all in: let duplicates show
			break
		}
		if got != last {
			last, since = got, time.Now()
		} else if time.Since(since) >= quiet {
			break
		}
		time.Sleep(min(50*time.Millisecond, quiet))
	}
	if s.started {
		_ = s.rx.SetReadDeadline(time.Now())
		<-s.recvDone
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost = s.lost[:0]
	for seq := uint64(0); seq < sent; seq++ {
		if seq >= uint64(len(s.count)) || s.count[seq] == 0 {
			s.lost = append(s.lost, seq)
		}
	}
	return Counts{Sent: sent, Received: s.received, Lost: sent - s.received, Duplicated: s.dups,
		Reordered: s.reordered, MaxDisplacement: s.maxDisp, SendErrors: s.sendErr.Load(), Stray: s.stray}
}

// Lost are the sequence numbers Finish found missing, in order.
func (s *Stream) Lost() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.lost...)
}

// Close closes both sockets.
func (s *Stream) Close() {
	if s.tx != nil {
		s.tx.Close()
	}
	if s.rx != nil {
		s.rx.Close()
	}
}
