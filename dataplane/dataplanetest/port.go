// Package dataplanetest provides an in-memory dataplane.Port for tests of
// the team, the switch and the protocols: frames are injected as if they
// had arrived on the wire, and what the team transmits is collected. It
// also writes frames to pcap files and runs tshark on them, so codec
// tests can have Wireshark's dissectors read what they build.
//
// For the tests of the real Ports (afpacket, afxdp, tap) it has what they
// share: marked test frames (Frame, FrameID), reading until the marked
// frames arrived (Collect), writing whole lists (WriteAll), a two-way
// forwarder (Forward) and the forwarding benchmark (BenchForward). The
// namespaces those tests run in come from test/nstest, which each
// privileged package's tests import themselves (the Makefile derives the
// privileged tier from those imports).
package dataplanetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Port is a fake dataplane.Port. It is safe for concurrent use.
type Port struct {
	name string

	mu      sync.Mutex
	cond    *sync.Cond
	rx      [][]byte // frames waiting to be Read (with virtio header)
	tx      [][]byte // frames written (with virtio header)
	closed  bool
	failTx  error
	written int
	idle    bool // a reader waits in Read for frames
	txq     func() int
}

var (
	_ dataplane.Port     = (*Port)(nil)
	_ dataplane.TxQueuer = (*Port)(nil)
)

// NewPort returns an open fake port.
func NewPort(name string) *Port {
	p := &Port{name: name}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// Name implements dataplane.Port.
func (p *Port) Name() string { return p.name }

// Inject queues an Ethernet frame (no virtio header) to be read, as if it
// had been received.
func (p *Port) Inject(eth []byte) {
	f := make([]byte, dataplane.VnetHdrLen+len(eth))
	copy(f[dataplane.VnetHdrLen:], eth)
	p.InjectRaw(f)
}

// InjectRaw queues a frame that already has its virtio header.
func (p *Port) InjectRaw(frame []byte) {
	p.mu.Lock()
	p.rx = append(p.rx, frame)
	p.mu.Unlock()
	p.cond.Broadcast()
}

// Read implements dataplane.Port.
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.rx) == 0 && !p.closed {
		p.idle = true
		p.cond.Broadcast()
		p.cond.Wait()
		p.idle = false
	}
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	n := 0
	for n < len(frames) && len(p.rx) > 0 {
		sizes[n] = copy(frames[n], p.rx[0])
		p.rx = p.rx[1:]
		n++
	}
	p.cond.Broadcast()
	return n, nil
}

// Write implements dataplane.Port: frames are copied and kept.
func (p *Port) Write(frames [][]byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, dataplane.ErrClosed
	}
	if p.failTx != nil {
		return 0, p.failTx
	}
	for _, f := range frames {
		p.tx = append(p.tx, append([]byte(nil), f...))
	}
	p.written += len(frames)
	p.cond.Broadcast()
	return len(frames), nil
}

// Close implements dataplane.Port.
func (p *Port) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
	return nil
}

// Closed reports whether Close was called.
func (p *Port) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// SetTxQueue makes TxQueued return q() (nil: errors.ErrUnsupported, the
// default), so tests can script a member's transmit queue.
func (p *Port) SetTxQueue(q func() int) {
	p.mu.Lock()
	p.txq = q
	p.mu.Unlock()
}

// TxQueued implements dataplane.TxQueuer with the function SetTxQueue set.
func (p *Port) TxQueued() (int, error) {
	p.mu.Lock()
	q := p.txq
	p.mu.Unlock()
	if q == nil {
		return 0, errors.ErrUnsupported
	}
	return q(), nil
}

// FailWrites makes every following Write fail with err (nil: succeed).
func (p *Port) FailWrites(err error) {
	p.mu.Lock()
	p.failTx = err
	p.mu.Unlock()
}

// Sent returns (and forgets) the Ethernet frames written so far, without
// their virtio headers.
func (p *Port) Sent() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]byte, len(p.tx))
	for i, f := range p.tx {
		out[i] = f[dataplane.VnetHdrLen:]
	}
	p.tx = nil
	return out
}

// SentRaw is Sent with the virtio headers kept.
func (p *Port) SentRaw() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.tx
	p.tx = nil
	return out
}

// WaitSent waits until at least n frames are waiting in Sent, or fails
// after timeout (a liveness bound for tests, not a performance check).
func (p *Port) WaitSent(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, p.cond.Broadcast)
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.tx) < n {
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s: %d frames sent, want %d", p.name, len(p.tx), n)
		}
		p.cond.Wait()
	}
	return nil
}

// WaitIdle waits until every injected frame has been read and the reader
// is back in Read, waiting for more: whatever it did with the frames
// (its batch) is done.
func (p *Port) WaitIdle(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, p.cond.Broadcast)
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for (len(p.rx) > 0 || !p.idle) && !p.closed {
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s: reader not idle (%d frames not read)", p.name, len(p.rx))
		}
		p.cond.Wait()
	}
	return nil
}

// WaitDrained waits until every injected frame has been read.
func (p *Port) WaitDrained(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	t := time.AfterFunc(timeout, p.cond.Broadcast)
	defer t.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.rx) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("port %s: %d frames not read", p.name, len(p.rx))
		}
		p.cond.Wait()
	}
	return nil
}
