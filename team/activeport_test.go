package team

import (
	"errors"
	"testing"

	"github.com/teamd-go/teamd-go/team/config"
)

// TestSetActivePort: the chosen member becomes active and stays while it
// is up, even when a better member comes back; when it loses its link the
// usual choice applies again.
func TestSetActivePort(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2", "eth3")
	cfg.Members[0].Prio = 10
	tt := startTeam(t, cfg)
	if err := tt.SetActivePort("eth2"); err != nil {
		t.Fatal(err)
	}
	if a := tt.State().Active; a != "eth2" {
		t.Fatalf("active = %q after SetActivePort(eth2)", a)
	}
	tt.LinkChanged("eth1", false)
	tt.LinkChanged("eth1", true)
	if a := tt.State().Active; a != "eth2" {
		t.Fatalf("active = %q, want eth2 to stay when eth1 (prio 10) returns", a)
	}
	tt.LinkChanged("eth2", false)
	if a := tt.State().Active; a != "eth1" {
		t.Fatalf("active = %q after eth2 lost carrier, want eth1 (prio 10)", a)
	}
	tt.LinkChanged("eth2", true)
	if a := tt.State().Active; a != "eth1" {
		t.Fatalf("active = %q, want eth1: the choice of eth2 ended with its link", a)
	}

	tt.LinkChanged("eth3", false)
	for _, tc := range []struct {
		name string
		want error
	}{
		{"nosuch", ErrNoSuchPort},
		{"vm1", ErrNoSuchPort},
		{"eth3", ErrPortDown},
	} {
		if err := tt.SetActivePort(tc.name); !errors.Is(err, tc.want) {
			t.Errorf("SetActivePort(%s) = %v, want %v", tc.name, err, tc.want)
		}
	}
	if a := tt.State().Active; a != "eth1" {
		t.Errorf("active = %q after refused SetActivePort calls, want eth1", a)
	}
}

func TestSetActivePortNotActiveBackup(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	if err := tt.SetActivePort("eth1"); !errors.Is(err, ErrNotActiveBackup) {
		t.Errorf("SetActivePort on hyperv-port = %v, want ErrNotActiveBackup", err)
	}
}

// TestActiveFlag: in active-backup only the active member is active; in
// a balancing mode every member with link is.
func TestActiveFlag(t *testing.T) {
	for _, tc := range []struct {
		balance string
		want    map[string]bool
	}{
		{config.BalanceActiveBackup, map[string]bool{"eth1": false, "eth2": true, "eth3": false}},
		{config.BalanceHyperVPort, map[string]bool{"eth1": true, "eth2": true, "eth3": false}},
	} {
		t.Run(tc.balance, func(t *testing.T) {
			cfg := baseConfig(config.ModeSwitchIndependent, tc.balance, "eth1", "eth2", "eth3")
			cfg.Members[1].Prio = 5
			tt := startTeam(t, cfg)
			tt.LinkChanged("eth3", false)
			for _, m := range tt.State().Members {
				if m.Active != tc.want[m.Name] {
					t.Errorf("%s: active = %v, want %v", m.Name, m.Active, tc.want[m.Name])
				}
			}
			if st := tt.State(); st.Members[2].LinkDownCount != 1 || st.Members[0].LinkDownCount != 0 {
				t.Errorf("link_down_count eth1 %d eth3 %d, want 0 and 1", st.Members[0].LinkDownCount, st.Members[2].LinkDownCount)
			}
		})
	}
}
