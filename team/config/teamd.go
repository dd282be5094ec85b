package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// teamd JSON (docs/contract.md §3.2, teamd.conf(5)).
//
// A file is read the way teamd reads it: any JSON white space, duplicate
// keys refused (teamd loads with JSON_REJECT_DUPLICATES), teamd's
// defaults (runner roundrobin, link watcher ethtool, lacp fast_rate
// false, arp_ping interval 1000 ms and missed_max 3, ...). Where
// docs/contract.md §3.2 says so, teamd-go is more forgiving than teamd:
// 0 and 1 are read as booleans (teamd ignores them and uses its default;
// a warning says so; §7 there records the difference). It is stricter where teamd is silent: an unknown key, a value of
// the wrong type or an unknown tx_hash name is an error, not a debug
// log line and a default.
//
// The mapping:
//
//	device                  team, and a TAP vnic of that name for the host stack
//	hwaddr                  the MAC of that TAP
//	ports.NAME              members, sorted by name; prio, sticky, lacp_prio, lacp_key
//	runner.name
//	  activebackup          switch-independent + active-backup; the member with the
//	                        highest prio is preferred (no member is made primary)
//	  loadbalance           static + address-hash, hash from runner.tx_hash
//	  lacp                  lacp + address-hash; runner.active, fast_rate, sys_prio,
//	                        min_ports, tx_hash
//	  roundrobin (default)  static + round-robin
//	link_watch ethtool      carrier
//	link_watch arp_ping     arp_ping: interval (milliseconds), missed_max,
//	                        source_host, target_host (IPv4 addresses, not names)
//	link_watch nsna_ping    nsna_ping: interval (milliseconds), missed_max,
//	                        target_host (an IPv6 address, not a name)
//
// Errors, because ignoring them would change what the team does:
// runners broadcast and random; the link watcher tipc;
// several link watchers (teamd-go runs one per team); a per-port
// link_watch that differs from the team's; runner.tx_balancer (active
// Tx balancing: write YAML with balance: dynamic instead);
// ports.NAME.queue_id (a Tx queue of the kernel team device, which
// teamd-go does not use); arp_ping vlanid.
//
// Warnings in Config.Warnings, because ignoring them is harmless:
// debug_level, notify_peers, mcast_rejoin, runner.hwaddr_policy,
// runner.agg_select_policy other than lacp_prio, runner.addr, the
// ethtool delays, arp_ping and nsna_ping init_wait, validate_active, validate_inactive
// and send_always, options of another runner or link watcher (teamd
// ignores those too). link_watch_policy is accepted: with one link
// watcher it makes no difference.

// maxJSONDepth bounds nesting; teamd's format needs four levels.
const maxJSONDepth = 32

var (
	teamdTopKeys    = []string{"device", "debug_level", "hwaddr", "runner", "notify_peers", "mcast_rejoin", "link_watch", "link_watch_policy", "ports", "backend"}
	teamdRunnerKeys = []string{"name", "hwaddr_policy", "tx_hash", "tx_balancer", "active", "fast_rate", "sys_prio", "min_ports", "agg_select_policy", "fallback", "addr"}
	teamdRunnerOwn  = map[string][]string{
		"activebackup": {"hwaddr_policy"},
		"loadbalance":  {"tx_hash", "tx_balancer"},
		"lacp":         {"tx_hash", "tx_balancer", "active", "fast_rate", "sys_prio", "min_ports", "agg_select_policy", "fallback"},
	}
	teamdRunners   = []string{"broadcast", "roundrobin", "random", "activebackup", "loadbalance", "lacp"}
	teamdPortKeys  = []string{"prio", "sticky", "lacp_prio", "lacp_key", "queue_id", "link_watch"}
	teamdLWKeys    = []string{"name", "delay_up", "delay_down", "interval", "init_wait", "missed_max", "source_host", "target_host", "validate_active", "validate_inactive", "vlanid", "send_always", "tipc_bearer"}
	teamdLWs       = []string{"ethtool", "arp_ping", "nsna_ping", "tipc"}
	teamdLWOptions = map[string][]string{
		"ethtool":   {"delay_up", "delay_down"},
		"arp_ping":  {"interval", "init_wait", "missed_max", "source_host", "target_host", "validate_active", "validate_inactive", "vlanid", "send_always"},
		"nsna_ping": {"interval", "init_wait", "missed_max", "target_host"},
		"tipc":      {"tipc_bearer"},
	}
	// teamdRunnerLACP maps the lacp runner's options that are YAML
	// lacp: keys to those keys.
	teamdRunnerLACP     = map[string]string{"active": "active", "sys_prio": "system_priority", "min_ports": "min_ports"}
	teamdHwaddrPolicies = []string{"same_all", "by_active", "only_active"}
	teamdAggPolicies    = []string{"lacp_prio", "lacp_prio_stable", "bandwidth", "count", "port_config"}
)

