package teamdctl

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The keys teamdctl's `state view` unpacks, with the JSON type it demands
// (b bool, i integer, s string, o object); a missing key or another type
// stops the view halfway.
var (
	viewSetup = map[string]byte{"runner_name": 's', "kernel_team_mode_name": 's', "dbus_enabled": 'b', "zmq_enabled": 'b',
		"debug_level": 'i', "daemonized": 'b', "pid": 'i', "pid_file": 's'}
	viewPort = map[string]byte{"ifinfo.dev_addr": 's', "ifinfo.dev_addr_len": 'i', "ifinfo.ifindex": 'i', "ifinfo.ifname": 's',
		"link.duplex": 's', "link.speed": 'i', "link.up": 'b', "link_watches.up": 'b', "link_watches.list": 'o'}
	viewWatch = map[string]map[string]byte{
		"ethtool":   {"name": 's', "up": 'b', "down_count": 'i', "delay_up": 'i', "delay_down": 'i'},
		"nsna_ping": {"name": 's', "up": 'b', "down_count": 'i', "target_host": 's', "interval": 'i', "init_wait": 'i', "missed_max": 'i', "missed": 'i'},
		"arp_ping":  {"name": 's', "up": 'b', "down_count": 'i', "source_host": 's', "target_host": 's', "interval": 'i', "init_wait": 'i', "validate_active": 'b', "validate_inactive": 'b', "send_always": 'b', "missed_max": 'i', "missed": 'i'},
	}
	viewLACPRunner = map[string]byte{"active": 'b', "sys_prio": 'i', "fast_rate": 'b'}
	viewLACPPort   = map[string]byte{"selected": 'b', "aggregator.id": 'i', "aggregator.selected": 'b', "state": 's', "key": 'i', "prio": 'i'}
	viewLACPDU     = map[string]byte{"system_priority": 'i', "system": 's', "key": 'i', "port_priority": 'i', "port": 'i', "state": 'i'}
	teamDevice     = map[string]byte{"ifinfo.ifindex": 'i', "ifinfo.ifname": 's', "ifinfo.dev_addr": 's', "ifinfo.dev_addr_len": 'i'}
)

// decoded is the tree as teamdctl receives it: JSON text parsed again.
func decoded(t *testing.T, tree obj) map[string]any {
	t.Helper()
	b, err := marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func at(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = o[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

func checkTypes(t *testing.T, where string, v any, want map[string]byte) {
	t.Helper()
	for path, typ := range want {
		x, ok := at(v, path)
		if !ok {
			t.Errorf("%s.%s missing", where, path)
			continue
		}
		good := false
		switch typ {
		case 'b':
			_, good = x.(bool)
		case 's':
			_, good = x.(string)
		case 'o':
			_, good = x.(map[string]any)
		case 'i':
			n, isNum := x.(json.Number)
			_, err := n.Int64()
			good = isNum && err == nil
		}
		if !good {
			t.Errorf("%s.%s = %#v, want type %c", where, path, x, typ)
		}
	}
}

// TestStateTreeTypes checks every key teamdctl's view reads, in every
// runner teamd-go reports and with both link watchers.
func TestStateTreeTypes(t *testing.T) {
	for _, runner := range []string{"activebackup", "lacp", "loadbalance", "arp_ping", "nsna_ping"} {
		t.Run(runner, func(t *testing.T) {
			fb := newFakeBackend(runner)
			tree := decoded(t, StateTree(&fb.s))
			checkTypes(t, "setup", tree["setup"], viewSetup)
			checkTypes(t, "team_device", tree["team_device"], teamDevice)
			ports, _ := tree["ports"].(map[string]any)
			if len(ports) != 2 {
				t.Fatalf("ports %v", ports)
			}
			for name, p := range ports {
				checkTypes(t, "ports."+name, p, viewPort)
				lws, _ := at(p, "link_watches.list")
				for id, lw := range lws.(map[string]any) {
					n, _ := at(lw, "name")
					want, ok := viewWatch[n.(string)]
					if !ok {
						t.Errorf("ports.%s %s: watcher %q would stop teamdctl's view", name, id, n)
						continue
					}
					checkTypes(t, "ports."+name+"."+id, lw, want)
				}
				if runner == "lacp" {
					r, _ := at(p, "runner")
					checkTypes(t, "ports."+name+".runner", r, viewLACPPort)
					for _, info := range []string{"actor_lacpdu_info", "partner_lacpdu_info"} {
						x, _ := at(r, info)
						checkTypes(t, "ports."+name+".runner."+info, x, viewLACPDU)
					}
				}
			}
			name, _ := at(tree, "setup.runner_name")
			switch name {
			case "activebackup":
				checkTypes(t, "runner", tree["runner"], map[string]byte{"active_port": 's'})
			case "lacp":
				checkTypes(t, "runner", tree["runner"], viewLACPRunner)
			case "loadbalance":
			default:
				t.Errorf("runner_name %q", name)
			}
		})
	}
}

func TestStateTreeValues(t *testing.T) {
	fb := newFakeBackend("lacp")
	fb.s.State.Members[1].Carrier = false
	fb.s.State.Members[1].Link = "down"
	fb.s.State.Members[1].LinkDownCount = 2
	fb.s.State.Members[1].LACP.ReceiveState = "PORT_DISABLED"
	tree := StateTree(&fb.s)
	for path, want := range map[string]string{
		"setup.runner_name":                                    "lacp",
		"setup.kernel_team_mode_name":                          "lacp",
		"runner.fast_rate":                                     "true",
		"runner.sys_prio":                                      "65535",
		"ports.eth1.ifinfo.dev_addr":                           "02:00:00:00:00:01", // from the state: no MAC in Ifaces
		"ports.eth1.link.duplex":                               "full",
		"ports.eth2.link.up":                                   "false",
		"ports.eth2.link_watches.up":                           "false",
		"ports.eth2.link_watches.list.link_watch_0.down_count": "2",
		"ports.eth2.link_watches.list.link_watch_0.name":       "ethtool",
		"ports.eth1.runner.state":                              "current",
		"ports.eth2.runner.state":                              "disabled",
		"ports.eth1.runner.actor_lacpdu_info.state":            "63", // ATGSCD..
		"ports.eth1.runner.actor_lacpdu_info.system":           "02:00:00:00:00:01",
		"ports.eth1.runner.partner_lacpdu_info.system":         "02:aa:00:00:00:01",
		"ports.eth1.runner.partner_lacpdu_info.port":           "7",
		"ports.eth2.runner.partner_lacpdu_info.port":           "8",
		"ports.eth1.teamd_go.carrier":                          "true",
		"team_device.ifinfo.dev_addr":                          "02:00:00:00:00:aa",
		"teamd_go.balance":                                     "address-hash",
	} {
		got, err := Lookup(tree, path)
		if err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := Lookup(tree, "runner.active_port"); err == nil {
		t.Error("lacp team has runner.active_port")
	}
}

func TestSplitPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // keys joined by |, or "error"
	}{
		{"setup.runner_name", "setup|runner_name"},
		{`ports."eth1".link.up`, "ports|eth1|link|up"},
		{`ports."a.b".x`, "ports|a.b|x"},
		{`"setup"`, "setup"},
		{"", "error"},
		{"a..b", "error"},
		{".a", "error"},
		{`ports."eth1`, "error"},
		{`ports."eth1"x`, "error"},
	} {
		keys, err := splitPath(tc.in)
		got := strings.Join(keys, "|")
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("splitPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
