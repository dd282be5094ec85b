package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/lab/lbemu"
)

// AutoLastHop is the first seed (SPEC §5 "auto-last-hop"): a VM behind a
// switch-independent teamd-go team with the dynamic balancer talks
// through a load balancer with "auto last hop" on the VM's own subnet,
// and part of its connections never open.
//
// Each variant builds, in namespaces named tgl<pid>-<variant>-<role>:
//
//	vm ── eth0 ═ vm1 ┐
//	host: teamd-go, vnic vm1, members m1 (primary) and m2
//	        m1 ═ p1 ┐   m2 ═ p2 ┐
//	sw: Open vSwitch, userspace datapath, bridge br0: p1, p2 (plain ports,
//	    or one bond for static/lacp) and plb
//	lb: the emulator (lab/lbemu), in0 ═ plb on 10.61.1.1/24 (the VM's
//	    gateway), out0 on 10.61.2.1/24, ip_forward=0
//	cl: eth0 10.61.2.10/24, the server
//
// With a router between (variant router-between), the LB's inside moves to
// a transit subnet, 10.61.3.1/24 towards rt's eth1 (10.61.3.2), and rt's
// eth0 (10.61.1.1, on the switch) is the VM's gateway; rt forwards with
// the kernel (ip_forward=1).
//
// Every interface keeps the kernel's default offloads (TSO, checksum
// offload), the team's members and the VM's veth included: teamd-go,
// Open vSwitch (userspace TSO, see OVS) and the emulator (PACKET_VNET_HDR,
// see lab/lbemu) all pass GSO super-frames and partial checksums through
// with their virtio-net header, so TCP crosses every box as the hosts'
// kernels send it.
//
// Traffic: 100 exchanges (connect, one request line, one response, close)
// from the VM to the server, 25 at a time, 2 s each at most (a SYN that
// gets no SYN-ACK is sent again after 1 s, so an exchange that fails has
// failed twice). The dynamic balancer puts each new flow on the member
// with the least recent load (load decays with a 1 ms time constant, ties
// go to the home member). Every SYN adds load to the member it leaves on,
// so the next SYN, microseconds later, goes to the other member: a burst
// of new connections alternates m1, m2, m1, ... This is what makes the
// broken variant broken on every run, and not by luck: the second SYN of
// the first burst already leaves on m2, rewritten to m2's MAC, and about
// half of all connections follow. No background flow is needed; the
// bursts are the load.
//
// A row's rx_dropped_not_owned, tx_source_mac_rewritten and
// member_tx_packets are what `teamd-go ctl state` counted during the
// exchanges; lb_sent_to counts the emulator's frames out of its inside
// interface per destination (vm, m1, m2, router, or a MAC), and
// failed_last_hops the failed exchanges per last hop the emulator had
// remembered for their connection.
var AutoLastHop = Scenario{
	Name:    "auto-last-hop",
	Summary: "a VM behind teamd-go talks through a load balancer that returns traffic to the last hop's MAC",
	Columns: []Column{
		{"TEAM", "team"},
		{"SWITCH", "switch"},
		{"LB", "lb"},
		{"NOT-OWNED", "rx_dropped_not_owned"},
		{"REWRITTEN", "tx_source_mac_rewritten"},
		{"LB SENT INSIDE TO", "lb_sent_to"},
	},
	Variants: []Variant{
		alh{mode: "switch-independent", balance: "dynamic", sw: learning, lastHop: true}.variant("si-dynamic", Broken),
		alh{mode: "switch-independent", balance: "hyperv-port", sw: learning, lastHop: true}.variant("si-hyperv-port", OK),
		alh{mode: "static", balance: "dynamic", sw: slbBond, lastHop: true}.variant("static-dynamic", OK),
		alh{mode: "lacp", balance: "dynamic", sw: lacpBond, lastHop: true}.variant("lacp-dynamic", OK),
		alh{mode: "switch-independent", balance: "dynamic", sw: learning, lastHop: false}.variant("lb-off", OK),
		alh{mode: "switch-independent", balance: "dynamic", sw: learning, lastHop: true, router: true}.variant("router-between", OK),
	},
}