// parseTeamd reads teamd's JSON into a defaulted Config. The Config is
// nil when the file is not a JSON object.
func parseTeamd(data []byte) (*Config, problems, problems, *source) {
	var ps, warns problems
	src := newSource()
	root, p := jsonTree(data)
	if p != nil {
		ps.list = append(ps.list, *p)
		return nil, ps, warns, src
	}
	t := &teamdReader{&yamlDecoder{reader: &reader{probs: &ps, warns: &warns, json: true}, src: src}}
	c := t.config(root)
	return c, ps, warns, src
}

// teamdReader reads teamd JSON. Its values are read with the YAML
// reader's typed reads (in teamd's words: r.json), and a teamd key that
// means what a YAML key of the same name means is read through that
// key's entry in keys.go.
type teamdReader struct {
	*yamlDecoder
}

func (t *teamdReader) warn(line int, key, format string, args ...any) {
	t.warns.add(line, key, format, args...)
}

// keyed is a key of a JSON object with its value.
type keyed struct {
	key  string
	line int
	v    *yaml.Node
}

// object collects the keys of a JSON object, in file order.
func (t *teamdReader) object(n *yaml.Node, path string, known []string) ([]keyed, map[string]keyed) {
	var list []keyed
	m := make(map[string]keyed)
	t.each(n, path, known, func(key string, k, v *yaml.Node) {
		list = append(list, keyed{key, k.Line, v})
		m[key] = list[len(list)-1]
	})
	return list, m
}

func (t *teamdReader) config(root *yaml.Node) *Config {
	if root.Kind != yaml.MappingNode {
		t.probs.add(root.Line, "", "teamd JSON must be an object ({\"device\": ..., \"runner\": ..., \"ports\": ...}), got %s", t.describe(root))
		return nil
	}
	c := defaults()
	_, top := t.object(root, "", teamdTopKeys)

	// device: the team, and the TAP that stands for teamd's team device.
	dev := top["device"]
	t.src.record("team", dev.line, "device")
	if dev.v != nil && t.str(dev.v, "device", &c.Team) {
		c.VNICs = []VNIC{{Name: c.Team, TAP: true}}
		t.src.record("vnics", dev.line, "device")
		t.src.record("vnics[0]", dev.line, "device")
		t.src.record("vnics[0].name", dev.line, "device")
		if hw, ok := top["hwaddr"]; ok && t.str(hw.v, "hwaddr", &c.VNICs[0].MAC) {
			t.src.record("vnics[0].mac", hw.line, "hwaddr")
		}
	}
	// backend is teamd-go's own key (teamd has no such choice and
	// ignores keys it does not know), as in the YAML config.
	if b, ok := top["backend"]; ok && t.str(b.v, "backend", &c.Backend) {
		t.src.record("backend", b.line, "backend")
	}
	if dl, ok := top["debug_level"]; ok {
		var n int
		if t.integer(dl.v, "debug_level", &n) && n != 0 {
			t.warn(dl.line, "debug_level", "ignored: set teamd-go's log level instead")
		}
	}
	for _, key := range []string{"notify_peers", "mcast_rejoin"} {
		kv, ok := top[key]
		if !ok {
			continue
		}
		t.each(kv.v, key, []string{"count", "interval"}, func(k string, kn, vn *yaml.Node) {
			var n int
			if t.integer(vn, join(key, k), &n) && n < 0 {
				t.probs.add(kn.Line, join(key, k), "must not be negative")
			}
		})
		t.warn(kv.line, key, "ignored: teamd-go has no %s setting", key)
	}

	t.runner(top["runner"], c)
	portLW := t.ports(top["ports"], c)
	t.linkWatch(top, portLW, c)
	return c
}

