//go:build linux

package daemon

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/link"
)

type plainPort struct{ dataplane.Port }

type queuingPort struct{ plainPort }

func (queuingPort) TxQueued() (int, error) { return 1234, nil }

// TestWrapKeepsTxQueuer: the wrapper that restores a taken interface keeps
// the socket's transmit-queue reading visible (flowlet_gap: auto reads it
// through dataplane.TxQueuer; an embedded interface hides it), and adds
// none to a port that has none.
func TestWrapKeepsTxQueuer(t *testing.T) {
	q, ok := wrap(queuingPort{}, &link.Taken{}).(dataplane.TxQueuer)
	if !ok {
		t.Fatal("wrapped AF_PACKET-like port lost TxQueued")
	}
	if n, err := q.TxQueued(); n != 1234 || err != nil {
		t.Errorf("TxQueued = %d, %v; want 1234, nil", n, err)
	}
	if _, ok := wrap(plainPort{}, &link.Taken{}).(dataplane.TxQueuer); ok {
		t.Error("a port without a transmit queue reading got one")
	}
}

type lendingFake struct {
	queuingPort
	released *int
}

func (lendingFake) ReadLoan(frames [][]byte, sizes []int) (int, error) {
	frames[0], sizes[0] = []byte("lent"), 4
	return 1, nil
}
func (l lendingFake) Release() { *l.released++ }

// TestWrapKeepsLoaner: an AF_XDP-like port that lends its frames keeps
// ReadLoan and Release through the wrapper (the team reads a port
// without them by copying), and its TxQueued; a port that does not lend
// gets no ReadLoan.
func TestWrapKeepsLoaner(t *testing.T) {
	var released int
	w := wrap(lendingFake{released: &released}, &link.Taken{})
	l, ok := w.(dataplane.Loaner)
	if !ok {
		t.Fatal("wrapped AF_XDP-like port lost ReadLoan")
	}
	frames, sizes := make([][]byte, 1), make([]int, 1)
	if n, err := l.ReadLoan(frames, sizes); n != 1 || err != nil || string(frames[0]) != "lent" {
		t.Errorf("ReadLoan = %d, %v, %q; want the port's lent frame", n, err, frames[0])
	}
	l.Release()
	if released != 1 {
		t.Errorf("Release reached the port %d times, want 1", released)
	}
	if q, ok := w.(dataplane.TxQueuer); !ok {
		t.Error("wrapped lending port lost TxQueued")
	} else if n, _ := q.TxQueued(); n != 1234 {
		t.Errorf("TxQueued = %d, want 1234", n)
	}
	if _, ok := wrap(queuingPort{}, &link.Taken{}).(dataplane.Loaner); ok {
		t.Error("a port that does not lend got ReadLoan")
	}
}

type readyQueuingPort struct{ queuingPort }

func (readyQueuingPort) Ready() bool { return true }

// TestWrapKeepsReadier: the wrapper keeps the sockets' readiness check
// visible too (without it the team's readers never spin), beside
// TxQueued, and adds none to a port that has none.
func TestWrapKeepsReadier(t *testing.T) {
	w := wrap(readyQueuingPort{}, &link.Taken{})
	r, ok := w.(dataplane.Readier)
	if !ok {
		t.Fatal("wrapped port lost Ready")
	}
	if !r.Ready() {
		t.Error("Ready = false; want the socket's true")
	}
	if _, ok := w.(dataplane.TxQueuer); !ok {
		t.Error("wrapped ready port lost TxQueued")
	}
	if _, ok := wrap(queuingPort{}, &link.Taken{}).(dataplane.Readier); ok {
		t.Error("a port without a readiness check got one")
	}
}

type lendingReadyFake struct{ lendingFake }

func (lendingReadyFake) Ready() bool { return true }

// TestWrapKeepsLoanerAndReadier: an AF_XDP-like port that lends and
// has a readiness check keeps both, and its TxQueued.
func TestWrapKeepsLoanerAndReadier(t *testing.T) {
	var released int
	w := wrap(lendingReadyFake{lendingFake{released: &released}}, &link.Taken{})
	if _, ok := w.(dataplane.Loaner); !ok {
		t.Error("wrapped lending, ready port lost ReadLoan")
	}
	if r, ok := w.(dataplane.Readier); !ok || !r.Ready() {
		t.Error("wrapped lending, ready port lost Ready")
	}
	if _, ok := w.(dataplane.TxQueuer); !ok {
		t.Error("wrapped lending, ready port lost TxQueued")
	}
	if _, ok := wrap(lendingFake{released: &released}, &link.Taken{}).(dataplane.Readier); ok {
		t.Error("a lending port without a readiness check got one")
	}
}
