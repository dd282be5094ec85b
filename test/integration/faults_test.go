//go:build linux

package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/test/nstest"
)

// seqCounter counts, by sequence number, the frames of one ethertype and
// tag that a raw socket receives, until stopped.
type seqCounter struct {
	fd   int
	tag  byte
	mu   sync.Mutex
	got  map[uint32]int
	done chan struct{}
	stop chan struct{}
}

func countSeqs(t *testing.T, fd int, tag byte) *seqCounter {
	t.Helper()
	// Deep enough for a few seconds of small frames should the reader
	// fall behind; a drop here would look like loss, never a duplicate.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	c := &seqCounter{fd: fd, tag: tag, got: map[uint32]int{}, done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(c.done)
		buf := make([]byte, 2048)
		for {
			select {
			case <-c.stop:
				return
			default:
			}
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			if n >= 19 && buf[14] == tag {
				c.mu.Lock()
				c.got[binary.BigEndian.Uint32(buf[15:19])]++
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(c.halt)
	return c
}

func (c *seqCounter) halt() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// result returns how many distinct sequence numbers arrived and how many
// arrived more than once.
func (c *seqCounter) result() (distinct, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.got {
		distinct++
		if n > 1 {
			dups += n - 1
		}
	}
	return distinct, dups
}

// TestBroadcastOnceAcrossFailover: the peer sends about 2000 numbered
// broadcasts per second while the home member loses carrier and gets it
// back, three times; the bridge floods each to both members. The VM must
// never receive one twice (issue 14: 44-151 duplicates per run before).
func TestBroadcastOnceAcrossFailover(t *testing.T) {
	tp := newTopo(t)
	d := tp.start(t, tp.config(siHyperV))
	pingOK(t, tp.peer, "10.77.0.1")
	const etype, tag = 0x88b5, 0xb3
	vmFD := rawSocket(t, tp.vm, "eth0", etype)
	peerFD := rawSocket(t, tp.peer, "eth0", etype)
	cnt := countSeqs(t, vmFD, tag)
	peerMAC, _ := net.ParseMAC("02:00:00:77:00:02")
	bcast, _ := net.ParseMAC("ff:ff:ff:ff:ff:ff")

	stop := make(chan struct{})
	sent := make(chan uint32, 1)
	go func() {
		fr := ethFrame(bcast, peerMAC, etype, tag)
		var seq uint32
		start := time.Now()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				sent <- seq
				return
			case <-tick.C:
			}
			// 2000/s on average, however late the ticker is.
			for due := uint32(time.Since(start) / (500 * time.Microsecond)); seq < due; {
				binary.BigEndian.PutUint32(fr[15:19], seq)
				if _, err := unix.Write(peerFD, fr); err != nil {
					break
				}
				seq++
			}
		}
	}()
	home := func(want string) func() error {
		return func() error {
			if h := d.vnicHome("vm1"); h != want {
				return fmt.Errorf("vm1 home %q, want %s", h, want)
			}
			return nil
		}
	}
	time.Sleep(500 * time.Millisecond)
	for i := 0; i < 3; i++ {
		tp.sw.MustRun(t, "ip", "link", "set", "p1", "down")
		nstest.Eventually(t, 5*time.Second, home("m2"))
		time.Sleep(300 * time.Millisecond)
		tp.sw.MustRun(t, "ip", "link", "set", "p1", "up")
		nstest.Eventually(t, 5*time.Second, home("m1"))
		time.Sleep(300 * time.Millisecond)
	}
	close(stop)
	n := <-sent
	time.Sleep(300 * time.Millisecond)
	cnt.halt()
	distinct, dups := cnt.result()
	st := d.state()
	t.Logf("%d broadcasts sent over 3 failovers and failbacks: %d received, %d duplicates, %d lost; vnic moves %d, dropped as duplicates %d",
		n, distinct, dups, int(n)-distinct, st.Counters.VNICMoves, st.Counters.RxDroppedDupBroadcast)
	if dups != 0 {
		t.Errorf("the VM received %d broadcasts twice", dups)
	}
	if st.Counters.VNICMoves < 6 {
		t.Errorf("vnic_moves = %d, want 6 (3 failovers, 3 failbacks)", st.Counters.VNICMoves)
	}
	if distinct < int(n)/2 {
		t.Errorf("only %d of %d broadcasts reached the VM", distinct, n)
	}
}