// runner maps runner.* to mode, balance, hash and the LACP parameters:
// runner.name picks mode and balance (runnerMode), then each option the
// runner has is read (runnerOption) and each it does not have is warned
// about, as teamd ignores it.
func (t *teamdReader) runner(kv keyed, c *Config) {
	var list []keyed
	opts := map[string]keyed{}
	if kv.v != nil {
		list, opts = t.object(kv.v, "runner", teamdRunnerKeys)
	}
	name := t.runnerMode(opts, c)
	own := teamdRunnerOwn[name]
	for _, o := range list {
		key := o.key
		if key == "name" {
			continue
		}
		path := "runner." + key
		if key == "addr" {
			t.warn(o.line, path, "ignored: teamd's ZeroMQ control address; teamd-go's control socket is /run/teamd-go/TEAM.sock")
			continue
		}
		if name == "" {
			continue
		}
		if !slices.Contains(own, key) {
			t.warn(o.line, path, "ignored by the %s runner (teamd ignores it too)", name)
			continue
		}
		t.runnerOption(o, path, c)
	}
}

// runnerMode sets c.Mode and c.Balance from runner.name and returns
// the runner's name, or "" when it is unusable (then mode and balance
// stay empty, so that validate skips every check that depends on them).
func (t *teamdReader) runnerMode(opts map[string]keyed, c *Config) string {
	name := "roundrobin" // teamd's default runner
	nameKV, given := opts["name"]
	t.src.record("mode", nameKV.line, "runner.name")
	t.src.record("balance", nameKV.line, "runner.name")
	if given && !t.str(nameKV.v, "runner.name", &name) {
		name = ""
	}
	switch name {
	case "activebackup":
		c.Mode, c.Balance = ModeSwitchIndependent, BalanceActiveBackup
	case "loadbalance":
		c.Mode, c.Balance = ModeStatic, BalanceAddressHash
	case "lacp":
		c.Mode, c.Balance = ModeLACP, BalanceAddressHash
		c.LACP.Rate = LACPRateSlow // teamd: fast_rate defaults to false
	case "roundrobin":
		c.Mode, c.Balance = ModeStatic, BalanceRoundRobin
	default:
		switch name {
		case "":
		case "broadcast":
			t.probs.add(nameKV.line, "runner.name", "%q is not supported by teamd-go (it sends every frame on every member); use activebackup, loadbalance, lacp or roundrobin", name)
		case "random":
			t.probs.add(nameKV.line, "runner.name", "%q is not supported by teamd-go (it sends each frame on a member picked at random); use loadbalance or roundrobin", name)
		default:
			t.probs.add(nameKV.line, "runner.name", "unknown runner %q%s; teamd has %s", name, suggest(name, teamdRunners), oneOf(teamdRunners))
		}
		c.Mode, c.Balance = "", ""
		return ""
	}
	return name
}

// runnerOption reads one option o (at path "runner.KEY") of the runner
// that has it.
func (t *teamdReader) runnerOption(o keyed, path string, c *Config) {
	switch o.key {
	case "hwaddr_policy":
		var p string
		if !t.str(o.v, path, &p) {
			return
		}
		if !slices.Contains(teamdHwaddrPolicies, p) {
			t.probs.add(o.line, path, "unknown policy %q; teamd has %s", p, oneOf(teamdHwaddrPolicies))
			return
		}
		t.warn(o.line, path, "ignored: teamd-go does not change the MACs of members; frames leave with the source MAC of their vnic (see source_mac_rewrite)")
	case "tx_hash":
		t.strList(o.v, path, &c.Hash)
		t.src.record("hash", o.line, path)
		if l := resolve(o.v); l.Kind == yaml.SequenceNode {
			for i, item := range l.Content {
				t.src.record(index("hash", i), item.Line, index(path, i))
			}
		}
	case "tx_balancer":
		t.probs.add(o.line, path, "active Tx balancing is not supported by teamd-go's teamd reader: remove it to balance by hash (address-hash), or write a YAML config with balance: dynamic")
	case "active", "sys_prio", "min_ports":
		key := teamdRunnerLACP[o.key]
		readKey(t.yamlDecoder, lacpYAML, key, o.v, path, &c.LACP)
		t.src.record(join("lacp", key), o.line, path)
	case "fast_rate":
		var fast bool
		if t.boolean(o.v, path, &fast) {
			c.LACP.Rate = LACPRateSlow
			if fast {
				c.LACP.Rate = LACPRateFast
			}
		}
		t.src.record("lacp.rate", o.line, path)
	case "fallback":
		// SONiC's teamd: "fallback": true brings the LAG up on one port
		// without a partner (active-backup); teamd-go's names are taken
		// too.
		switch n := resolve(o.v); {
		case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool":
			var b bool
			if t.boolean(o.v, path, &b) {
				c.LACP.Fallback = FallbackNone
				if b {
					c.LACP.Fallback = FallbackActiveBackup
				}
			}
		default:
			t.str(o.v, path, &c.LACP.Fallback)
		}
		t.src.record("lacp.fallback", o.line, path)
	case "agg_select_policy":
		var p string
		if !t.str(o.v, path, &p) {
			return
		}
		switch {
		case !slices.Contains(teamdAggPolicies, p):
			t.probs.add(o.line, path, "unknown policy %q; teamd has %s", p, oneOf(teamdAggPolicies))
		case p != "lacp_prio":
			t.warn(o.line, path, "%q ignored: teamd-go selects the aggregator by LACP priority (lacp_prio, 802.1AX)", p)
		}
	}
}

