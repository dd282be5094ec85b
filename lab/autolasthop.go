package lab

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/lab/lbemu"
	"github.com/teamd-go/teamd-go/team"
)

// autoLastHop is the auto-last-hop bug (docs/bugs.md; docs/contract.md §5): a
// VM behind a switch-independent teamd-go team with the dynamic balancer
// talks through a load balancer with "auto last hop" on the VM's own subnet,
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
var autoLastHop = scenario{
	Name:    "auto-last-hop",
	Summary: "a VM behind teamd-go talks through a load balancer that returns traffic to the last hop's MAC",
	Columns: []column{
		{"TEAM", "team"},
		{"SWITCH", "switch"},
		{"LB", "lb"},
		{"NOT-OWNED", "rx_dropped_not_owned"},
		{"REWRITTEN", "tx_source_mac_rewritten"},
		{"LB SENT INSIDE TO", "lb_sent_to"},
	},
	Variants: []variant{
		alh{mode: "switch-independent", balance: "dynamic", sw: learning, lastHop: true}.variant("si-dynamic", verdictBroken),
		alh{mode: "switch-independent", balance: "hyperv-port", sw: learning, lastHop: true}.variant("si-hyperv-port", verdictOK),
		alh{mode: "static", balance: "dynamic", sw: slbBond, lastHop: true}.variant("static-dynamic", verdictOK),
		alh{mode: "lacp", balance: "dynamic", sw: lacpBond, lastHop: true}.variant("lacp-dynamic", verdictOK),
		alh{mode: "switch-independent", balance: "dynamic", sw: learning, lastHop: false}.variant("lb-off", verdictOK),
		alh{mode: "switch-independent", balance: "dynamic", sw: learning, lastHop: true, router: true}.variant("router-between", verdictOK),
	},
}

// Traffic parameters (see autoLastHop).
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

func (c alh) variant(name string, expected verdict) variant {
	return variant{Name: name, Expected: expected, Run: func(ctx context.Context, e *env, row *result) error {
		return c.run(ctx, e, row)
	}}
}

// alhNet is a built variant.
type alhNet struct {
	host, vm, sw, lb, cl, rt *testbed.NS
	ovs                      *testbed.Switch
	team                     *testbed.Daemon
	lbStats                  string // the emulator's stats socket
}

func (c alh) run(ctx context.Context, e *env, row *result) error {
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
	// The members' switch sides show the source MACs the team sends
	// with and the replies the load balancer sends back; lb-in is what
	// the load balancer sees, vm what reaches the VM.
	lbWire := wire{n.lb, "in0", "lb-in"}
	if err := e.capture(ctx, wire{n.sw, "p1", "p1"}, wire{n.sw, "p2", "p2"}, lbWire, wire{n.vm, "eth0", "vm"}); err != nil {
		return err
	}
	if err := c.ready(ctx, e, n); err != nil {
		return err
	}
	return c.measure(ctx, e, n, row)
}