// Traffic parameters (see AutoLastHop).
const (
	alhExchanges   = 100
	alhConcurrency = 25
	alhTimeout     = 2 * time.Second
	alhServerPort  = 7000
	alhClientPort  = 40000
)

// Addresses. Every variant has its own namespaces, so they repeat.
const (
	alhVMIP       = "10.61.1.10"
	alhGatewayIP  = "10.61.1.1" // LB inside, or the router
	alhLBOutIP    = "10.61.2.1"
	alhClientIP   = "10.61.2.10"
	alhTransitLB  = "10.61.3.1" // router-between: LB inside
	alhTransitRT  = "10.61.3.2" // router-between: router towards the LB
	alhVMMAC      = "02:00:00:61:00:10"
	alhM1MAC      = "02:00:00:61:01:01"
	alhM2MAC      = "02:00:00:61:01:02"
	alhLBInMAC    = "02:00:00:61:0b:01"
	alhLBOutMAC   = "02:00:00:61:0b:02"
	alhClientMAC  = "02:00:00:61:0c:10"
	alhRouterMAC  = "02:00:00:61:0d:01" // on the VM's subnet
	alhRouterMAC2 = "02:00:00:61:0d:02" // towards the LB
)

// switchKind is how Open vSwitch treats the team's two links.
type switchKind int

const (
	learning switchKind = iota // two access ports of a learning bridge
	slbBond                    // static bond, no LACP
	lacpBond                   // LACP bond
)

func (k switchKind) String() string {
	return [...]string{"bridge", "bond", "lacp-bond"}[k]
}

// alh is one variant's configuration.
type alh struct {
	mode, balance string
	sw            switchKind
	lastHop       bool
	router        bool
}

func (c alh) variant(name string, expected Verdict) Variant {
	return Variant{Name: name, Expected: expected, Run: func(ctx context.Context, e *Env, row *Row) error {
		return c.run(ctx, e, row)
	}}
}

// alhNet is a built variant.
type alhNet struct {
	host, vm, sw, lb, cl, rt *NS
	ovs                      *OVS
	team                     *Team
	lbStats                  string // the emulator's stats socket
}

func (c alh) run(ctx context.Context, e *Env, row *Row) error {
	row.Set("team", c.mode+"/"+c.balance, "")
	row.Set("switch", c.sw.String(), "")
	lb := "last-hop"
	if !c.lastHop {
		lb = "arp"
	}
	if c.router {
		lb += "+router"
	}
	row.Set("lb", lb, "")
	row.Set("lb_last_hop", c.lastHop, "")
	row.Set("router_between", c.router, "")

	n, err := c.build(ctx, e)
	if err != nil {
		return err
	}
	if err := c.ready(ctx, e, n); err != nil {
		return err
	}
	return c.measure(ctx, e, n, row)
}

