package config

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	const base = `team: team0
mode: switch-independent
balance: dynamic
members:
  - name: eth1
  - name: eth2
vnics:
  - name: vm1
  - name: team0
    tap: true
`
	old, err := Parse([]byte(base), "old.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(c *Config)
		want   Changes
		str    string
	}{
		{"nothing", func(c *Config) {}, Changes{}, "none"},
		{"balance", func(c *Config) { c.Balance = BalanceHyperVPort }, Changes{Balancer: true}, "balancer"},
		{"hash", func(c *Config) { c.Hash = []string{"l4"} }, Changes{Balancer: true}, "balancer"},
		{"flowlet gap", func(c *Config) { c.FlowletGap = time.Millisecond }, Changes{Balancer: true}, "balancer"},
		{"rewrite", func(c *Config) { c.SourceMACRewrite = RewriteNever }, Changes{Balancer: true}, "balancer"},
		{
			"members added, removed and changed",
			func(c *Config) {
				c.Members = []Member{{Name: "eth2", Standby: true, LACPPrio: 255}, {Name: "eth3", LACPPrio: 255}}
			},
			Changes{
				MembersAdded:   []Member{{Name: "eth3", LACPPrio: 255}},
				MembersRemoved: []Member{{Name: "eth1", LACPPrio: 255}},
				MembersChanged: []Member{{Name: "eth2", Standby: true, LACPPrio: 255}},
			},
			"members +eth3 -eth1 ~eth2",
		},
		{
			"members reordered",
			func(c *Config) { c.Members[0], c.Members[1] = c.Members[1], c.Members[0] },
			Changes{MembersReordered: true},
			"members reordered",
		},
		{
			"vnic pins changed in place",
			func(c *Config) { c.VNICs[0].MACs = []string{"02:00:00:00:00:09"} },
			Changes{VNICsRepinned: []VNIC{{Name: "vm1", MACs: []string{"02:00:00:00:00:09"}}}},
			"vnics ~vm1",
		},
		{
			"vnic vlan changed in place",
			func(c *Config) { c.VNICs[0].VLAN = VLAN{Trunk: []int{10, 20}, Native: 1} },
			Changes{VNICsRetagged: []VNIC{{Name: "vm1", VLAN: VLAN{Trunk: []int{10, 20}, Native: 1}}}},
			"vnics ~vm1",
		},
		{
			"vnic vlan and pins changed in place",
			func(c *Config) { c.VNICs[0].VLAN, c.VNICs[0].MACs = VLAN{Access: 10}, []string{"02:00:00:00:00:09"} },
			Changes{
				VNICsRepinned: []VNIC{{Name: "vm1", MACs: []string{"02:00:00:00:00:09"}, VLAN: VLAN{Access: 10}}},
				VNICsRetagged: []VNIC{{Name: "vm1", MACs: []string{"02:00:00:00:00:09"}, VLAN: VLAN{Access: 10}}},
			},
			"vnics ~vm1",
		},
		{
			"vnics",
			func(c *Config) {
				c.VNICs = []VNIC{{Name: "vm2"}, {Name: "team0", TAP: true, MAC: "02:00:00:00:00:01"}}
			},
			Changes{
				VNICsAdded:   []VNIC{{Name: "vm2"}},
				VNICsRemoved: []VNIC{{Name: "vm1"}},
				VNICsChanged: []VNIC{{Name: "team0", TAP: true, MAC: "02:00:00:00:00:01"}},
			},
			"vnics +vm2 -vm1 ~team0",
		},
		{"lacp", func(c *Config) { c.LACP.Rate = LACPRateSlow }, Changes{LACP: true}, "lacp"},
		{"link watch", func(c *Config) { c.LinkWatch.Name = LinkWatchARPPing }, Changes{LinkWatch: true}, "link_watch"},
		{"rx translation", func(c *Config) { c.RxTranslation.Learn = LearnInit }, Changes{RxTranslation: true}, "rx_translation"},
		{"metrics", func(c *Config) { c.Metrics = ":9469" }, Changes{Metrics: true}, "metrics"},
		{"busy_poll off", func(c *Config) { c.BusyPoll, c.BusyPollAuto = 0, false }, Changes{BusyPoll: true}, "busy_poll"},
		{"busy_poll auto to its own value", func(c *Config) { c.BusyPollAuto = false }, Changes{BusyPoll: true}, "busy_poll"},
		{
			"restart needed",
			func(c *Config) { c.Team, c.Mode, c.Backend, c.Metrics = "team1", ModeLACP, BackendXDP, ":1" },
			Changes{RestartNeeded: []string{"team", "backend"}, Mode: true, Metrics: true},
			"restart needed (team, backend), mode, metrics",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := old.Clone()
			tt.change(c)
			got := Diff(old, c)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			if got.Empty() != (tt.str == "none") {
				t.Errorf("Empty() = %v", got.Empty())
			}
			err := got.Err()
			if (err != nil) != (len(tt.want.RestartNeeded) > 0) || (err != nil && !errors.Is(err, ErrRestartNeeded)) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

// TestVLANAccepted: the vlan settings docs/contract.md §3 allows,
// including a native VLAN that the trunk lists too.
func TestVLANAccepted(t *testing.T) {
	for _, vl := range []string{"{access: 1}", "{access: 4094}", "{trunk: [10]}", "{trunk: [10, 20], native: 1}", "{trunk: [10, 20], native: 10}"} {
		c, err := Parse([]byte("team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    vlan: "+vl+"\n"), "t.yaml")
		if err != nil {
			t.Errorf("vlan: %s: %v", vl, err)
			continue
		}
		if c.VNICs[0].VLAN.IsZero() {
			t.Errorf("vlan: %s read as transparent", vl)
		}
	}
}
