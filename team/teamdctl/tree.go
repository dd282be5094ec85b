package teamdctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
)

// Iface is what the host says about one interface.
type Iface struct {
	Index     int
	MAC       string // aa:bb:cc:dd:ee:ff; "" if unknown
	SpeedMbit int    // 0 if unknown
	Duplex    string // "full", "half"; "" if unknown
}

// Snapshot is a team at one moment, as the methods read it.
type Snapshot struct {
	Config config.Config
	State  team.State
	// Ifaces holds the members and the team device (the TAP named like
	// the team), by name.
	Ifaces map[string]Iface
	PID    int
}

// Runner names teamd's runner for a teamd-go configuration:
//
//	mode lacp (any balance)                    lacp
//	balance active-backup                      activebackup
//	balance round-robin                        roundrobin
//	address-hash, dynamic, hyperv-port         loadbalance
//
// teamd's loadbalance runner is the one that spreads a team's traffic over
// all its ports by a per-flow choice without a partner protocol, which is
// what teamd-go's hashing balancers do in static and switch-independent
// mode; the balancer itself is shown in teamd-go's own keys (teamd_go.mode,
// teamd_go.balance), which teamdctl ignores. teamdctl prints a runner
// section only for activebackup and lacp.
func Runner(c *config.Config) string {
	switch {
	case c.Mode == config.ModeLACP:
		return "lacp"
	case c.Balance == config.BalanceActiveBackup:
		return "activebackup"
	case c.Balance == config.BalanceRoundRobin:
		return "roundrobin"
	}
	return "loadbalance"
}

// obj is one JSON object of the state tree. encoding/json writes its keys
// sorted, so ports appear in name order.
type obj = map[string]any

// StateTree builds teamd's state tree (what StateDump returns) with the
// types teamdctl's parser demands: JSON booleans, integers, strings. Keys
// teamdctl does not read carry teamd-go's own state: teamd_go at the top
// (mode, balance, vnics, counters...) and ports.NAME.teamd_go (the member
// as `teamd-go ctl state` shows it).
func StateTree(s *Snapshot) obj {
	c, st := &s.Config, &s.State
	runner := Runner(c)
	tree := obj{
		"setup": obj{
			"runner_name":           runner,
			"kernel_team_mode_name": runner,
			"dbus_enabled":          false,
			"zmq_enabled":           false,
			"debug_level":           0,
			"daemonized":            false,
			"pid":                   s.PID,
			"pid_file":              "",
		},
	}
	dev := s.Ifaces[c.Team]
	tree["team_device"] = obj{"ifinfo": ifinfo(c.Team, dev)}

	ports := obj{}
	for i := range st.Members {
		m := &st.Members[i]
		ifi := s.Ifaces[m.Name]
		if ifi.MAC == "" {
			ifi.MAC = m.MAC
		}
		duplex := ifi.Duplex
		if duplex == "" {
			duplex = "full"
		}
		p := obj{
			"ifinfo":       ifinfo(m.Name, ifi),
			"link":         obj{"up": m.Carrier, "speed": ifi.SpeedMbit, "duplex": duplex},
			"link_watches": obj{"up": m.Link == "up", "list": obj{"link_watch_0": linkWatch(c, m)}},
			"teamd_go":     jsonObject(m),
		}
		if runner == "lacp" {
			p["runner"] = lacpPort(m, s.Ifaces)
		}
		ports[m.Name] = p
	}
	tree["ports"] = ports

	switch runner {
	case "activebackup":
		tree["runner"] = obj{"active_port": st.Active}
	case "lacp":
		tree["runner"] = obj{
			"active":        c.LACP.Active,
			"fast_rate":     c.LACP.Rate == config.LACPRateFast,
			"sys_prio":      c.LACP.SystemPriority,
			"select_policy": "lacp_prio",
		}
	default:
		tree["runner"] = obj{}
	}
	own := *st
	own.Members = nil
	extra := jsonObject(&own)
	delete(extra, "members")
	tree["teamd_go"] = extra
	return tree
}

func ifinfo(name string, i Iface) obj {
	mac := i.MAC
	if mac == "" {
		mac = "00:00:00:00:00:00"
	}
	return obj{"ifname": name, "ifindex": i.Index, "dev_addr": mac, "dev_addr_len": 6}
}

