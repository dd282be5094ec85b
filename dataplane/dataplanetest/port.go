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
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

	// The frames ReadLoan lent (slots of arena), owned by the reader.
	arena    [][]byte
	lent     int
	modified atomic.Int64
}

var (
	_ dataplane.Port     = (*Port)(nil)
	_ dataplane.TxQueuer = (*Port)(nil)
	_ dataplane.Loaner   = (*Port)(nil)
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

// waitRx waits, with p.mu held, until a frame is queued or p is closed,
// and reports whether one is (false: closed). While it waits the Port
// is idle (see WaitIdle).
func (p *Port) waitRx() bool {
	for len(p.rx) == 0 && !p.closed {
		p.idle = true
		p.cond.Broadcast()
		p.cond.Wait()
		p.idle = false
	}
	return !p.closed
}

// Read implements dataplane.Port.
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.waitRx() {
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

// ReadLoan implements dataplane.Loaner the way an AF_XDP port does: the
// frames are lent in the fake's own memory (each a slot with room behind
// the frame for a pushed VLAN tag), not copied into the caller's buffers.
// Release poisons that memory (every byte 0xdb), so a reader that kept a
// lent frame past Release reads garbage, and counts the lent frames that
// were written to a fake Port and changed afterwards, before Release
// (ModifiedAfterWrite): a Port that sends a lent frame by reference
// (AF_XDP's shared UMEM) would have sent the change.
func (p *Port) ReadLoan(frames [][]byte, sizes []int) (int, error) {
	if p.lent != 0 {
		panic("dataplanetest: ReadLoan before Release")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.waitRx() {
		return 0, dataplane.ErrClosed
	}
	if p.arena == nil {
		p.arena = make([][]byte, dataplane.BatchSize)
		for i := range p.arena {
			p.arena[i] = make([]byte, dataplane.MaxFrame+4)
		}
	}
	n := 0
	for n < len(frames) && n < len(sizes) && n < len(p.arena) && len(p.rx) > 0 {
		sizes[n] = copy(p.arena[n], p.rx[0])
		frames[n] = p.arena[n]
		lend(p.arena[n])
		p.rx = p.rx[1:]
		n++
	}
	p.lent = n
	p.cond.Broadcast()
	return n, nil
}

// Release implements dataplane.Loaner (see ReadLoan).
func (p *Port) Release() {
	for _, slot := range p.arena[:p.lent] {
		p.modified.Add(int64(giveBack(slot)))
		for i := range slot {
			slot[i] = 0xdb
		}
	}
	p.lent = 0
}

// ModifiedAfterWrite returns how many frames this port lent were changed
// after being written to a Port (see ReadLoan).
func (p *Port) ModifiedAfterWrite() int { return int(p.modified.Load()) }

// loans are the frames fake Ports lent, by the address of their first
// byte, with what was written of each: a frame written to a Port starts
// where it was lent (a tag pushed or popped in place keeps its start).
var loans = struct {
	sync.Mutex
	m map[*byte]*loan
}{m: map[*byte]*loan{}}

type loan struct {
	refs, snaps [][]byte // the frames written, and their bytes then
}

func lend(slot []byte) {
	loans.Lock()
	loans.m[&slot[0]] = &loan{}
	loans.Unlock()
}

// noteWrite remembers f's bytes as written (c) if f is a lent frame.
func noteWrite(f, c []byte) {
	if len(f) == 0 {
		return
	}
	loans.Lock()
	if l := loans.m[&f[0]]; l != nil {
		l.refs, l.snaps = append(l.refs, f), append(l.snaps, c)
	}
	loans.Unlock()
}

// giveBack forgets a lent slot and returns how many of its writes no
// longer match the frame.
func giveBack(slot []byte) int {
	loans.Lock()
	defer loans.Unlock()
	l := loans.m[&slot[0]]
	delete(loans.m, &slot[0])
	if l == nil {
		return 0
	}
	bad := 0
	for i, r := range l.refs {
		if !bytes.Equal(r, l.snaps[i]) {
			bad++
		}
	}
	return bad
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
		c := append([]byte(nil), f...)
		p.tx = append(p.tx, c)
		noteWrite(f, c)
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
