package config

import (
	"time"

	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Validate checks a Config built or changed in code (for example by
// "ctl port add") with the rules Parse applies to a file, except the
// one only a file shows: a lacp: block in a team that is not mode lacp.
// Defaults must already be filled in. It returns nil or an *Error.
func Validate(c *Config) error {
	return validate(c).err(c.Path)
}

// validate applies every rule that looks at values. Problems name
// Config key paths; Parse turns them into lines and file keys. Each
// section of the file has its own check; a rule that combines sections
// runs only when the keys it reads are valid themselves (modeOK,
// balanceOK), so one mistake is reported once.
func validate(c *Config) problems {
	var v validator
	modeOK, balanceOK := v.team(c)
	members := v.members(c, modeOK)
	v.vnics(c, members)
	v.combinations(c, modeOK, balanceOK)
	v.lacp(c, modeOK)
	v.linkWatch(c.LinkWatch)
	v.rxTranslation(c, modeOK, balanceOK)
	v.metrics(c)
	return v.ps
}

// validator collects the problems of one validate pass.
type validator struct{ ps problems }

func (v *validator) add(key, format string, args ...any) { v.ps.add(0, key, format, args...) }

// enum reports got unless it is one of known, suggesting the nearest.
func (v *validator) enum(key, got string, known []string) bool {
	if slices.Contains(known, got) {
		return true
	}
	v.add(key, "want %s; got %q%s", oneOf(known), got, suggest(got, known))
	return false
}

// inRange reports n unless it is lo to hi; note follows the range in
// the message (" (default 255; lower is preferred)").
func (v *validator) inRange(key string, n, lo, hi int, note string) bool {
	if n < lo || n > hi {
		v.add(key, "%d is out of range: want %d to %d%s", n, lo, hi, note)
		return false
	}
	return true
}

// itemName checks the name of the list item key (members[1], vnics[0]):
// required (what says what it names), an interface name, not already
// the name of an item in names (interface name -> key that has it), and
// when also is not "", taken elsewhere ("%q is also " + also). A good
// name is added to names.
func (v *validator) itemName(key, name, what string, names map[string]string, also string) {
	switch prev, dup := names[name]; {
	case name == "":
		v.add(key+".name", "required: %s", what)
	case checkIfName(name) != "":
		v.add(key+".name", "%s", checkIfName(name))
	case dup:
		v.add(key+".name", "%q is already %s", name, prev)
	case also != "":
		v.add(key+".name", "%q is also %s", name, also)
	default:
		names[name] = key
	}
}

// onlyWith reports each set field under prefix with msg.
func (v *validator) onlyWith(prefix, msg string, fields ...field) {
	for _, f := range fields {
		if f.set {
			v.add(prefix+f.key, "%s", msg)
		}
	}
}

// field is a key and whether the configuration sets it.
type field struct {
	key string
	set bool
}

// team checks the top-level keys; it reports whether mode and balance
// are known values.
func (v *validator) team(c *Config) (modeOK, balanceOK bool) {
	if c.Team == "" {
		v.add("team", "required: the team's name (it names the control socket /run/teamd-go/NAME.sock)")
	} else if msg := checkIfName(c.Team); msg != "" {
		v.add("team", "%s", msg)
	}
	modeOK = v.enum("mode", c.Mode, modes)
	balanceOK = v.enum("balance", c.Balance, balances)
	v.enum("source_mac_rewrite", c.SourceMACRewrite, rewrites)
	v.enum("backend", c.Backend, backends)
	if len(c.Hash) == 0 {
		v.add("hash", "empty: list at least one field, e.g. [eth, ipv4, ipv6] (the default)")
	}
	for i, h := range c.Hash {
		if !slices.Contains(hashFields, h) {
			v.add(index("hash", i), "unknown field %q%s; want teamd tx_hash names: %s", h, suggest(h, hashFields), strings.Join(hashFields, ", "))
		}
	}
	if c.FlowletGap <= 0 || c.FlowletGap > MaxFlowletGap {
		v.add("flowlet_gap", "%s is out of range: want auto, or more than 0 and at most %s (default %s)",
			formatDuration(c.FlowletGap), formatDuration(MaxFlowletGap), formatDuration(DefaultFlowletGap))
	}
	if !c.BusyPollAuto && (c.BusyPoll < 0 || c.BusyPoll > MaxBusyPoll) {
		v.add("busy_poll", "%s is out of range: want auto, off, or a duration of at most %s (default auto: at most %s)",
			formatDuration(c.BusyPoll), formatDuration(MaxBusyPoll), formatDuration(DefaultBusyPoll))
	}
	return modeOK, balanceOK
}

// members checks the members: list and returns the member names, each
// mapped to the key that has it.
func (v *validator) members(c *Config, modeOK bool) map[string]string {
	if len(c.Members) == 0 {
		v.add("members", "at least one member is required: the physical NICs of the team")
	}
	if len(c.Members) > MaxMembers {
		// Before any per-member work: "ctl port add" of a 65th member
		// and a file with 100,000 get the same answer, fast.
		v.add("members", "%s", tooMany(len(c.Members), MaxMembers, "members", membersWhy))
		return nil
	}
	names := make(map[string]string) // interface name -> key that has it
	primary := ""
	standby := 0
	for i, m := range c.Members {
		key := index("members", i)
		v.itemName(key, m.Name, "the name of a physical NIC, e.g. eth1", names, "")
		if m.Primary {
			if primary != "" {
				v.add(key+".primary", "%s is already primary; at most one member can be", primary)
			} else {
				primary = key
			}
		}
		if m.Standby {
			standby++
		}
		if modeOK && c.Mode != ModeSwitchIndependent {
			v.onlyWith(key+".", fmt.Sprintf("only with mode: switch-independent; in %s mode the switch decides which member a frame arrives on", c.Mode),
				field{"primary", m.Primary}, field{"standby", m.Standby})
		}
		if m.Primary && m.Standby {
			v.add(key+".standby", "a member cannot be both primary and standby")
		}
		v.inRange(key+".lacp_prio", m.LACPPrio, 0, 65535, fmt.Sprintf(" (default %d; lower is preferred)", DefaultLACPPortPriority))
		v.inRange(key+".lacp_key", m.LACPKey, 0, 65535, "")
		v.delays(key+".", m.DelayUp, m.DelayDown)
	}
	if standby > 0 && standby == len(c.Members) && modeOK && c.Mode == ModeSwitchIndependent {
		v.add("members", "every member is standby: at least one must not be, or the team never sends")
	}
	return names
}

// vnics checks the vnics: list; members are the member names, which a
// vnic cannot reuse.
func (v *validator) vnics(c *Config, members map[string]string) {
	if len(c.VNICs) > MaxVNICs {
		v.add("vnics", "%s", tooMany(len(c.VNICs), MaxVNICs, "vnics", vnicsWhy))
		return
	}
	vnics := make(map[string]string)
	macs := make(map[string]string)
	for i, n := range c.VNICs {
		key := index("vnics", i)
		also := ""
		if members[n.Name] != "" {
			also = "a member: an interface is either a member (a NIC towards the physical switch) or a vnic (a port of the virtual switch), not both"
		}
		v.itemName(key, n.Name, "an existing interface (e.g. the host end of a VM's veth) or, with tap: true, a TAP to create", vnics, also)
		v.vnicMACs(key, n, macs)
		v.vnicVLAN(key+".vlan", n.VLAN)
		if pins, vlans := len(n.MACs), n.VLAN.count(); pins*vlans > MaxPinnedEntries {
			v.add(key+".macs", "%d pinned MACs on %d VLANs are %d table entries (one per MAC and VLAN); at most %d", pins, vlans, pins*vlans, MaxPinnedEntries)
		}
		if n.MAC == "" {
			continue
		}
		if !n.TAP {
			v.add(key+".mac", "only with tap: true: teamd-go sets the MAC of the TAPs it creates, not of existing interfaces")
			continue
		}
		hw, msg := checkUnicastMAC(n.MAC)
		if msg != "" {
			v.add(key+".mac", "%s", msg)
			continue
		}
		if prev, dup := macs[hw]; dup && !strings.HasPrefix(prev, key+".") {
			v.add(key+".mac", "%s is already the MAC of %s", hw, prev)
		} else {
			macs[hw] = key
		}
	}
}

// vnicMACs checks a vnic's macs: and mac_spoofing:. macs maps the MACs
// seen so far to the key that has them: a MAC has one owner.
func (v *validator) vnicMACs(key string, n VNIC, macs map[string]string) {
	if n.MACSpoofing && len(n.MACs) == 0 {
		v.add(key+".mac_spoofing", "only with macs: a vnic without macs may send from any MAC another vnic does not own already")
	}
	if len(n.MACs) > MaxVNICMACs {
		v.add(key+".macs", "%d MACs; a vnic owns at most %d", len(n.MACs), MaxVNICMACs)
		return
	}
	for j, m := range n.MACs {
		mkey := index(key+".macs", j)
		hw, msg := checkUnicastMAC(m)
		switch prev, dup := macs[hw]; {
		case msg != "":
			v.add(mkey, "%s", msg)
		case dup && strings.HasPrefix(prev, key+"."):
			v.add(mkey, "%s is listed twice (also %s)", hw, prev)
		case dup:
			v.add(mkey, "%s is already the MAC of %s", hw, prev)
		default:
			macs[hw] = mkey
		}
	}
}

// vnicVLAN checks a vnic's vlan: block (key is its path).
func (v *validator) vnicVLAN(key string, vl VLAN) {
	id := func(k string, n int) bool {
		if n < MinVLAN || n > MaxVLAN {
			v.add(k, "%d is out of range: want a VLAN id %d to %d", n, MinVLAN, MaxVLAN)
			return false
		}
		return true
	}
	if vl.Access != 0 {
		id(key+".access", vl.Access)
		v.onlyWith(key+".", "not with access: an access vnic is on its one VLAN, untagged; a trunk carries tagged VLANs (and its native one untagged)",
			field{"trunk", vl.Trunk != nil}, field{"native", vl.Native != 0})
		return
	}
	if vl.Native != 0 {
		if vl.Trunk == nil {
			v.add(key+".native", "only with trunk: the native VLAN is a trunk's VLAN for untagged frames (for a vnic on one VLAN, write access: %d)", vl.Native)
		}
		id(key+".native", vl.Native)
	}
	if vl.Trunk == nil {
		return
	}
	if len(vl.Trunk) == 0 {
		v.add(key+".trunk", "empty: a trunk carries at least one VLAN (for untagged frames only, write access: N)")
		return
	}
	seen := make(map[int]string, len(vl.Trunk))
	for j, n := range vl.Trunk {
		k := index(key+".trunk", j)
		if !id(k, n) {
			continue
		}
		if prev, dup := seen[n]; dup {
			v.add(k, "%d is listed twice (also %s)", n, prev)
			continue
		}
		seen[n] = k
	}
}

// combinations checks the pairs of mode, balance and vnics that do not
// work together.
func (v *validator) combinations(c *Config, modeOK, balanceOK bool) {
	if balanceOK && c.Balance == BalanceHyperVPort && len(c.VNICs) == 0 {
		v.add("balance", "hyperv-port pins each vnic to a member, but the team has no vnics: add vnics or use address-hash")
	}
	if balanceOK && modeOK && c.Balance == BalanceRoundRobin && c.Mode == ModeSwitchIndependent {
		v.add("balance", "round-robin only with mode static or lacp: it spreads every flow over all members, and a switch that does not know about the team sees the same MACs flap between its ports")
	}
}

// lacp checks the lacp: block. It runs in every mode: the values are
// defaults unless the file has a lacp: block, and that block is an
// error outside mode lacp (Parse reports that).
func (v *validator) lacp(c *Config, modeOK bool) {
	v.enum("lacp.rate", c.LACP.Rate, rates)
	// A Config built in code may leave fallback empty: none.
	if c.LACP.Fallback != "" {
		v.enum("lacp.fallback", c.LACP.Fallback, fallbacks)
	}
	if fb := c.LACP.Fallback; fb != "" && fb != FallbackNone && (c.LACP.FallbackAfter <= 0 || c.LACP.FallbackAfter > MaxHoldDelay) {
		v.add("lacp.fallback_after", "%s is out of range: want more than 0, at most %s (default %s)",
			formatDuration(c.LACP.FallbackAfter), formatDuration(MaxHoldDelay), formatDuration(DefaultLACPFallbackAfter))
	}
	v.inRange("lacp.system_priority", c.LACP.SystemPriority, 1, 65535, fmt.Sprintf(" (default %d; lower is preferred)", DefaultLACPSystemPriority))
	if v.inRange("lacp.min_ports", c.LACP.MinPorts, 1, MaxLACPMinPorts, "") && modeOK && c.Mode == ModeLACP && len(c.Members) > 0 && c.LACP.MinPorts > len(c.Members) {
		v.add("lacp.min_ports", "%d, but the team has %d member(s): it would never carry traffic", c.LACP.MinPorts, len(c.Members))
	}
}

// MaxHoldDelay bounds delay_up and delay_down.
const MaxHoldDelay = time.Hour

// delays checks hold times (prefix "link_watch." or "members[1].").
func (v *validator) delays(prefix string, up, down time.Duration) {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"delay_up", up}, {"delay_down", down}} {
		if d.v < 0 || d.v > MaxHoldDelay {
			v.add(prefix+d.key, "%s is out of range: want 0 (act at once) to %s", formatDuration(d.v), formatDuration(MaxHoldDelay))
		}
	}
}

