package teamdctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
)

// fakeBackend is a team of eth1 and eth2 with a TAP named like the team,
// changed by the methods as the daemon would (without forwarding).
type fakeBackend struct {
	s      Snapshot
	calls  []string
	failOn string // method name whose Backend call fails
}

func newFakeBackend(runner string) *fakeBackend {
	c := config.Config{
		Team: "team0", Hash: []string{"eth", "ipv4"}, SourceMACRewrite: "auto", Backend: "af_packet",
		Members: []config.Member{
			{Name: "eth1", LACPPrio: config.DefaultLACPPortPriority},
			{Name: "eth2", Prio: 10, LACPPrio: config.DefaultLACPPortPriority},
		},
		VNICs:     []config.VNIC{{Name: "team0", TAP: true, MAC: "02:00:00:00:00:aa"}, {Name: "vm1"}},
		LACP:      config.LACP{Active: true, Rate: config.LACPRateFast, SystemPriority: 65535, MinPorts: 1},
		LinkWatch: config.LinkWatch{Name: config.LinkWatchCarrier},
	}
	st := team.State{Team: "team0", Backend: "af_packet", Counters: team.Counters{RxDroppedNotOwned: 12345678901}}
	switch runner {
	case "activebackup":
		c.Mode, c.Balance = config.ModeSwitchIndependent, config.BalanceActiveBackup
		st.Active = "eth2"
	case "lacp":
		c.Mode, c.Balance = config.ModeLACP, config.BalanceAddressHash
	case "arp_ping":
		c.Mode, c.Balance = config.ModeSwitchIndependent, config.BalanceDynamic
		c.LinkWatch = config.LinkWatch{Name: config.LinkWatchARPPing, Interval: 100 * time.Millisecond, MissedMax: 3, SourceHost: "10.0.0.1", TargetHost: "10.0.0.9"}
	case "nsna_ping":
		c.Mode, c.Balance = config.ModeSwitchIndependent, config.BalanceActiveBackup
		c.LinkWatch = config.LinkWatch{Name: config.LinkWatchNSNAPing, Interval: 200 * time.Millisecond, MissedMax: 15, TargetHost: "fe80::1"}
		st.Active = "eth1"
	default:
		c.Mode, c.Balance = config.ModeSwitchIndependent, config.BalanceHyperVPort
	}
	st.Mode, st.Balance = c.Mode, c.Balance
	for i, m := range c.Members {
		ms := team.MemberState{Name: m.Name, MAC: fmt.Sprintf("02:00:00:00:00:0%d", i+1), Link: "up", Carrier: true, Active: true, LinkWatch: "carrier"}
		if c.Mode == config.ModeLACP {
			ms.LACP = &team.LACPState{
				ActorState: "ATGSCD..", PartnerState: "A.GSCD..", PartnerSystem: "02:aa:00:00:00:01",
				PartnerKey: 13, PartnerPort: 7 + i, PartnerSysPrio: 32768, PartnerPortPrio: 255,
				Selected: true, ReceiveState: "CURRENT", Aggregator: 0, AggregatorMember: "eth1",
				ActorKey: 0, ActorPortPrio: 255, ActorPortNum: i + 1, ActorSystem: "02:00:00:00:00:01", ActorSysPrio: 65535,
			}
		}
		st.Members = append(st.Members, ms)
	}
	return &fakeBackend{s: Snapshot{
		Config: c, State: st, PID: 42,
		Ifaces: map[string]Iface{"team0": {Index: 9, MAC: "02:00:00:00:00:aa"}, "eth1": {Index: 3, SpeedMbit: 10000, Duplex: "full"}, "eth2": {Index: 4}},
	}}
}

func (f *fakeBackend) Snapshot() (Snapshot, error) {
	if f.failOn == "Snapshot" {
		return Snapshot{}, errors.New("team closed")
	}
	s := f.s
	s.Config = *f.s.Config.Clone()
	return s, nil
}

