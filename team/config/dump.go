package config

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Dump writes c as YAML (for "ctl config dump"), every default spelled out,
// keys in the order of docs/contract.md §3. Parse reads the output back to an
// equal Config (but for Path and Warnings). Keys that would be errors are
// left out: the lacp: block unless mode is lacp, arp_ping parameters unless
// link_watch is arp_ping, false flags. A teamd JSON file dumped this way
// becomes the equivalent YAML file.
func Dump(c *Config) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	put := func(m *yaml.Node, key string, v *yaml.Node) {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	}
	put(root, "team", strNode(c.Team))
	root.Content[0].HeadComment = "teamd-go configuration of team " + c.Team
	put(root, "mode", strNode(c.Mode))
	put(root, "balance", strNode(c.Balance))
	put(root, "hash", flowList(c.Hash, strNode))
	if c.FlowletGapAuto {
		put(root, "flowlet_gap", strNode(FlowletGapAuto))
	} else {
		put(root, "flowlet_gap", strNode(formatDuration(c.FlowletGap)))
	}
	put(root, "source_mac_rewrite", strNode(c.SourceMACRewrite))
	put(root, "backend", strNode(c.Backend))
	switch {
	case c.BusyPollAuto:
		put(root, "busy_poll", strNode(BusyPollAuto))
	case c.BusyPoll == 0:
		put(root, "busy_poll", strNode(BusyPollOff))
	default:
		put(root, "busy_poll", strNode(formatDuration(c.BusyPoll)))
	}

	members := &yaml.Node{Kind: yaml.SequenceNode}
	for _, m := range c.Members {
		n := &yaml.Node{Kind: yaml.MappingNode}
		put(n, "name", strNode(m.Name))
		if m.Primary {
			put(n, "primary", boolNode(true))
		}
		if m.Standby {
			put(n, "standby", boolNode(true))
		}
		if m.Prio != 0 {
			put(n, "prio", intNode(m.Prio))
		}
		if m.Sticky {
			put(n, "sticky", boolNode(true))
		}
		if c.Mode == ModeLACP || m.LACPPrio != DefaultLACPPortPriority || m.LACPKey != DefaultLACPKey {
			put(n, "lacp_prio", intNode(m.LACPPrio))
			put(n, "lacp_key", intNode(m.LACPKey))
		}
		if m.DelayUp != c.LinkWatch.DelayUp {
			put(n, "delay_up", strNode(formatDuration(m.DelayUp)))
		}
		if m.DelayDown != c.LinkWatch.DelayDown {
			put(n, "delay_down", strNode(formatDuration(m.DelayDown)))
		}
		members.Content = append(members.Content, n)
	}
	put(root, "members", members)

	if len(c.VNICs) > 0 {
		vnics := &yaml.Node{Kind: yaml.SequenceNode}
		for _, v := range c.VNICs {
			n := &yaml.Node{Kind: yaml.MappingNode}
			put(n, "name", strNode(v.Name))
			if v.TAP {
				put(n, "tap", boolNode(true))
			}
			if v.MAC != "" {
				put(n, "mac", strNode(v.MAC))
			}
			if len(v.MACs) > 0 {
				put(n, "macs", flowList(v.MACs, strNode))
			}
			if v.MACSpoofing {
				put(n, "mac_spoofing", boolNode(true))
			}
			if !v.VLAN.IsZero() {
				vl := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
				if v.VLAN.Access != 0 {
					put(vl, "access", intNode(v.VLAN.Access))
				}
				if v.VLAN.Trunk != nil {
					put(vl, "trunk", flowList(v.VLAN.Trunk, intNode))
				}
				if v.VLAN.Native != 0 {
					put(vl, "native", intNode(v.VLAN.Native))
				}
				put(n, "vlan", vl)
			}
			vnics.Content = append(vnics.Content, n)
		}
		put(root, "vnics", vnics)
	}

	if c.Mode == ModeLACP {
		n := &yaml.Node{Kind: yaml.MappingNode}
		put(n, "active", boolNode(c.LACP.Active))
		put(n, "rate", strNode(c.LACP.Rate))
		put(n, "system_priority", intNode(c.LACP.SystemPriority))
		put(n, "min_ports", intNode(c.LACP.MinPorts))
		put(n, "fallback", strNode(c.LACP.Fallback))
		put(n, "fallback_after", strNode(formatDuration(c.LACP.FallbackAfter)))
		put(root, "lacp", n)
	}

	lw := &yaml.Node{Kind: yaml.MappingNode}
	put(lw, "name", strNode(c.LinkWatch.Name))
	if c.LinkWatch.Name == LinkWatchARPPing {
		put(lw, "interval", strNode(formatDuration(c.LinkWatch.Interval)))
		put(lw, "missed_max", intNode(c.LinkWatch.MissedMax))
		put(lw, "source_host", strNode(c.LinkWatch.SourceHost))
		put(lw, "target_host", strNode(c.LinkWatch.TargetHost))
	}
	if c.LinkWatch.Name == LinkWatchNSNAPing {
		put(lw, "interval", strNode(formatDuration(c.LinkWatch.Interval)))
		put(lw, "missed_max", intNode(c.LinkWatch.MissedMax))
		put(lw, "target_host", strNode(c.LinkWatch.TargetHost))
	}
	if c.LinkWatch.DelayUp != 0 || c.LinkWatch.DelayDown != 0 {
		put(lw, "delay_up", strNode(formatDuration(c.LinkWatch.DelayUp)))
		put(lw, "delay_down", strNode(formatDuration(c.LinkWatch.DelayDown)))
	}
	put(root, "link_watch", lw)

	rx := &yaml.Node{Kind: yaml.MappingNode}
	put(rx, "enabled", boolNode(c.RxTranslation.Enabled))
	put(rx, "learn", strNode(c.RxTranslation.Learn))
	put(rx, "age_time", strNode(formatDuration(c.RxTranslation.AgeTime)))
	put(root, "rx_translation", rx)

	put(root, "metrics", strNode(c.Metrics))

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, fmt.Errorf("dump config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("dump config: %w", err)
	}
	return buf.Bytes(), nil
}

// flowList is a list in flow style ([a, b]), each item made by node.
func flowList[V any](items []V, node func(V) *yaml.Node) *yaml.Node {
	l := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, it := range items {
		l.Content = append(l.Content, node(it))
	}
	return l
}

// strNode is a string; the encoder quotes it when it would otherwise
// read back as something else ("true", "100").
func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func intNode(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// formatDuration writes d in its largest exact unit of s, ms, us or ns
// (300s, 500us), which is easier to read in a config than 5m0s or 500µs.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d%time.Microsecond == 0:
		return strconv.FormatInt(int64(d/time.Microsecond), 10) + "us"
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}