// ports maps ports.NAME to members, sorted by name, and returns each
// member's own link_watch (v nil if it has none).
func (t *teamdReader) ports(kv keyed, c *Config) []keyed {
	t.src.record("members", kv.line, "ports")
	type port struct {
		name string
		line int
		v    *yaml.Node
	}
	var ports []port
	if n := resolve(kv.v); n != nil && n.Kind == yaml.MappingNode && len(n.Content)/2 > MaxMembers {
		t.probs.add(n.Line, "ports", "%s", tooMany(len(n.Content)/2, MaxMembers, "ports", membersWhy))
		return nil
	}
	if kv.v != nil {
		t.each(kv.v, "ports", nil, func(key string, k, v *yaml.Node) {
			ports = append(ports, port{key, k.Line, v})
		})
	}
	sort.SliceStable(ports, func(i, j int) bool { return ports[i].name < ports[j].name })
	lws := make([]keyed, len(ports))
	for i, p := range ports {
		m := defaultMember(p.name)
		mk, pp := index("members", i), join("ports", p.name)
		t.src.record(mk, p.line, pp)
		t.src.record(mk+".name", p.line, pp)
		opts, _ := t.object(p.v, pp, teamdPortKeys)
		for _, o := range opts {
			key := o.key
			path := join(pp, key)
			switch key {
			case "prio", "sticky", "lacp_prio", "lacp_key": // as in YAML
				readKey(t.yamlDecoder, memberYAML, key, o.v, path, &m)
			case "queue_id":
				t.probs.add(o.line, path, "not supported by teamd-go: it maps the port to a Tx queue of the kernel team device, which teamd-go does not use; remove it")
			case "link_watch":
				lws[i] = o // read by linkWatch
				continue
			}
			t.src.record(mk+"."+key, o.line, path)
		}
		c.Members = append(c.Members, m)
	}
	return lws
}

// watch is one link watcher read from the file.
type watch struct {
	lw   LinkWatch
	path string            // "link_watch", "ports.eth1.link_watch[0]"
	at   map[string]origin // LinkWatch key -> where it was
}

// linkWatch sets c.LinkWatch. teamd gives each port the port's own
// link_watch, else the team's, else ethtool; teamd-go watches every
// member the same way, so those must all be equal.
func (t *teamdReader) linkWatch(top map[string]keyed, portLW []keyed, c *Config) {
	if p, ok := top["link_watch_policy"]; ok {
		var s string
		if t.str(p.v, "link_watch_policy", &s) && s != "any" && s != "all" {
			t.probs.add(p.line, "link_watch_policy", "want any or all; got %q", s)
		}
	}
	ref := &watch{lw: LinkWatch{Name: LinkWatchCarrier}, path: "the default link watcher (ethtool)"}
	teamSet := false
	if kv, ok := top["link_watch"]; ok {
		teamSet = true
		ref = t.watcher(kv.v, "link_watch", kv.line)
	}

	// Per-port watchers, in member order.
	type portWatch struct {
		w    *watch
		line int
	}
	var own []portWatch
	ownOf := make([]*watch, len(c.Members))
	allOwn := len(portLW) > 0
	for i, kv := range portLW {
		if kv.v == nil {
			allOwn = false
			continue
		}
		path := join(join("ports", c.Members[i].Name), "link_watch")
		w := t.watcher(kv.v, path, kv.line)
		own = append(own, portWatch{w, kv.line})
		if i < len(ownOf) {
			ownOf[i] = w
		}
	}
	if !teamSet && allOwn && len(own) > 0 {
		// The team's default watcher is used by no port.
		ref = own[0].w
	}
	if ref == nil {
		return // reported
	}
	for _, o := range own {
		if o.w == nil || o.w == ref || sameWatcher(o.w.lw, ref.lw) {
			continue
		}
		t.probs.add(o.line, o.w.path, "differs from %s (%s): teamd-go watches every member the same way; make them equal or remove the per-port link_watch", ref.path, lwDifference(o.w.lw, ref.lw))
	}
	c.LinkWatch = ref.lw
	// Hold times may differ per port: each member takes its port's.
	for i := range c.Members {
		lw := ref.lw
		if i < len(ownOf) && ownOf[i] != nil {
			lw = ownOf[i].lw
		}
		c.Members[i].DelayUp, c.Members[i].DelayDown = lw.DelayUp, lw.DelayDown
	}
	for k, o := range ref.at {
		t.src.at[join("link_watch", k)] = o
	}
	if o, ok := ref.at["name"]; ok {
		t.src.record("link_watch", o.line, ref.path)
	}
}

