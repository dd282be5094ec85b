package teamdctl

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/teamd-go/teamd-go/team/config"
)

// ConfigTree writes a teamd-go configuration as teamd's JSON config (what
// ConfigDump returns), also for a team started from YAML: teamdctl reads
// "device" and refuses to go on without it. ports holds the members named
// in present (nil: all of the configuration's); a port shows only the keys
// that differ from teamd's defaults, as teamd shows what its file set.
// teamd-go's own settings that teamd has no key for are under "teamd_go",
// which teamdctl ignores.
func ConfigTree(c *config.Config, present []string) obj {
	runner := Runner(c)
	r := obj{"name": runner}
	switch runner {
	case "lacp":
		r["active"] = c.LACP.Active
		r["fast_rate"] = c.LACP.Rate == config.LACPRateFast
		r["sys_prio"] = c.LACP.SystemPriority
		r["min_ports"] = c.LACP.MinPorts
		r["agg_select_policy"] = "lacp_prio"
		r["tx_hash"] = slices.Clone(c.Hash)
	case "loadbalance":
		r["tx_hash"] = slices.Clone(c.Hash)
	}
	tree := obj{"device": c.Team, "runner": r, "link_watch": linkWatchConfig(&c.LinkWatch)}
	for _, v := range c.VNICs {
		if v.Name == c.Team && v.TAP && v.MAC != "" {
			tree["hwaddr"] = v.MAC
		}
	}
	ports := obj{}
	for _, m := range c.Members {
		if present == nil || slices.Contains(present, m.Name) {
			ports[m.Name] = portTree(&m)
		}
	}
	tree["ports"] = ports
	vnics := []string{}
	for _, v := range c.VNICs {
		vnics = append(vnics, v.Name)
	}
	tree["teamd_go"] = obj{
		"mode":               c.Mode,
		"balance":            c.Balance,
		"source_mac_rewrite": c.SourceMACRewrite,
		"backend":            c.Backend,
		"vnics":              vnics,
		"config":             c.Path,
	}
	return tree
}

func linkWatchConfig(lw *config.LinkWatch) obj {
	if lw.Name == config.LinkWatchNSNAPing {
		return obj{
			"name":        "nsna_ping",
			"interval":    int(lw.Interval.Milliseconds()),
			"missed_max":  lw.MissedMax,
			"target_host": lw.TargetHost,
		}
	}
	if lw.Name != config.LinkWatchARPPing {
		return obj{"name": "ethtool"}
	}
	return obj{
		"name":        "arp_ping",
		"interval":    int(lw.Interval.Milliseconds()),
		"missed_max":  lw.MissedMax,
		"source_host": lw.SourceHost,
		"target_host": lw.TargetHost,
	}
}

// portTree is ports.NAME of teamd's config.
func portTree(m *config.Member) obj {
	p := obj{}
	if m.Prio != 0 {
		p["prio"] = m.Prio
	}
	if m.Sticky {
		p["sticky"] = true
	}
	if m.LACPPrio != config.DefaultLACPPortPriority {
		p["lacp_prio"] = m.LACPPrio
	}
	if m.LACPKey != config.DefaultLACPKey {
		p["lacp_key"] = m.LACPKey
	}
	return p
}

// ParsePortConfig reads the JSON of `teamdctl TEAM port config update DEV
// JSON` into a member configuration, through teamd-go's own teamd JSON
// reader (the one that reads config files, with the same rules and
// messages): keys prio, sticky, lacp_prio, lacp_key; what teamd's port
// object has beyond those is refused as in a config file. Keys left out
// take teamd's defaults: the update replaces the port's configuration, as
// in teamd.
func ParsePortConfig(team, dev string, js string) (config.Member, error) {
	var raw json.RawMessage
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return config.Member{}, fmt.Errorf("port config is not JSON: %w", err)
	}
	if len(raw) == 0 || raw[0] != '{' {
		return config.Member{}, fmt.Errorf("port config must be a JSON object, got %s", truncate(raw, 20))
	}
	doc, err := json.Marshal(obj{"device": team, "ports": obj{dev: raw}})
	if err != nil {
		return config.Member{}, err
	}
	c, err := config.Parse(doc, "port config update "+dev)
	if err != nil {
		return config.Member{}, err
	}
	if len(c.Members) != 1 {
		return config.Member{}, fmt.Errorf("port config of %s: no member read", dev)
	}
	return c.Members[0], nil
}
