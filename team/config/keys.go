package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// The keys of the YAML format (docs/contract.md §3): one table for each
// mapping, in the order of the contract (also the order of Dump and of
// the "known here" lists of messages). Each entry names a key once and
// says how its value is read: its type (the reader's method, which
// words the "want ..., got ..." error) and the Config field it fills.
// Defaults are in defaults.go, value rules in validate.go.
var (
	topYAML = []yamlKey[Config]{
		keyOf("team", (*yamlDecoder).str, func(c *Config) *string { return &c.Team }),
		keyOf("mode", (*yamlDecoder).enum, func(c *Config) *string { return &c.Mode }),
		keyOf("balance", (*yamlDecoder).enum, func(c *Config) *string { return &c.Balance }),
		keyOf("hash", (*yamlDecoder).strList, func(c *Config) *[]string { return &c.Hash }),
		{"flowlet_gap", (*yamlDecoder).flowletGap},
		keyOf("source_mac_rewrite", (*yamlDecoder).enum, func(c *Config) *string { return &c.SourceMACRewrite }),
		keyOf("backend", (*yamlDecoder).enum, func(c *Config) *string { return &c.Backend }),
		{"busy_poll", (*yamlDecoder).busyPoll},
		listKey("members", MaxMembers, membersWhy, memberYAML, func() Member { return defaultMember("") }, func(c *Config) *[]Member { return &c.Members }),
		listKey("vnics", MaxVNICs, vnicsWhy, vnicYAML, func() VNIC { return VNIC{} }, func(c *Config) *[]VNIC { return &c.VNICs }),
		blockKey("lacp", lacpYAML, func(c *Config) *LACP { return &c.LACP }),
		blockKey("link_watch", linkWatchYAML, func(c *Config) *LinkWatch { return &c.LinkWatch }),
		blockKey("rx_translation", rxYAML, func(c *Config) *RxTranslation { return &c.RxTranslation }),
		keyOf("metrics", (*yamlDecoder).str, func(c *Config) *string { return &c.Metrics }),
	}
	memberYAML = []yamlKey[Member]{
		keyOf("name", (*yamlDecoder).str, func(m *Member) *string { return &m.Name }),
		keyOf("primary", (*yamlDecoder).boolean, func(m *Member) *bool { return &m.Primary }),
		keyOf("standby", (*yamlDecoder).boolean, func(m *Member) *bool { return &m.Standby }),
		keyOf("prio", (*yamlDecoder).integer, func(m *Member) *int { return &m.Prio }),
		keyOf("sticky", (*yamlDecoder).boolean, func(m *Member) *bool { return &m.Sticky }),
		keyOf("lacp_prio", (*yamlDecoder).integer, func(m *Member) *int { return &m.LACPPrio }),
		keyOf("lacp_key", (*yamlDecoder).integer, func(m *Member) *int { return &m.LACPKey }),
		keyOf("delay_up", (*yamlDecoder).duration, func(m *Member) *time.Duration { return &m.DelayUp }),
		keyOf("delay_down", (*yamlDecoder).duration, func(m *Member) *time.Duration { return &m.DelayDown }),
	}
	vnicYAML = []yamlKey[VNIC]{
		keyOf("name", (*yamlDecoder).str, func(v *VNIC) *string { return &v.Name }),
		keyOf("tap", (*yamlDecoder).boolean, func(v *VNIC) *bool { return &v.TAP }),
		keyOf("mac", (*yamlDecoder).str, func(v *VNIC) *string { return &v.MAC }),
		keyOf("macs", (*yamlDecoder).strList, func(v *VNIC) *[]string { return &v.MACs }),
		keyOf("mac_spoofing", (*yamlDecoder).boolean, func(v *VNIC) *bool { return &v.MACSpoofing }),
		{"vlan", (*yamlDecoder).vlan},
	}
	vlanYAML = []yamlKey[VLAN]{
		keyOf("access", (*yamlDecoder).vlanID, func(v *VLAN) *int { return &v.Access }),
		keyOf("trunk", (*yamlDecoder).intList, func(v *VLAN) *[]int { return &v.Trunk }),
		keyOf("native", (*yamlDecoder).vlanID, func(v *VLAN) *int { return &v.Native }),
	}
	lacpYAML = []yamlKey[LACP]{
		keyOf("active", (*yamlDecoder).boolean, func(l *LACP) *bool { return &l.Active }),
		keyOf("rate", (*yamlDecoder).enum, func(l *LACP) *string { return &l.Rate }),
		keyOf("system_priority", (*yamlDecoder).integer, func(l *LACP) *int { return &l.SystemPriority }),
		keyOf("min_ports", (*yamlDecoder).integer, func(l *LACP) *int { return &l.MinPorts }),
		keyOf("fallback", (*yamlDecoder).enum, func(l *LACP) *string { return &l.Fallback }),
		keyOf("fallback_after", (*yamlDecoder).duration, func(l *LACP) *time.Duration { return &l.FallbackAfter }),
	}
	linkWatchYAML = []yamlKey[LinkWatch]{
		keyOf("name", (*yamlDecoder).enum, func(lw *LinkWatch) *string { return &lw.Name }),
		keyOf("interval", (*yamlDecoder).duration, func(lw *LinkWatch) *time.Duration { return &lw.Interval }),
		keyOf("missed_max", (*yamlDecoder).integer, func(lw *LinkWatch) *int { return &lw.MissedMax }),
		keyOf("source_host", (*yamlDecoder).str, func(lw *LinkWatch) *string { return &lw.SourceHost }),
		keyOf("target_host", (*yamlDecoder).str, func(lw *LinkWatch) *string { return &lw.TargetHost }),
		keyOf("delay_up", (*yamlDecoder).duration, func(lw *LinkWatch) *time.Duration { return &lw.DelayUp }),
		keyOf("delay_down", (*yamlDecoder).duration, func(lw *LinkWatch) *time.Duration { return &lw.DelayDown }),
	}
	rxYAML = []yamlKey[RxTranslation]{
		keyOf("enabled", (*yamlDecoder).boolean, func(rx *RxTranslation) *bool { return &rx.Enabled }),
		keyOf("learn", (*yamlDecoder).enum, func(rx *RxTranslation) *string { return &rx.Learn }),
		keyOf("age_time", (*yamlDecoder).duration, func(rx *RxTranslation) *time.Duration { return &rx.AgeTime }),
	}
)

