package team

import (
	"sync"
	"testing"

	"github.com/teamd-go/teamd-go/team/config"
)

// TestUpdateMemberConcurrentFlags: two clients change different settings
// of the same member at the same time (teamd's PortConfigUpdate and
// another), many times. Each update is one read-modify-write on the
// control goroutine, so neither loses the other's: every increment of
// both settings is there at the end.
func TestUpdateMemberConcurrentFlags(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2")
	cfg.Members[0].LACPKey = 1
	tt := startTeam(t, cfg)
	const n = 200
	bump := func(edit func(m *config.Member)) error { return tt.UpdateMember("eth1", edit) }
	var wg sync.WaitGroup
	for _, edit := range []func(m *config.Member){
		func(m *config.Member) { m.Prio++ },
		func(m *config.Member) { m.LACPKey++ },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := bump(edit); err != nil {
					t.Errorf("UpdateMember: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := tt.Config().Members[0]
	if got.Prio != n || got.LACPKey != 1+n {
		t.Errorf("after %d updates of each: prio %d (want %d), lacp_key %d (want %d): updates were lost",
			n, got.Prio, n, got.LACPKey, 1+n)
	}
	// The member itself (what selection reads) has them too.
	_ = tt.do(func() error {
		if m := tt.memberNamed("eth1"); m.cfg.Prio != n || m.cfg.LACPKey != 1+n {
			t.Errorf("member eth1 runs with prio %d, lacp_key %d; want %d, %d", m.cfg.Prio, m.cfg.LACPKey, n, 1+n)
		}
		return nil
	})
}
