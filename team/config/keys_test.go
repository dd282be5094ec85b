package config

import (
	"slices"
	"testing"
)

// wrongTypeCases give each key of the YAML format (keys.go) a value of
// the wrong type: a list where a value or a mapping is wanted, a mapping
// where a list is. in is the file, want its one problem.
var wrongTypeCases = []struct {
	key, in, want string
}{
	{"team", "team: [x]\nmembers: [{name: eth1}]\n", `team0.yaml:1: team: want a string, got a list`},
	{"mode", "team: t\nmembers: [{name: eth1}]\nmode: [x]\n", `team0.yaml:3: mode: want a string, got a list`},
	{"balance", "team: t\nmembers: [{name: eth1}]\nbalance: [x]\n", `team0.yaml:3: balance: want a string, got a list`},
	{"hash", "team: t\nmembers: [{name: eth1}]\nhash: {x: 1}\n", `team0.yaml:3: hash: want a list, got a mapping`},
	{"flowlet_gap", "team: t\nmembers: [{name: eth1}]\nflowlet_gap: [x]\n", `team0.yaml:3: flowlet_gap: want a duration like 500us, 100ms or 1s; got a list`},
	{"source_mac_rewrite", "team: t\nmembers: [{name: eth1}]\nsource_mac_rewrite: [x]\n", `team0.yaml:3: source_mac_rewrite: want a string, got a list`},
	{"backend", "team: t\nmembers: [{name: eth1}]\nbackend: [x]\n", `team0.yaml:3: backend: want a string, got a list`},
	{"busy_poll", "team: t\nmembers: [{name: eth1}]\nbusy_poll: [x]\n", `team0.yaml:3: busy_poll: want a duration like 500us, 100ms or 1s; got a list`},
	{"members", "team: t\nmembers: {x: 1}\n", `team0.yaml:2: members: want a list, got a mapping`},
	{"vnics", "team: t\nmembers: [{name: eth1}]\nvnics: {x: 1}\n", `team0.yaml:3: vnics: want a list, got a mapping`},
	{"lacp", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp: [x]\n", `team0.yaml:4: lacp: want a mapping, got a list`},
	{"link_watch", "team: t\nmembers: [{name: eth1}]\nlink_watch: [x]\n", `team0.yaml:3: link_watch: want a mapping, got a list`},
	{"rx_translation", "team: t\nmembers: [{name: eth1}]\nrx_translation: [x]\n", `team0.yaml:3: rx_translation: want a mapping, got a list`},
	{"metrics", "team: t\nmembers: [{name: eth1}]\nmetrics: [x]\n", `team0.yaml:3: metrics: want a string, got a list`},

	{"members[].name", "team: t\nmembers:\n  - name: [x]\n", `team0.yaml:3: members[0].name: want a string, got a list`},
	{"members[].primary", "team: t\nmembers:\n  - name: eth1\n    primary: [x]\n", `team0.yaml:4: members[0].primary: want true or false, got a list`},
	{"members[].standby", "team: t\nmembers:\n  - name: eth1\n    standby: [x]\n", `team0.yaml:4: members[0].standby: want true or false, got a list`},
	{"members[].prio", "team: t\nmembers:\n  - name: eth1\n    prio: [x]\n", `team0.yaml:4: members[0].prio: want an integer, got a list`},
	{"members[].sticky", "team: t\nmembers:\n  - name: eth1\n    sticky: [x]\n", `team0.yaml:4: members[0].sticky: want true or false, got a list`},
	{"members[].lacp_prio", "team: t\nmembers:\n  - name: eth1\n    lacp_prio: [x]\n", `team0.yaml:4: members[0].lacp_prio: want an integer, got a list`},
	{"members[].lacp_key", "team: t\nmembers:\n  - name: eth1\n    lacp_key: [x]\n", `team0.yaml:4: members[0].lacp_key: want an integer, got a list`},
	{"members[].delay_up", "team: t\nmembers:\n  - name: eth1\n    delay_up: [x]\n", `team0.yaml:4: members[0].delay_up: want a duration like 500us, 100ms or 1s; got a list`},
	{"members[].delay_down", "team: t\nmembers:\n  - name: eth1\n    delay_down: [x]\n", `team0.yaml:4: members[0].delay_down: want a duration like 500us, 100ms or 1s; got a list`},

	{"vnics[].name", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: [x]\n", `team0.yaml:4: vnics[0].name: want a string, got a list`},
	{"vnics[].tap", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    tap: [x]\n", `team0.yaml:5: vnics[0].tap: want true or false, got a list`},
	{"vnics[].mac", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    tap: true\n    mac: [x]\n", `team0.yaml:6: vnics[0].mac: want a string, got a list`},
	{"vnics[].macs", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    macs: {x: 1}\n", `team0.yaml:5: vnics[0].macs: want a list, got a mapping`},
	{"vnics[].mac_spoofing", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    mac_spoofing: [x]\n", `team0.yaml:5: vnics[0].mac_spoofing: want true or false, got a list`},
	{"vnics[].vlan", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    vlan: [x]\n", `team0.yaml:5: vnics[0].vlan: want a mapping, got a list`},
	{"vnics[].vlan.access", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    vlan:\n      access: [x]\n", `team0.yaml:6: vnics[0].vlan.access: want an integer, got a list`},
	{"vnics[].vlan.trunk", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    vlan:\n      trunk: {x: 1}\n", `team0.yaml:6: vnics[0].vlan.trunk: want a list, got a mapping`},
	{"vnics[].vlan.native", "team: t\nmembers: [{name: eth1}]\nvnics:\n  - name: vm1\n    vlan:\n      trunk: [10]\n      native: [x]\n", `team0.yaml:7: vnics[0].vlan.native: want an integer, got a list`},

	{"lacp.active", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp:\n  active: [x]\n", `team0.yaml:5: lacp.active: want true or false, got a list`},
	{"lacp.rate", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp:\n  rate: [x]\n", `team0.yaml:5: lacp.rate: want a string, got a list`},
	{"lacp.system_priority", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp:\n  system_priority: [x]\n", `team0.yaml:5: lacp.system_priority: want an integer, got a list`},
	{"lacp.min_ports", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp:\n  min_ports: [x]\n", `team0.yaml:5: lacp.min_ports: want an integer, got a list`},
	{"lacp.fallback", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp:\n  fallback: [x]\n", `team0.yaml:5: lacp.fallback: want a string, got a list`},
	{"lacp.fallback_after", "team: t\nmode: lacp\nmembers: [{name: eth1}]\nlacp:\n  fallback_after: [x]\n", `team0.yaml:5: lacp.fallback_after: want a duration like 500us, 100ms or 1s; got a list`},

	{"link_watch.name", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  name: [x]\n", `team0.yaml:4: link_watch.name: want a string, got a list`},
	{"link_watch.interval", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  name: arp_ping\n  target_host: 10.0.0.1\n  interval: [x]\n", `team0.yaml:6: link_watch.interval: want a duration like 500us, 100ms or 1s; got a list`},
	{"link_watch.missed_max", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  name: arp_ping\n  target_host: 10.0.0.1\n  missed_max: [x]\n", `team0.yaml:6: link_watch.missed_max: want an integer, got a list`},
	{"link_watch.source_host", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  name: arp_ping\n  target_host: 10.0.0.1\n  source_host: [x]\n", `team0.yaml:6: link_watch.source_host: want a string, got a list`},
	{"link_watch.target_host", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  name: arp_ping\n  target_host: [x]\n", `team0.yaml:5: link_watch.target_host: want a string, got a list`},
	{"link_watch.delay_up", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  delay_up: [x]\n", `team0.yaml:4: link_watch.delay_up: want a duration like 500us, 100ms or 1s; got a list`},
	{"link_watch.delay_down", "team: t\nmembers: [{name: eth1}]\nlink_watch:\n  delay_down: [x]\n", `team0.yaml:4: link_watch.delay_down: want a duration like 500us, 100ms or 1s; got a list`},

	{"rx_translation.enabled", "team: t\nmembers: [{name: eth1}]\nrx_translation:\n  enabled: [x]\n", `team0.yaml:4: rx_translation.enabled: want true or false, got a list`},
	{"rx_translation.learn", "team: t\nmembers: [{name: eth1}]\nrx_translation:\n  learn: [x]\n", `team0.yaml:4: rx_translation.learn: want a string, got a list`},
	{"rx_translation.age_time", "team: t\nmembers: [{name: eth1}]\nrx_translation:\n  age_time: [x]\n", `team0.yaml:4: rx_translation.age_time: want a duration like 500us, 100ms or 1s; got a list`},
}

// TestParseWrongType: a value of the wrong type is one problem, at the
// key's line, naming the key and what its type wants.
func TestParseWrongType(t *testing.T) {
	for _, tc := range wrongTypeCases {
		t.Run(tc.key, func(t *testing.T) {
			c, err := Parse([]byte(tc.in), "team0.yaml")
			if err == nil {
				t.Fatalf("Parse accepted it:\n%+v", c)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestWrongTypeCovers: TestParseWrongType has a case for every key of
// keys.go, so that a key added there is checked too.
func TestWrongTypeCovers(t *testing.T) {
	var keys []string
	add := func(prefix string, names []string) {
		for _, n := range names {
			keys = append(keys, prefix+n)
		}
	}
	add("", topKeys)
	add("members[].", memberKeys)
	add("vnics[].", vnicKeys)
	add("vnics[].vlan.", vlanKeys)
	add("lacp.", lacpKeys)
	add("link_watch.", lwKeys)
	add("rx_translation.", rxKeys)
	for _, k := range keys {
		if !slices.ContainsFunc(wrongTypeCases, func(c struct{ key, in, want string }) bool { return c.key == k }) {
			t.Errorf("no wrong-type case for %s", k)
		}
	}
}

// TestTeamdWrongType: the teamd keys read as their YAML namesakes are
// (keys.go) name the teamd key in their problem.
func TestTeamdWrongType(t *testing.T) {
	for _, tc := range []struct{ key, in, want string }{
		{"ports.eth1.prio", `{"device": "t", "ports": {"eth1": {"prio": "x"}}}`, `x.conf:1: ports.eth1.prio: want an integer, got "x"`},
		{"ports.eth1.sticky", `{"device": "t", "ports": {"eth1": {"sticky": "x"}}}`, `x.conf:1: ports.eth1.sticky: want true or false, got "x"`},
		{"ports.eth1.lacp_prio", `{"device": "t", "ports": {"eth1": {"lacp_prio": "x"}}}`, `x.conf:1: ports.eth1.lacp_prio: want an integer, got "x"`},
		{"ports.eth1.lacp_key", `{"device": "t", "ports": {"eth1": {"lacp_key": "x"}}}`, `x.conf:1: ports.eth1.lacp_key: want an integer, got "x"`},
		{"runner.active", `{"device": "t", "runner": {"name": "lacp", "active": "x"}, "ports": {"eth1": {}}}`, `x.conf:1: runner.active: want true or false, got "x"`},
		{"runner.sys_prio", `{"device": "t", "runner": {"name": "lacp", "sys_prio": "x"}, "ports": {"eth1": {}}}`, `x.conf:1: runner.sys_prio: want an integer, got "x"`},
		{"runner.min_ports", `{"device": "t", "runner": {"name": "lacp", "min_ports": "x"}, "ports": {"eth1": {}}}`, `x.conf:1: runner.min_ports: want an integer, got "x"`},
		{"link_watch.missed_max", `{"device": "t", "link_watch": {"name": "arp_ping", "target_host": "10.0.0.1", "missed_max": "x"}, "ports": {"eth1": {}}}`, `x.conf:1: link_watch.missed_max: want an integer, got "x"`},
		{"link_watch.source_host", `{"device": "t", "link_watch": {"name": "arp_ping", "target_host": "10.0.0.1", "source_host": 7}, "ports": {"eth1": {}}}`, `x.conf:1: link_watch.source_host: want a string, got 7`},
		{"link_watch.target_host", `{"device": "t", "link_watch": {"name": "arp_ping", "target_host": 7}, "ports": {"eth1": {}}}`, `x.conf:1: link_watch.target_host: want a string, got 7`},
	} {
		t.Run(tc.key, func(t *testing.T) {
			c, err := Parse([]byte(tc.in), "x.conf")
			if err == nil {
				t.Fatalf("Parse accepted it:\n%+v", c)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