// build creates the namespaces, links, switch, team, emulator and server.
func (c alh) build(ctx context.Context, e *Env) (*alhNet, error) {
	n := &alhNet{lbStats: filepath.Join(e.Dir, "lb.sock")}
	roles := map[string]**NS{"host": &n.host, "vm": &n.vm, "sw": &n.sw, "lb": &n.lb, "cl": &n.cl}
	if c.router {
		roles["rt"] = &n.rt
	}
	for _, role := range slices.Sorted(maps.Keys(roles)) {
		ns, err := e.NewNS(ctx, role)
		if err != nil {
			return nil, err
		}
		*roles[role] = ns
	}
	type end struct {
		ns  *NS
		dev string
	}
	links := [][2]end{
		{{n.host, "m1"}, {n.sw, "p1"}},
		{{n.host, "m2"}, {n.sw, "p2"}},
		{{n.vm, "eth0"}, {n.host, "vm1"}},
		{{n.lb, "out0"}, {n.cl, "eth0"}},
	}
	if c.router {
		links = append(links, [2]end{{n.rt, "eth0"}, {n.sw, "prt"}}, [2]end{{n.rt, "eth1"}, {n.lb, "in0"}})
	} else {
		links = append(links, [2]end{{n.lb, "in0"}, {n.sw, "plb"}})
	}
	for _, l := range links {
		if err := e.Veth(ctx, l[0].ns, l[0].dev, l[1].ns, l[1].dev); err != nil {
			return nil, err
		}
	}
	lbIn := alhGatewayIP + "/24"
	if c.router {
		lbIn = alhTransitLB + "/24"
	}
	type setup struct {
		ns   *NS
		cmds [][]string
	}
	steps := []setup{
		{n.host, [][]string{
			{"ip", "link", "set", "m1", "address", alhM1MAC},
			{"ip", "link", "set", "m2", "address", alhM2MAC},
		}},
		{n.vm, [][]string{
			{"ip", "link", "set", "eth0", "address", alhVMMAC},
			{"ip", "addr", "add", alhVMIP + "/24", "dev", "eth0"},
			{"ip", "route", "add", "default", "via", alhGatewayIP},
		}},
		{n.lb, [][]string{
			{"sysctl", "-qw", "net.ipv4.ip_forward=0"},
			{"ip", "link", "set", "in0", "address", alhLBInMAC},
			{"ip", "link", "set", "out0", "address", alhLBOutMAC},
			{"ip", "addr", "add", lbIn, "dev", "in0"},
			{"ip", "addr", "add", alhLBOutIP + "/24", "dev", "out0"},
		}},
		{n.cl, [][]string{
			{"ip", "link", "set", "eth0", "address", alhClientMAC},
			{"ip", "addr", "add", alhClientIP + "/24", "dev", "eth0"},
			{"ip", "route", "add", "default", "via", alhLBOutIP},
		}},
	}
	if c.router {
		steps = append(steps, setup{n.rt, [][]string{
			{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
			{"ip", "link", "set", "eth0", "address", alhRouterMAC},
			{"ip", "link", "set", "eth1", "address", alhRouterMAC2},
			{"ip", "addr", "add", alhGatewayIP + "/24", "dev", "eth0"},
			{"ip", "addr", "add", alhTransitRT + "/24", "dev", "eth1"},
			{"ip", "route", "add", "10.61.2.0/24", "via", alhTransitLB},
		}})
	}
	for _, s := range steps {
		if err := s.ns.RunAll(ctx, s.cmds...); err != nil {
			return nil, err
		}
	}
	e.Logf("starting Open vSwitch (%s) in %s", c.sw, n.sw.Name)
	var err error
	if n.ovs, err = e.StartOVS(ctx, n.sw); err != nil {
		return nil, err
	}
	if err := n.ovs.AddBridge(ctx, "br0"); err != nil {
		return nil, err
	}
	edge := "plb"
	if c.router {
		edge = "prt"
	}
	switch c.sw {
	case learning:
		for _, p := range []string{"p1", "p2"} {
			if err := n.ovs.AddPort(ctx, "br0", p); err != nil {
				return nil, err
			}
		}
	case slbBond:
		// A static bond: OVS's balance-slb needs no partner protocol;
		// all-members-active lets broadcasts in on both members, since
		// a static team sends them on whichever member it picks.
		if err := n.ovs.AddBond(ctx, "br0", "bond0", []string{"p1", "p2"},
			"bond_mode=balance-slb", "lacp=off", "other_config:all-members-active=true"); err != nil {
			return nil, err
		}
	case lacpBond:
		if err := n.ovs.AddBond(ctx, "br0", "bond0", []string{"p1", "p2"},
			"bond_mode=balance-tcp", "lacp=active", "other_config:lacp-time=fast"); err != nil {
			return nil, err
		}
	}
	if err := n.ovs.AddPort(ctx, "br0", edge); err != nil {
		return nil, err
	}

	e.Logf("starting teamd-go (%s, %s) in %s", c.mode, c.balance, n.host.Name)
	cfg := fmt.Sprintf("mode: %s\nbalance: %s\nsource_mac_rewrite: auto\nmembers:\n", c.mode, c.balance)
	if c.mode == "switch-independent" {
		cfg += "  - name: m1\n    primary: true\n  - name: m2\n"
	} else {
		cfg += "  - name: m1\n  - name: m2\n"
	}
	cfg += "vnics:\n  - name: vm1\n"
	if c.mode == "lacp" {
		cfg += "lacp:\n  active: true\n  rate: fast\n"
	}
	if n.team, err = e.StartTeam(ctx, n.host, cfg); err != nil {
		return nil, err
	}

	e.Logf("starting the load balancer emulator (last hop %v) in %s", c.lastHop, n.lb.Name)
	args := []string{"lb", "-inside", "in0=" + lbIn, "-outside", "out0=" + alhLBOutIP + "/24",
		fmt.Sprintf("-last-hop=%v", c.lastHop), "-stats", n.lbStats}
	if c.router {
		args = append(args, "-route", "10.61.1.0/24="+alhTransitRT)
	}
	lbProc, err := e.StartHelper(n.lb, "lb", args...)
	if err != nil {
		return nil, err
	}
	srvReady := filepath.Join(e.Dir, "server.ready")
	srv, err := e.StartHelper(n.cl, "server", "tcp-server",
		"-listen", fmt.Sprintf("%s:%d", alhClientIP, alhServerPort), "-ready", srvReady)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, 10*time.Second, func() error {
		if lbProc.Exited() || srv.Exited() {
			return fmt.Errorf("a helper exited:\n%s\n%s", lbProc.LogTail(5), srv.LogTail(5))
		}
		if _, err := LBStats(ctx, n.lbStats); err != nil {
			return err
		}
		_, err := os.Stat(srvReady)
		return err
	}); err != nil {
		return nil, fmt.Errorf("helpers not ready: %w", err)
	}
	return n, nil
}