func (f *fakeBackend) PortAdd(dev string) error {
	f.calls = append(f.calls, "PortAdd "+dev)
	if dev == "nosuch" {
		return fmt.Errorf("interface %q: %w", dev, ErrNoSuchDev)
	}
	if f.failOn == "PortAdd" {
		return errors.New("members: at most 8")
	}
	f.s.Config.Members = append(f.s.Config.Members, config.Member{Name: dev, LACPPrio: config.DefaultLACPPortPriority})
	f.s.State.Members = append(f.s.State.Members, team.MemberState{Name: dev})
	return nil
}

func (f *fakeBackend) PortRemove(dev string) error {
	f.calls = append(f.calls, "PortRemove "+dev)
	if member(&f.s.Config, dev) == nil {
		return fmt.Errorf("member %q: %w", dev, team.ErrNoSuchPort)
	}
	return nil
}

func (f *fakeBackend) PortConfigUpdate(dev string, m config.Member) error {
	f.calls = append(f.calls, fmt.Sprintf("PortConfigUpdate %s prio=%d sticky=%v lacp_prio=%d", dev, m.Prio, m.Sticky, m.LACPPrio))
	*member(&f.s.Config, dev) = m
	return nil
}

func (f *fakeBackend) SetActivePort(dev string) error {
	f.calls = append(f.calls, "SetActivePort "+dev)
	if member(&f.s.Config, dev) == nil {
		return fmt.Errorf("member %q: %w", dev, team.ErrNoSuchPort)
	}
	f.s.State.Active = dev
	return nil
}

func do(b Backend, method string, args ...string) (string, error) {
	p, err := ParseReply(Handle(b, AppendRequest(nil, method, args...), nil))
	return string(p), err
}

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