// linkWatch is the member's watcher in teamd's terms: teamd-go's carrier
// watcher is teamd's ethtool watcher (with the member's hold times, in
// milliseconds), arp_ping and nsna_ping keep their names and show all of
// teamd's keys.
func linkWatch(c *config.Config, m *team.MemberState) obj {
	lw := &c.LinkWatch
	if lw.Name == config.LinkWatchNSNAPing {
		return obj{
			"name":        "nsna_ping",
			"up":          m.Link == "up",
			"down_count":  int(m.LinkDownCount),
			"target_host": lw.TargetHost,
			"interval":    int(lw.Interval.Milliseconds()),
			"init_wait":   0,
			"missed_max":  lw.MissedMax,
			"missed":      m.NSNAMissed,
		}
	}
	if lw.Name != config.LinkWatchARPPing {
		up, down := c.LinkWatch.DelayUp, c.LinkWatch.DelayDown
		for _, mc := range c.Members {
			if mc.Name == m.Name {
				up, down = mc.DelayUp, mc.DelayDown
			}
		}
		return obj{"name": "ethtool", "up": m.Carrier, "down_count": int(m.LinkDownCount),
			"delay_up": int(up.Milliseconds()), "delay_down": int(down.Milliseconds())}
	}
	return obj{
		"name":        "arp_ping",
		"up":          m.Link == "up",
		"down_count":  int(m.LinkDownCount),
		"source_host": lw.SourceHost,
		"target_host": lw.TargetHost,
		"interval":    int(lw.Interval.Milliseconds()),
		"init_wait":   0,
		"missed_max":  lw.MissedMax,
		"missed":      m.ARPMissed,
		// teamd-go checks replies on every member and sends requests
		// on every member, active or not.
		"validate_active":   false,
		"validate_inactive": false,
		"send_always":       true,
	}
}

// lacpPort is ports.NAME.runner of the lacp runner.
func lacpPort(m *team.MemberState, ifaces map[string]Iface) obj {
	l := m.LACP
	if l == nil {
		l = &team.LACPState{}
	}
	state := "disabled"
	switch l.ReceiveState {
	case "CURRENT", "EXPIRED", "DEFAULTED":
		state = strings.ToLower(l.ReceiveState)
	}
	agg := 0
	if l.AggregatorMember != "" {
		agg = ifaces[l.AggregatorMember].Index
	}
	zeroMAC := func(s string) string {
		if s == "" {
			return "00:00:00:00:00:00"
		}
		return s
	}
	return obj{
		"selected":   l.Selected,
		"aggregator": obj{"id": agg, "selected": l.Selected},
		"state":      state,
		"key":        l.ActorKey,
		"prio":       l.ActorPortPrio,
		"actor_lacpdu_info": obj{
			"system_priority": l.ActorSysPrio,
			"system":          zeroMAC(l.ActorSystem),
			"key":             l.ActorKey,
			"port_priority":   l.ActorPortPrio,
			"port":            l.ActorPortNum,
			"state":           stateOctet(l.ActorState),
		},
		"partner_lacpdu_info": obj{
			"system_priority": l.PartnerSysPrio,
			"system":          zeroMAC(l.PartnerSystem),
			"key":             l.PartnerKey,
			"port_priority":   l.PartnerPortPrio,
			"port":            l.PartnerPort,
			"state":           stateOctet(l.PartnerState),
		},
	}
}

// stateOctet turns lacpdu.State's string (one character per bit, least
// significant first, '.' for a clear bit) back into the octet.
func stateOctet(s string) int {
	v := 0
	for i := 0; i < len(s) && i < 8; i++ {
		if s[i] != '.' {
			v |= 1 << i
		}
	}
	return v
}

// jsonObject is v's JSON as a tree, numbers kept exact.
func jsonObject(v any) obj {
	b, err := json.Marshal(v)
	if err != nil {
		return obj{}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var o obj
	if d.Decode(&o) != nil {
		return obj{}
	}
	return o
}

// Errors of Lookup.
var (
	// ErrNoPath means a path names nothing in the tree.
	ErrNoPath = errors.New("path does not exist")
	// ErrNotLeaf means a path names an object, not a value.
	ErrNotLeaf = errors.New("path names an object, not a value")
)

// splitPath splits a state item path (setup.runner_name,
// ports."eth1".link.up) into its keys.
func splitPath(p string) ([]string, error) {
	var keys []string
	for len(p) > 0 {
		var k string
		if p[0] == '"' {
			end := strings.IndexByte(p[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%w: unterminated quote", ErrNoPath)
			}
			k, p = p[1:1+end], p[2+end:]
			if len(p) > 0 && p[0] != '.' {
				return nil, fmt.Errorf("%w: a quoted key must be followed by a dot", ErrNoPath)
			}
		} else {
			end := strings.IndexByte(p, '.')
			if end < 0 {
				end = len(p)
			}
			k, p = p[:end], p[end:]
		}
		if k == "" {
			return nil, fmt.Errorf("%w: empty key", ErrNoPath)
		}
		keys = append(keys, k)
		p = strings.TrimPrefix(p, ".")
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: empty path", ErrNoPath)
	}
	return keys, nil
}

// Lookup returns the leaf at path, written as teamd writes item values:
// booleans true/false, integers in decimal, strings raw.
func Lookup(tree obj, path string) (string, error) {
	keys, err := splitPath(path)
	if err != nil {
		return "", err
	}
	var cur any = tree
	for _, k := range keys {
		o, ok := cur.(obj)
		if !ok {
			return "", fmt.Errorf("%w: %q", ErrNoPath, path)
		}
		if cur, ok = o[k]; !ok {
			return "", fmt.Errorf("%w: %q", ErrNoPath, path)
		}
	}
	switch v := cur.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int:
		return strconv.Itoa(v), nil
	case json.Number:
		return v.String(), nil
	case nil:
		return "null", nil
	case obj, []any:
		return "", fmt.Errorf("%w: %q", ErrNotLeaf, path)
	}
	return fmt.Sprint(cur), nil
}