// linkWatch checks the link_watch: block.
func (v *validator) linkWatch(lw LinkWatch) {
	v.delays("link_watch.", lw.DelayUp, lw.DelayDown)
	if !v.enum("link_watch.name", lw.Name, watchers) {
		return
	}
	switch lw.Name {
	case LinkWatchCarrier:
		v.onlyWith("link_watch.", "only with name: arp_ping or nsna_ping (this team watches the carrier)",
			field{"interval", lw.Interval != 0},
			field{"missed_max", lw.MissedMax != 0},
			field{"source_host", lw.SourceHost != ""},
			field{"target_host", lw.TargetHost != ""})
	case LinkWatchARPPing:
		if lw.Interval <= 0 {
			v.add("link_watch.interval", "must be more than 0: the time between two ARP requests (default %s)", formatDuration(DefaultARPInterval))
		}
		if lw.MissedMax < 0 {
			v.add("link_watch.missed_max", "must not be negative: the number of missed replies after which the link is down (default %d)", DefaultARPMissedMax)
		}
		if lw.SourceHost == "" {
			v.add("link_watch.source_host", "empty: give the IPv4 address to send ARP requests from, or leave the key out to send from 0.0.0.0")
		} else if msg := checkIPv4(lw.SourceHost, false); msg != "" {
			v.add("link_watch.source_host", "%s", msg)
		}
		if lw.TargetHost == "" {
			v.add("link_watch.target_host", "required with arp_ping: the IPv4 address to send ARP requests to, e.g. the gateway")
		} else if msg := checkIPv4(lw.TargetHost, true); msg != "" {
			v.add("link_watch.target_host", "%s", msg)
		}
	case LinkWatchNSNAPing:
		if lw.Interval <= 0 {
			v.add("link_watch.interval", "must be more than 0: the time between two neighbour solicitations (default %s)", formatDuration(DefaultNSNAInterval))
		}
		if lw.MissedMax < 0 {
			v.add("link_watch.missed_max", "must not be negative: the number of unanswered solicitations after which the link is down (default %d)", DefaultNSNAMissedMax)
		}
		if lw.SourceHost != "" {
			v.add("link_watch.source_host", "only with name: arp_ping; nsna_ping sends from each member's link-local address (fe80:: and the EUI-64 of the member's MAC)")
		}
		if lw.TargetHost == "" {
			v.add("link_watch.target_host", "required with nsna_ping: the IPv6 address to send neighbour solicitations to, e.g. the gateway's link-local address")
		} else if msg := checkIPv6Target(lw.TargetHost); msg != "" {
			v.add("link_watch.target_host", "%s", msg)
		}
	}
}