// topology is the variant's network (see autoLastHop).
func (c alh) topology(e *env) testbed.Topology {
	lbIn, edge := alhGatewayIP+"/24", "plb"
	if c.router {
		lbIn, edge = alhTransitLB+"/24", "prt"
	}
	t := testbed.Topology{
		Namespaces: []testbed.Namespace{{Role: "cl"}, {Role: "host"}, {Role: "lb", Sysctls: []string{"net.ipv4.ip_forward=0"}}},
		Links: []testbed.Link{
			testbed.Pair("host", "m1", "sw", "p1"),
			testbed.Pair("host", "m2", "sw", "p2"),
			testbed.Pair("vm", "eth0", "host", "vm1"),
			testbed.Pair("lb", "out0", "cl", "eth0"),
		},
		Ifaces: []testbed.Iface{
			{NS: "host", Dev: "m1", MAC: alhM1MAC},
			{NS: "host", Dev: "m2", MAC: alhM2MAC},
			{NS: "vm", Dev: "eth0", MAC: alhVMMAC, Addrs: []string{alhVMIP + "/24"}, Routes: []string{"default via " + alhGatewayIP}},
			{NS: "lb", Dev: "in0", MAC: alhLBInMAC, Addrs: []string{lbIn}},
			{NS: "lb", Dev: "out0", MAC: alhLBOutMAC, Addrs: []string{alhLBOutIP + "/24"}},
			{NS: "cl", Dev: "eth0", MAC: alhClientMAC, Addrs: []string{alhClientIP + "/24"}, Routes: []string{"default via " + alhLBOutIP}},
		},
	}
	if c.router {
		t.Namespaces = append(t.Namespaces, testbed.Namespace{Role: "rt", Sysctls: []string{"net.ipv4.ip_forward=1"}})
		t.Links = append(t.Links,
			testbed.Pair("rt", "eth0", "sw", "prt"),
			testbed.Pair("rt", "eth1", "lb", "in0"))
		t.Ifaces = append(t.Ifaces,
			testbed.Iface{NS: "rt", Dev: "eth0", MAC: alhRouterMAC, Addrs: []string{alhGatewayIP + "/24"}},
			testbed.Iface{NS: "rt", Dev: "eth1", MAC: alhRouterMAC2, Addrs: []string{alhTransitRT + "/24"}, Routes: []string{"10.61.2.0/24 via " + alhTransitLB}})
	} else {
		t.Links = append(t.Links, testbed.Pair("lb", "in0", "sw", edge))
	}
	t.Namespaces = append(t.Namespaces, testbed.Namespace{Role: "sw"}, testbed.Namespace{Role: "vm"})

	br := testbed.OVSBridge{Name: "br0"}
	switch c.sw {
	case learning:
		br.Ports = []string{"p1", "p2", edge}
	case slbBond:
		// A static bond: OVS's balance-slb needs no partner protocol;
		// all-members-active lets broadcasts in on both members, since
		// a static team sends them on whichever member it picks.
		br.Ports = []string{edge}
		br.Bonds = []testbed.Bond{{Name: "bond0", Members: []string{"p1", "p2"},
			Options: []string{"bond_mode=balance-slb", "lacp=off", "other_config:all-members-active=true"}}}
	case lacpBond:
		br.Ports = []string{edge}
		br.Bonds = []testbed.Bond{{Name: "bond0", Members: []string{"p1", "p2"},
			Options: []string{"bond_mode=balance-tcp", "lacp=active", "other_config:lacp-time=fast"}}}
	}
	t.Switches = []testbed.SwitchSpec{{NS: "sw", Name: "ovs", Options: []testbed.OVSOption{testbed.UserspaceTSO()}, Bridges: []testbed.OVSBridge{br}}}

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
	t.Daemons = []testbed.DaemonAt{{Name: "team", NS: "host", Spec: e.daemon("", cfg)}}
	return t
}

