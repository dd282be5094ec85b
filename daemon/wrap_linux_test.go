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