// rxTranslation checks the rx_translation: block.
func (v *validator) rxTranslation(c *Config, modeOK, balanceOK bool) {
	v.enum("rx_translation.learn", c.RxTranslation.Learn, learnings)
	if c.RxTranslation.AgeTime <= 0 {
		v.add("rx_translation.age_time", "must be more than 0 (default %s)", formatDuration(DefaultRxAgeTime))
	}
	if c.RxTranslation.Enabled && modeOK && balanceOK &&
		(c.Mode != ModeSwitchIndependent || c.Balance != BalanceActiveBackup) {
		v.add("rx_translation.enabled", "only with mode: switch-independent and balance: active-backup, the active/passive team it is made for (this team is %s with %s)", c.Mode, c.Balance)
	}
}

// metrics checks the metrics: address.
func (v *validator) metrics(c *Config) {
	if c.Metrics == "" {
		return
	}
	if msg := checkListenAddr(c.Metrics); msg != "" {
		v.add("metrics", "%s", msg)
	}
}

// checkIfName returns why name cannot be a Linux interface name, or "".
// The kernel's rules (dev_valid_name): at most 15 bytes, not "." or
// "..", no '/', ':' or white space. Control characters are refused too.
func checkIfName(name string) string {
	switch {
	case len(name) > 15:
		return fmt.Sprintf("%q is %d bytes long; Linux interface names have at most 15", name, len(name))
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a valid interface name", name)
	}
	for _, r := range name {
		if r == '/' || r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Sprintf("%q contains %q; interface names cannot contain '/', ':', spaces or control characters", name, r)
		}
	}
	return ""
}