func TestMethods(t *testing.T) {
	tests := []struct {
		name   string
		runner string
		method string
		args   []string
		want   string // payload, or the error code
		calls  []string
	}{
		{"get runner name", "activebackup", "StateItemValueGet", []string{"setup.runner_name"}, "activebackup", nil},
		{"get active port", "activebackup", "StateItemValueGet", []string{"runner.active_port"}, "eth2", nil},
		{"get bool", "activebackup", "StateItemValueGet", []string{"ports.eth1.link.up"}, "true", nil},
		{"get quoted", "activebackup", "StateItemValueGet", []string{`ports."eth1".link.speed`}, "10000", nil},
		{"get pid", "activebackup", "StateItemValueGet", []string{"setup.pid"}, "42", nil},
		{"get team device", "activebackup", "StateItemValueGet", []string{"team_device.ifinfo.ifindex"}, "9", nil},
		{"get big counter exactly", "activebackup", "StateItemValueGet", []string{"teamd_go.counters.rx_dropped_not_owned"}, "12345678901", nil},
		{"get node", "activebackup", "StateItemValueGet", []string{"ports.eth1"}, CodePathDoesNotExist, nil},
		{"get missing", "activebackup", "StateItemValueGet", []string{"ports.eth9.link.up"}, CodePathDoesNotExist, nil},
		{"get below leaf", "activebackup", "StateItemValueGet", []string{"setup.pid.x"}, CodePathDoesNotExist, nil},
		{"get lacp aggregator", "lacp", "StateItemValueGet", []string{"ports.eth2.runner.aggregator.id"}, "3", nil},
		{"get lacp partner state", "lacp", "StateItemValueGet", []string{"ports.eth2.runner.partner_lacpdu_info.state"}, "61", nil},
		{"get arp_ping missed_max", "arp_ping", "StateItemValueGet", []string{"ports.eth1.link_watches.list.link_watch_0.missed_max"}, "3", nil},
		{"get nsna_ping target", "nsna_ping", "StateItemValueGet", []string{"ports.eth1.link_watches.list.link_watch_0.target_host"}, "fe80::1", nil},
		{"get nsna_ping interval", "nsna_ping", "StateItemValueGet", []string{"ports.eth2.link_watches.list.link_watch_0.interval"}, "200", nil},
		{"set active port", "activebackup", "StateItemValueSet", []string{"runner.active_port", "eth1"}, "", []string{"SetActivePort eth1"}},
		{"set active port unknown", "activebackup", "StateItemValueSet", []string{"runner.active_port", "eth9"}, CodeItemValueSetFail, []string{"SetActivePort eth9"}},
		{"set active port not ab", "lacp", "StateItemValueSet", []string{"runner.active_port", "eth1"}, CodePathDoesNotExist, nil},
		{"set debug level", "activebackup", "StateItemValueSet", []string{"setup.debug_level", "1"}, CodeOpNotSupp, nil},
		{"set read-only", "activebackup", "StateItemValueSet", []string{"setup.pid", "1"}, CodeOpNotSupp, nil},
		{"port add", "activebackup", "PortAdd", []string{"eth3"}, "", []string{"PortAdd eth3"}},
		{"port add missing", "activebackup", "PortAdd", []string{"nosuch"}, CodeNoSuchDev, []string{"PortAdd nosuch"}},
		{"port remove", "activebackup", "PortRemove", []string{"eth1"}, "", []string{"PortRemove eth1"}},
		{"port remove not member", "activebackup", "PortRemove", []string{"vm1"}, CodeNoSuchDev, []string{"PortRemove vm1"}},
		{"port config update", "activebackup", "PortConfigUpdate", []string{"eth1", "{\n \"prio\": 5, \"sticky\": 1}"}, "", []string{"PortConfigUpdate eth1 prio=5 sticky=true lacp_prio=255"}},
		{"port config update bad type", "activebackup", "PortConfigUpdate", []string{"eth1", `{"prio": "high"}`}, CodeConfigUpdateFail, nil},
		{"port config update unknown key", "activebackup", "PortConfigUpdate", []string{"eth1", `{"prio": 1, "queue_id": 2}`}, CodeConfigUpdateFail, nil},
		{"port config update not json", "activebackup", "PortConfigUpdate", []string{"eth1", `prio=5`}, CodeConfigUpdateFail, nil},
		{"port config update not object", "activebackup", "PortConfigUpdate", []string{"eth1", `[5]`}, CodeConfigUpdateFail, nil},
		{"port config update not member", "activebackup", "PortConfigUpdate", []string{"vm1", `{}`}, CodeNoSuchDev, nil},
		{"port config dump", "activebackup", "PortConfigDump", []string{"eth2"}, "{\n    \"prio\": 10\n}", nil},
		{"port config dump empty", "activebackup", "PortConfigDump", []string{"eth1"}, "{}", nil},
		{"port config dump not member", "activebackup", "PortConfigDump", []string{"eth9"}, CodeNoSuchDev, nil},
		{"unknown method", "activebackup", "Frobnicate", nil, CodeUnknownMethod, nil},
		{"missing argument", "activebackup", "PortAdd", nil, CodeInvalidArgs, nil},
		{"extra argument", "activebackup", "StateDump", []string{"x"}, CodeInvalidArgs, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBackend(tc.runner)
			got, err := do(fb, tc.method, tc.args...)
			if err != nil {
				got = code(err)
			}
			if got != tc.want {
				t.Errorf("%s %q = %q (%v), want %q", tc.method, tc.args, got, err, tc.want)
			}
			if diff := cmp.Diff(tc.calls, fb.calls); diff != "" {
				t.Errorf("backend calls (-want +got)\n%s", diff)
			}
		})
	}
}

// TestSetThenGet: a set active port is what the next get returns.
func TestSetThenGet(t *testing.T) {
	fb := newFakeBackend("activebackup")
	if _, err := do(fb, "StateItemValueSet", "runner.active_port", "eth1"); err != nil {
		t.Fatal(err)
	}
	if got, err := do(fb, "StateItemValueGet", "runner.active_port"); err != nil || got != "eth1" {
		t.Errorf("active port %q, %v", got, err)
	}
}

func TestBackendFailure(t *testing.T) {
	fb := newFakeBackend("activebackup")
	fb.failOn = "Snapshot"
	for m, want := range map[string]string{"StateDump": CodeStateDumpFail, "ConfigDump": CodeConfigDumpFail, "ConfigDumpActual": CodeConfigDumpActualFail} {
		if _, err := do(fb, m); code(err) != want {
			t.Errorf("%s with a failing team: %v, want %s", m, err, want)
		}
	}
	fb.failOn = "PortAdd"
	if _, err := do(fb, "PortAdd", "eth3"); code(err) != CodePortAddFail || !strings.Contains(err.Error(), "at most 8") {
		t.Errorf("PortAdd refused: %v", err)
	}
}