// The key names of each table, as the "known here" lists of messages
// give them.
var (
	topKeys    = keyNames(topYAML)
	memberKeys = keyNames(memberYAML)
	vnicKeys   = keyNames(vnicYAML)
	vlanKeys   = keyNames(vlanYAML)
	lacpKeys   = keyNames(lacpYAML)
	lwKeys     = keyNames(linkWatchYAML)
	rxKeys     = keyNames(rxYAML)
)

// yamlKey describes one key of a YAML mapping whose values go into a T:
// its name, and read, which reads the key's value v (at path kp) into x
// and reports a wrong one.
type yamlKey[T any] struct {
	name string
	read func(d *yamlDecoder, v *yaml.Node, kp string, x *T)
}

// keyOf is a key read with read (one of reader's typed reads) into the
// field of T that at returns.
func keyOf[T, V any](name string, read func(*yamlDecoder, *yaml.Node, string, *V) bool, at func(*T) *V) yamlKey[T] {
	return yamlKey[T]{name, func(d *yamlDecoder, v *yaml.Node, kp string, x *T) { read(d, v, kp, at(x)) }}
}

// blockKey is a key whose value is a mapping with the keys of keys,
// read into the struct at returns.
func blockKey[T, B any](name string, keys []yamlKey[B], at func(*T) *B) yamlKey[T] {
	return yamlKey[T]{name, func(d *yamlDecoder, v *yaml.Node, kp string, x *T) { readBlock(d, v, kp, keys, at(x)) }}
}

// listKey is a key whose value is a list of at most max mappings with
// the keys of keys, each read over zero() and appended to the slice at
// returns. A list that is too long is reported before any item is read
// (why says what bounds it), and left empty.
func listKey[E any](name string, max int, why string, keys []yamlKey[E], zero func() E, at func(*Config) *[]E) yamlKey[Config] {
	return yamlKey[Config]{name, func(d *yamlDecoder, v *yaml.Node, kp string, c *Config) {
		if d.tooLong(v, kp, max, name, why) {
			return
		}
		d.seq(v, kp, func(_ int, item *yaml.Node, ip string) {
			e := zero()
			d.src.record(ip, item.Line, ip)
			if d.itemIsName(item, ip) {
				readBlock(d, item, ip, keys, &e)
			}
			*at(c) = append(*at(c), e)
		})
	}}
}

func keyNames[T any](keys []yamlKey[T]) []string {
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	return names
}