// checkUnicastMAC parses an Ethernet MAC a vnic may own and returns it
// in canonical form (02:00:00:00:00:01), or a message.
func checkUnicastMAC(s string) (string, string) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Sprintf("%q is not an Ethernet MAC; want six bytes like 02:00:00:00:00:01", s)
	}
	if hw[0]&1 != 0 {
		return "", fmt.Sprintf("%s is a multicast address; a vnic needs a unicast MAC (even first byte, e.g. 02:...)", hw)
	}
	if slices.Equal(hw, make(net.HardwareAddr, 6)) {
		return "", "00:00:00:00:00:00 is not a usable MAC"
	}
	return hw.String(), ""
}

// checkIPv4 returns why s is not an IPv4 address usable in ARP
// requests, or "". A target must be a unicast host address.
func checkIPv4(s string, target bool) string {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Sprintf("want an IPv4 address like 192.168.23.1, got %q (teamd-go does not resolve host names)", s)
	}
	if target && (a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return fmt.Sprintf("%s cannot answer ARP requests: want the unicast address of a host, e.g. the gateway", a)
	}
	if !target && (a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
		return fmt.Sprintf("%s is not a host address: want one of this host's IPv4 addresses, or 0.0.0.0", a)
	}
	return ""
}

// checkIPv6Target returns why s is not an IPv6 address nsna_ping can
// solicit, or "": a unicast address on the members' link, link-local or
// global, without a zone (the team sends on every member).
func checkIPv6Target(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		return fmt.Sprintf("want an IPv6 address like fe80::1 or 2001:db8::1, got %q (teamd-go does not resolve host names; arp_ping watches IPv4 hosts)", s)
	}
	if a.Zone() != "" {
		return fmt.Sprintf("%s: no zone: the team asks on every member", a)
	}
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
		return fmt.Sprintf("%s cannot answer neighbour solicitations: want the unicast address of a host on the members' link, e.g. the gateway", a)
	}
	return ""
}

// checkListenAddr returns why s is not host:port for a listener, or "".
// The host may be empty (all addresses).
func checkListenAddr(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("want host:port like 127.0.0.1:9469 (or empty to serve no metrics), got %q", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Sprintf("port %q: want a number from 1 to 65535", port)
	}
	if strings.ContainsFunc(host, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '/' }) {
		return fmt.Sprintf("host %q: want an IP address or a host name", host)
	}
	return ""
}

// normalize puts values that have several spellings into one, so that
// Diff and Dump see equal configurations as equal. Only for valid
// configurations.
func normalize(c *Config) {
	for i := range c.VNICs {
		if hw, msg := checkUnicastMAC(c.VNICs[i].MAC); c.VNICs[i].MAC != "" && msg == "" {
			c.VNICs[i].MAC = hw
		}
		for j, m := range c.VNICs[i].MACs {
			if hw, msg := checkUnicastMAC(m); msg == "" {
				c.VNICs[i].MACs[j] = hw
			}
		}
	}
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