// watcher reads one link_watch value (an object, or an array of them)
// and returns nil if it cannot be used.
func (t *teamdReader) watcher(v *yaml.Node, path string, line int) *watch {
	v = resolve(v)
	if v != nil && v.Kind == yaml.SequenceNode {
		switch len(v.Content) {
		case 0:
			t.probs.add(line, path, "empty array: give one link watcher, or leave link_watch out for ethtool")
			return nil
		case 1:
			return t.watcher(v.Content[0], index(path, 0), v.Content[0].Line)
		}
		t.probs.add(line, path, "%d link watchers: teamd-go runs one per team, so it would not decide a link is down the way teamd does; keep one", len(v.Content))
		return nil
	}
	if v == nil || v.Kind != yaml.MappingNode {
		t.probs.add(line, path, "want an object like {\"name\": \"ethtool\"}, got %s", t.describe(v))
		return nil
	}
	list, opts := t.object(v, path, teamdLWKeys)
	w := &watch{path: path, at: make(map[string]origin)}
	nameKV, ok := opts["name"]
	var name string
	if !ok {
		t.probs.add(line, join(path, "name"), "required: %s", oneOf(teamdLWs))
		return nil
	}
	if !t.str(nameKV.v, join(path, "name"), &name) {
		return nil
	}
	w.at["name"] = origin{line: nameKV.line, key: join(path, "name")}
	switch name {
	case "ethtool":
		w.lw.Name = LinkWatchCarrier
	case "arp_ping":
		w.lw.Name = LinkWatchARPPing
	case "nsna_ping":
		w.lw.Name = LinkWatchNSNAPing
	case "tipc":
		t.probs.add(nameKV.line, join(path, "name"), "%q is not supported by teamd-go (TIPC bearer link watch); use ethtool, arp_ping or nsna_ping", name)
		return nil
	default:
		t.probs.add(nameKV.line, join(path, "name"), "unknown link watcher %q%s; teamd has %s", name, suggest(name, teamdLWs), oneOf(teamdLWs))
		return nil
	}
	usable := true
	for _, o := range list {
		key := o.key
		if key == "name" {
			continue
		}
		kp := join(path, key)
		if !slices.Contains(teamdLWOptions[name], key) {
			t.warn(o.line, kp, "ignored by the %s link watcher (teamd ignores it too)", name)
			continue
		}
		var n int
		var b bool
		switch key {
		case "delay_up", "delay_down":
			if t.integer(o.v, kp, &n) {
				if n < 0 {
					t.probs.add(o.line, kp, "must not be negative (milliseconds)")
				}
				d := time.Duration(n) * time.Millisecond
				if key == "delay_up" {
					w.lw.DelayUp = d
				} else {
					w.lw.DelayDown = d
				}
			}
		case "interval":
			if t.integer(o.v, kp, &n) {
				if n < 0 {
					t.probs.add(o.line, kp, "must not be negative (milliseconds)")
					usable = false
				}
				w.lw.Interval = time.Duration(n) * time.Millisecond
			}
		case "init_wait":
			if t.integer(o.v, kp, &n) && n > 0 {
				t.warn(o.line, kp, "ignored: teamd-go starts probing at once, the first verdict after missed_max intervals")
			}
		case "missed_max", "source_host", "target_host": // as in YAML
			readKey(t.yamlDecoder, linkWatchYAML, key, o.v, kp, &w.lw)
		case "validate_active", "validate_inactive", "send_always":
			if t.boolean(o.v, kp, &b) && b {
				t.warn(o.line, kp, "not supported by teamd-go; ignored")
			}
		case "vlanid":
			t.probs.add(o.line, kp, "ARP requests with a VLAN tag are not supported by teamd-go")
			usable = false
		}
		w.at[key] = origin{line: o.line, key: kp}
	}
	setPingDefaults(&w.lw, func(k string) bool { _, ok := w.at[k]; return ok })
	if !usable {
		return nil
	}
	return w
}