// ready waits for the links to be usable: LACP negotiated or the bond
// enabled, and the VM able to reach its gateway (through the team and the
// switch; the gateway's kernel answers, the emulator is not involved).
func (c alh) ready(ctx context.Context, e *Env, n *alhNet) error {
	switch c.sw {
	case lacpBond:
		e.Logf("waiting for LACP between teamd-go and Open vSwitch")
		var last string
		if err := waitFor(ctx, 20*time.Second, func() error {
			show, err := n.ovs.Appctl(ctx, "lacp/show", "bond0")
			if err != nil {
				return err
			}
			st, err := n.team.State(ctx)
			if err != nil {
				return err
			}
			last = lacpSummary(show, st)
			if !strings.Contains(show, "negotiated") {
				return fmt.Errorf("Open vSwitch's bond0 has not negotiated LACP")
			}
			for _, m := range st.Members {
				if m.LACP == nil || !m.LACP.Distributing {
					return fmt.Errorf("teamd-go member %s is not distributing", m.Name)
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("LACP did not come up (teamd-go's LACP mode may not be finished yet): %w; %s", err, last)
		}
	case slbBond:
		if err := waitFor(ctx, 10*time.Second, func() error {
			show, err := n.ovs.Appctl(ctx, "bond/show", "bond0")
			if err != nil {
				return err
			}
			if strings.Count(show, ": enabled") < 2 {
				return fmt.Errorf("bond0 members not both enabled:\n%s", show)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	type ping struct {
		ns   *NS
		to   string
		what string
	}
	pings := []ping{
		{n.vm, alhGatewayIP, "the VM cannot reach its gateway through teamd-go and the switch"},
		{n.lb, alhClientIP, "the load balancer cannot reach the client"},
	}
	if c.router {
		pings = append(pings, ping{n.rt, alhTransitLB, "the router cannot reach the load balancer"})
	}
	for _, p := range pings {
		if err := waitFor(ctx, 15*time.Second, func() error {
			_, err := p.ns.Run(ctx, "ping", "-c", "1", "-W", "1", p.to)
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	return nil
}

// lacpSummary condenses both sides' LACP state for an error message.
func lacpSummary(ovsShow string, st TeamState) string {
	var b strings.Builder
	b.WriteString("Open vSwitch:")
	for _, l := range strings.Split(ovsShow, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "status:") || strings.HasPrefix(l, "member:") {
			b.WriteString(" " + l + ";")
		}
	}
	b.WriteString(" teamd-go:")
	for _, m := range st.Members {
		if m.LACP == nil {
			fmt.Fprintf(&b, " %s no LACP state;", m.Name)
			continue
		}
		fmt.Fprintf(&b, " %s actor %s selected=%v collecting=%v distributing=%v;",
			m.Name, m.LACP.ActorState, m.LACP.Selected, m.LACP.Collecting, m.LACP.Distributing)
	}
	return b.String()
}

// measure runs the exchanges and fills the row.
func (c alh) measure(ctx context.Context, e *Env, n *alhNet, row *Row) error {
	before, err := n.team.State(ctx)
	if err != nil {
		return err
	}
	lbBefore, err := LBStats(ctx, n.lbStats)
	if err != nil {
		return err
	}
	e.Logf("running %d exchanges, %d at a time, VM -> %s:%d", alhExchanges, alhConcurrency, alhClientIP, alhServerPort)
	out, err := e.RunHelper(ctx, n.vm, "tcp-client",
		"-to", fmt.Sprintf("%s:%d", alhClientIP, alhServerPort), "-from", alhVMIP,
		"-port", fmt.Sprint(alhClientPort), "-n", fmt.Sprint(alhExchanges),
		"-c", fmt.Sprint(alhConcurrency), "-timeout", alhTimeout.String())
	if err != nil {
		return err
	}
	var res ExchangeResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decode tcp-client result: %w", err)
	}
	after, err := n.team.State(ctx)
	if err != nil {
		return err
	}
	lbAfter, err := LBStats(ctx, n.lbStats)
	if err != nil {
		return err
	}

	row.Attempts, row.Succeeded = res.Attempts, res.Succeeded
	m := alhMeasure{
		c:         c,
		res:       &res,
		notOwned:  after.Counters.RxDroppedNotOwned - before.Counters.RxDroppedNotOwned,
		rewritten: after.Counters.TxSourceMACRewritten - before.Counters.TxSourceMACRewritten,
		m1Tx:      after.MemberTx("m1") - before.MemberTx("m1"),
		m2Tx:      after.MemberTx("m2") - before.MemberTx("m2"),
		names:     alhNames(after),
		lb:        lbAfter,
		sentTo:    diffCounts(lbAfter.InsideMACs, lbBefore.InsideMACs),
	}
	row.Set("rx_dropped_not_owned", m.notOwned, "")
	row.Set("tx_source_mac_rewritten", m.rewritten, "")
	row.Set("member_tx_packets", map[string]uint64{"m1": m.m1Tx, "m2": m.m2Tx}, "")
	row.Set("lb_sent_to", m.namedCounts(m.sentTo), m.countsText(m.sentTo))
	row.Set("lb_macs", m.sorted(m.sentTo), "")
	row.Set("failed_last_hops", m.namedCounts(m.failedLastHops()), "")
	row.Why = m.why()
	return nil
}

// alhMeasure is what one variant measured, for the row and its "why".
type alhMeasure struct {
	c                   alh
	res                 *ExchangeResult
	notOwned, rewritten uint64
	m1Tx, m2Tx          uint64
	names               map[string]string // MAC -> vm, m1, m2, router
	lb                  lbemu.Stats
	sentTo              map[string]uint64 // LB frames sent inside, per MAC
}

// alhNames names the MACs of the scenario, the members' as the daemon
// reports them.
func alhNames(st TeamState) map[string]string {
	names := map[string]string{alhVMMAC: "vm", alhM1MAC: "m1", alhM2MAC: "m2", alhRouterMAC: "router", alhRouterMAC2: "router"}
	for _, m := range st.Members {
		names[strings.ToLower(m.MAC)] = m.Name
	}
	return names
}

func (m *alhMeasure) name(mac string) string {
	if n, ok := m.names[mac]; ok {
		return n
	}
	return mac
}

// failedLastHops counts the failed exchanges by the last-hop MAC the LB
// remembered for their connection ("" if the LB has no entry).
func (m *alhMeasure) failedLastHops() map[string]uint64 {
	byPort := map[uint16]string{}
	for _, cn := range m.lb.Conns {
		if cn.Side == "inside" && cn.Src.Addr().String() == alhVMIP {
			byPort[cn.Src.Port()] = cn.LastHop
		}
	}
	counts := map[string]uint64{}
	for _, f := range m.res.Failures {
		counts[byPort[f.LocalPort]]++
	}
	return counts
}

type macCount struct {
	MAC   string `json:"mac"`
	Owner string `json:"owner"`
	N     uint64 `json:"frames"`
}

// sorted returns counts by decreasing count.
func (m *alhMeasure) sorted(counts map[string]uint64) []macCount {
	var l []macCount
	for mac, n := range counts {
		l = append(l, macCount{mac, m.name(mac), n})
	}
	slices.SortFunc(l, func(a, b macCount) int { return cmp.Or(cmp.Compare(b.N, a.N), cmp.Compare(a.MAC, b.MAC)) })
	return l
}

func (m *alhMeasure) namedCounts(counts map[string]uint64) map[string]uint64 {
	named := map[string]uint64{}
	for mac, n := range counts {
		k := m.name(mac)
		if mac == "" {
			k = "unknown"
		}
		named[k] += n
	}
	return named
}

func (m *alhMeasure) countsText(counts map[string]uint64) string {
	var parts []string
	for _, c := range m.sorted(counts) {
		parts = append(parts, fmt.Sprintf("%s %d", c.Owner, c.N))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// why explains the verdict from the measurements, not from the variant's
// expectation.
func (m *alhMeasure) why() string {
	failed := m.res.Attempts - m.res.Succeeded
	spread := fmt.Sprintf("m1 sent %d frames, m2 %d", m.m1Tx, m.m2Tx)
	if failed > 0 {
		var causes []string
		seed := true
		for _, c := range m.sorted(m.failedLastHops()) {
			switch {
			case c.MAC == "":
				causes = append(causes, fmt.Sprintf("%d never reached the LB", c.N))
				seed = false
			case c.Owner == "vm" || c.Owner == "router":
				causes = append(causes, fmt.Sprintf("%d were opened from %s's MAC %s", c.N, c.Owner, c.MAC))
				seed = false
			default:
				causes = append(causes, fmt.Sprintf("%d SYNs left on %s with %s's MAC %s as source (the LB remembered it and sent the replies there)",
					c.N, c.Owner, c.Owner, c.MAC))
			}
		}
		s := fmt.Sprintf("%d of %d exchanges failed: %s", failed, m.res.Attempts, strings.Join(causes, "; "))
		if seed {
			s += fmt.Sprintf("; no vnic owns that MAC: teamd-go dropped %d frames as rx_dropped_not_owned (%d source MACs rewritten)",
				m.notOwned, m.rewritten)
		} else {
			s += fmt.Sprintf(" - not only the seed's failure; see the logs (rx_dropped_not_owned %d)", m.notOwned)
		}
		return s
	}
	dests := m.countsText(m.sentTo)
	switch {
	case !m.c.lastHop:
		return fmt.Sprintf("the LB resolved the VM by ARP (ARP sender address, not Ethernet source): replies to %s, although %d source MACs were rewritten (%s)",
			dests, m.rewritten, spread)
	case m.c.router:
		return fmt.Sprintf("the LB's last hop was the router (replies to %s), which found the VM by ARP; %d source MACs rewritten on the VM's subnet did not matter (%s)",
			dests, m.rewritten, spread)
	case m.rewritten == 0 && m.c.balance == "hyperv-port":
		return fmt.Sprintf("hyperv-port keeps vm1 on its home member: no source MAC rewritten, the LB replied to %s (%s)", dests, spread)
	case m.rewritten == 0:
		return fmt.Sprintf("%s mode: the switch sees one bond, so no source MAC is rewritten while dynamic still balances (%s); the LB replied to %s",
			m.c.mode, spread, dests)
	}
	return fmt.Sprintf("every exchange succeeded; the LB replied to %s; %d source MACs rewritten (%s)", dests, m.rewritten, spread)
}

// diffCounts returns after - before per key, without zero entries.
func diffCounts(after, before map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range after {
		if v > before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}