// build makes the topology, then starts the emulator and the server.
func (c alh) build(ctx context.Context, e *env) (*alhNet, error) {
	e.Logf("building %s/%s behind a %s", c.mode, c.balance, c.sw)
	net, err := testbed.Build(ctx, e.Bed, c.topology(e))
	if err != nil {
		return nil, err
	}
	n := &alhNet{host: net.NS("host"), vm: net.NS("vm"), sw: net.NS("sw"), lb: net.NS("lb"), cl: net.NS("cl"), rt: net.NS("rt"),
		ovs: net.Switch("sw"), team: net.Daemon("team"), lbStats: filepath.Join(e.Dir, "lb.sock")}

	lbIn := alhGatewayIP + "/24"
	if c.router {
		lbIn = alhTransitLB + "/24"
	}
	e.Logf("starting the load balancer emulator (last hop %v) in %s", c.lastHop, n.lb.Name)
	args := []string{"lb", "-inside", "in0=" + lbIn, "-outside", "out0=" + alhLBOutIP + "/24",
		fmt.Sprintf("-last-hop=%v", c.lastHop), "-stats", n.lbStats}
	if c.router {
		args = append(args, "-route", "10.61.1.0/24="+alhTransitRT)
	}
	lbProc, err := e.startHelper(n.lb, "lb", args...)
	if err != nil {
		return nil, err
	}
	srvReady := filepath.Join(e.Dir, "server.ready")
	srv, err := e.startHelper(n.cl, "server", "tcp-server",
		"-listen", fmt.Sprintf("%s:%d", alhClientIP, alhServerPort), "-ready", srvReady)
	if err != nil {
		return nil, err
	}
	if err := testbed.WaitFor(ctx, 10*time.Second, func() error {
		if lbProc.Exited() || srv.Exited() {
			return fmt.Errorf("a helper exited:\n%s\n%s", lbProc.LogTail(5), srv.LogTail(5))
		}
		if _, err := lbStats(ctx, n.lbStats); err != nil {
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
func (c alh) ready(ctx context.Context, e *env, n *alhNet) error {
	switch c.sw {
	case lacpBond:
		e.Logf("waiting for LACP between teamd-go and Open vSwitch")
		var last string
		if err := testbed.WaitFor(ctx, 20*time.Second, func() error {
			show, err := n.ovs.Appctl("lacp/show", "bond0")
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
		if err := testbed.WaitFor(ctx, 10*time.Second, func() error {
			show, err := n.ovs.Appctl("bond/show", "bond0")
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
		ns   *testbed.NS
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
		if err := testbed.WaitFor(ctx, 15*time.Second, func() error {
			_, err := p.ns.Run(ctx, "ping", "-c", "1", "-W", "1", p.to)
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	return nil
}

// lacpSummary condenses both sides' LACP state for an error message.
func lacpSummary(ovsShow string, st team.State) string {
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
func (c alh) measure(ctx context.Context, e *env, n *alhNet, row *result) error {
	before, err := n.team.State(ctx)
	if err != nil {
		return err
	}
	lbBefore, err := lbStats(ctx, n.lbStats)
	if err != nil {
		return err
	}
	e.Logf("running %d exchanges, %d at a time, VM -> %s:%d", alhExchanges, alhConcurrency, alhClientIP, alhServerPort)
	out, err := e.runHelper(ctx, n.vm, "tcp-client",
		"-to", fmt.Sprintf("%s:%d", alhClientIP, alhServerPort), "-from", alhVMIP,
		"-port", fmt.Sprint(alhClientPort), "-n", fmt.Sprint(alhExchanges),
		"-c", fmt.Sprint(alhConcurrency), "-timeout", alhTimeout.String())
	if err != nil {
		return err
	}
	var res exchangeResult
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("decode tcp-client result: %w", err)
	}
	after, err := n.team.State(ctx)
	if err != nil {
		return err
	}
	lbAfter, err := lbStats(ctx, n.lbStats)
	if err != nil {
		return err
	}

	row.Attempts, row.Succeeded = res.Attempts, res.Succeeded
	m := alhMeasure{
		c:         c,
		res:       &res,
		notOwned:  after.Counters.RxDroppedNotOwned - before.Counters.RxDroppedNotOwned,
		rewritten: after.Counters.TxSourceMACRewritten - before.Counters.TxSourceMACRewritten,
		m1Tx:      memberTx(after, "m1") - memberTx(before, "m1"),
		m2Tx:      memberTx(after, "m2") - memberTx(before, "m2"),
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
	res                 *exchangeResult
	notOwned, rewritten uint64
	m1Tx, m2Tx          uint64
	names               map[string]string // MAC -> vm, m1, m2, router
	lb                  lbemu.Stats
	sentTo              map[string]uint64 // LB frames sent inside, per MAC
}

// alhNames names the MACs of the scenario, the members' as the daemon
// reports them.
func alhNames(st team.State) map[string]string {
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
			s += fmt.Sprintf(" - not only the auto-last-hop failure; see the logs (rx_dropped_not_owned %d)", m.notOwned)
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