// sameWatcher reports whether a and b watch links the same way; hold
// times are per member and may differ.
func sameWatcher(a, b LinkWatch) bool {
	a.DelayUp, a.DelayDown, b.DelayUp, b.DelayDown = 0, 0, 0, 0
	return a == b
}

// lwDifference describes how a differs from b: "missed_max 0 here, 30 there".
func lwDifference(a, b LinkWatch) string {
	var d []string
	f := func(key string, x, y any) {
		if x != y {
			d = append(d, fmt.Sprintf("%s %v here, %v there", key, x, y))
		}
	}
	teamdName := func(n string) string {
		if n == LinkWatchCarrier {
			return "ethtool"
		}
		return n
	}
	f("name", teamdName(a.Name), teamdName(b.Name))
	if a.Name == b.Name {
		f("interval", a.Interval.Milliseconds(), b.Interval.Milliseconds())
		f("missed_max", a.MissedMax, b.MissedMax)
		f("source_host", a.SourceHost, b.SourceHost)
		f("target_host", a.TargetHost, b.TargetHost)
	}
	return strings.Join(d, ", ")
}

// jsonTree reads JSON into yaml.Nodes with line numbers, so that teamd
// files are checked with the same code as YAML ones.
func jsonTree(data []byte) (*yaml.Node, *Problem) {
	var newlines []int
	for i, b := range data {
		if b == '\n' {
			newlines = append(newlines, i)
		}
	}
	lineAt := func(off int64) int { return sort.SearchInts(newlines, int(off)) + 1 }
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, &Problem{Line: lineAt(int64(off)), Msg: "not valid UTF-8 (teamd refuses it too)"}
	}

	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	errTooDeep := errors.New("nested too deeply")
	var value func(depth int) (*yaml.Node, error)
	value = func(depth int) (*yaml.Node, error) {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		line := lineAt(dec.InputOffset() - 1)
		switch tok := tok.(type) {
		case json.Delim:
			if depth >= maxJSONDepth {
				return nil, errTooDeep
			}
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: line}
			if tok == '[' {
				n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
			}
			for dec.More() {
				if n.Kind == yaml.MappingNode {
					k, err := dec.Token()
					if err != nil {
						return nil, err
					}
					key, _ := k.(string)
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: lineAt(dec.InputOffset() - 1)})
				}
				v, err := value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := dec.Token(); err != nil { // the closing } or ]
				return nil, err
			}
			return n, nil
		case string:
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: tok, Line: line}, nil
		case json.Number:
			tag := "!!int"
			if strings.ContainsAny(tok.String(), ".eE") {
				tag = "!!float"
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: tok.String(), Line: line}, nil
		case bool:
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(tok), Line: line}, nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null", Line: line}, nil
	}
	syntax := func(err error) *Problem {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return &Problem{Line: lineAt(min(se.Offset, int64(len(data)-1))), Msg: fmt.Sprintf("JSON syntax error: %s (a file that starts with '{' is read as teamd JSON)", se.Error())}
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return &Problem{Line: lineAt(int64(len(data))), Msg: "JSON ends too early: a } or ] is missing"}
		case errors.Is(err, errTooDeep):
			return &Problem{Line: lineAt(dec.InputOffset() - 1), Msg: fmt.Sprintf("JSON nested more than %d levels deep", maxJSONDepth)}
		}
		return &Problem{Line: lineAt(dec.InputOffset()), Msg: "JSON: " + err.Error()}
	}
	root, err := value(0)
	if err != nil {
		return nil, syntax(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntax(err)
		}
		return nil, &Problem{Line: lineAt(dec.InputOffset() - 1), Msg: "more JSON after the closing }: a file holds one team"}
	}
	return root, nil
}
