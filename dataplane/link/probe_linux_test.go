//go:build linux

package link

import (
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
)

func TestProberCarrier(t *testing.T) {
	nstest.Require(t)
	a, b := nstest.NewNS(t, "pa"), nstest.NewNS(t, "pb")
	nstest.Veth(t, a, "pr0", b, "pr1")
	var p *Prober
	if err := a.Do(func() (err error) { p, err = NewProber(); return err }); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	nstest.Eventually(t, 5*time.Second, func() error {
		if up, err := p.Carrier("pr0"); err != nil || !up {
			return fmt.Errorf("carrier %v %v, want up", up, err)
		}
		return nil
	})
	b.MustRun(t, "ip", "link", "set", "pr1", "down")
	// netif_carrier_off is synchronous with the peer going down.
	if up, err := p.Carrier("pr0"); err != nil || up {
		t.Fatalf("carrier right after the peer went down: %v %v, want down", up, err)
	}
	if _, err := p.Carrier("nosuch0"); err == nil {
		t.Fatal("carrier of a missing interface: no error")
	}
}