// TestConfigDump: teamd's JSON with device, runner and ports; Actual
// lists the present ports only.
func TestConfigDump(t *testing.T) {
	fb := newFakeBackend("lacp")
	fb.s.State.Members = fb.s.State.Members[:1]
	for _, tc := range []struct {
		method string
		ports  []string
	}{{"ConfigDump", []string{"eth1", "eth2"}}, {"ConfigDumpActual", []string{"eth1"}}} {
		out, err := do(fb, tc.method)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Device string                     `json:"device"`
			Hwaddr string                     `json:"hwaddr"`
			Runner map[string]any             `json:"runner"`
			Ports  map[string]json.RawMessage `json:"ports"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: %v\n%s", tc.method, err, out)
		}
		if got.Device != "team0" || got.Hwaddr != "02:00:00:00:00:aa" || got.Runner["name"] != "lacp" || got.Runner["fast_rate"] != true {
			t.Errorf("%s: %s", tc.method, out)
		}
		var ports []string
		for p := range got.Ports {
			ports = append(ports, p)
		}
		if diff := cmp.Diff(tc.ports, ports, cmpSorted); diff != "" {
			t.Errorf("%s ports (-want +got)\n%s", tc.method, diff)
		}
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

// TestConfigDumpIsReadable: the teamd JSON a teamd team dumps is read back
// by teamd-go's config reader to the same team.
func TestConfigDumpIsReadable(t *testing.T) {
	for _, runner := range []string{"activebackup", "lacp", "nsna_ping"} {
		fb := newFakeBackend(runner)
		fb.s.Config.Members[1].Sticky = true
		fb.s.Config.Members[0].LACPPrio = 7
		fb.s.Config.VNICs = fb.s.Config.VNICs[:1]
		out, err := do(fb, "ConfigDump")
		if err != nil {
			t.Fatal(err)
		}
		var tree map[string]any
		_ = json.Unmarshal([]byte(out), &tree)
		delete(tree, "teamd_go") // teamd-go's extras are not teamd keys
		b, _ := json.Marshal(tree)
		c, err := config.Parse(b, "dump.json")
		if err != nil {
			t.Fatalf("%s: dumped config does not read back: %v\n%s", runner, err, out)
		}
		want := fb.s.Config
		if diff := cmp.Diff(want.Members, c.Members); diff != "" {
			t.Errorf("%s members (-want +got)\n%s", runner, diff)
		}
		if c.Mode != want.Mode || c.Balance != want.Balance || c.Team != want.Team {
			t.Errorf("%s: read back %s/%s/%s", runner, c.Team, c.Mode, c.Balance)
		}
		if c.LinkWatch != want.LinkWatch {
			t.Errorf("%s: link watch read back %+v, want %+v", runner, c.LinkWatch, want.LinkWatch)
		}
	}
}

func TestRunner(t *testing.T) {
	for _, tc := range []struct{ mode, balance, want string }{
		{config.ModeSwitchIndependent, config.BalanceActiveBackup, "activebackup"},
		{config.ModeLACP, config.BalanceDynamic, "lacp"},
		{config.ModeLACP, config.BalanceAddressHash, "lacp"},
		{config.ModeStatic, config.BalanceAddressHash, "loadbalance"},
		{config.ModeStatic, config.BalanceRoundRobin, "roundrobin"},
		{config.ModeSwitchIndependent, config.BalanceDynamic, "loadbalance"},
		{config.ModeSwitchIndependent, config.BalanceHyperVPort, "loadbalance"},
		{config.ModeSwitchIndependent, config.BalanceAddressHash, "loadbalance"},
	} {
		if got := Runner(&config.Config{Mode: tc.mode, Balance: tc.balance}); got != tc.want {
			t.Errorf("%s/%s: runner %q, want %q", tc.mode, tc.balance, got, tc.want)
		}
	}
}
