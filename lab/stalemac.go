package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team"
)

// staleMAC is the stale-mac bug (docs/bugs.md; docs/contract.md §5): an
// active/passive team with receive-side MAC translation (rx_translation)
// keeps addressing a VM at the MAC it had before it restarted, when the VM
// comes back with a new one.
//
// Each variant builds, in namespaces named tgl<pid>-<variant>-<role>:
//
//	vm:    eth0 10.62.0.10/24, arp_notify=1 ═ vm1 (a vnic of host A's team)
//	hosta: teamd-go, switch-independent + active-backup, rx_translation;
//	       members m1 (primary; its MAC is team MAC A) and m2, vnic vm1
//	hostb: (migration variants) the same team on host B, team MAC B, no
//	       vnic until the VM arrives
//	sw:    Open vSwitch, userspace datapath, learning bridge br0: pa1, pa2,
//	       pb1, pb2 (the hosts' members) and pcl
//	cl:    eth0 10.62.0.100/24, the client, on the VM's subnet
//
// Neither host uses the team for itself (no IP on the hosts), as in the
// bug report. IPv6 is off in every namespace: the bug is about IPv4 and ARP,
// and the VM's only frame when it comes up is then its IPv4 announcement,
// which keeps the steps below exact.
//
// The VM first talks to the client (team A learns 10.62.0.10 -> the VM's
// MAC and announces it with its team MAC), then the client pings the VM:
// its ARP entry for the VM is team MAC A, the team answered for the VM.
//
// A restart is what a VM's NIC goes through when the VM is shut down and
// started: eth0 goes down (vm1 loses carrier: the team's switch forgets
// the MACs learned on it; learn: continuous forgets its bindings too), it
// gets a new MAC from the host's dynamic pool, or keeps its static one,
// and comes back up. With net.ipv4.conf.eth0.arp_notify=1 the kernel then
// sends a gratuitous ARP, as a booting OS does (Windows announces its
// addresses by gratuitous ARP when its NIC comes up, Linux with
// arp_notify, most others likewise): the team's switch learns the VM's
// MAC from it, and with learn: continuous the team binds the IP to it.
// learn: init keeps the binding it made first, for ever: the Broadcom
// driver of the bug report. `teamd-go ctl toggle` (disabling and enabling the
// team adapter) re-reads the table from the switch's MAC table.
//
// A live migration moves the host end of the VM's veth from host A to
// host B (`ip link set vm1 netns hostb`): host A's daemon sees the vnic
// vanish and drops it; host B's config gets the vnic (the file rewritten,
// `teamd-go ctl reload`); then the VM announces itself by gratuitous ARP
// (the lab's garp helper, what `arping -U` sends), standing in for
// Hyper-V's announcement after a migration, until the client's ARP entry
// points at team MAC B. The VM must answer pings then, as in the bug report,
// before it is restarted on host B.
//
// The -ipv6 variants are the same restarts with a VM and a client that
// have only IPv6 (fd62::10/64 and fd62::100/64, no DAD; IPv6 is on only
// in their two namespaces): the team binds the VM's address from its
// neighbour solicitations and answers the client's for it with its team
// MAC. The VM's boot announcement is then the kernel's unsolicited
// neighbour advertisement (net.ipv6.conf.eth0.ndisc_notify=1, with
// keep_addr_on_down=1 so that the address survives the link going down,
// as a static address of a rebooted OS comes back), the IPv6 counterpart
// of arp_notify; learn: init keeps the first binding over IPv6 exactly
// as over IPv4.
//
// Verdict: after the restart (and the toggle, if any) the lab waits until
// the team has seen the VM's announcement (its switch lists the VM's MAC
// on vm1 again), lets it settle (smSettle), and the client sends smProbes
// echo requests 100 ms apart (ping -c 20 -i 0.1). See smVerdict.
//
// A row's counters are the team's (the one holding the VM at the end)
// during the probes; binding is that team's rx_translation entry for the
// VM's IP, vm_mac the VM's MAC, client_arp the client's neighbour entry.
var staleMAC = scenario{
	Name:    "stale-mac",
	Summary: "a VM behind an active/passive team with rx_translation is restarted with a new MAC, or live-migrated and restarted",
	Columns: []column{
		{"LEARN", "learn"},
		{"EVENT", "event"},
		{"TEAM", "host"},
		{"VM MAC NOW", "vm_mac"},
		{"TEAM BINDS VM IP TO", "binding"},
		{"CLIENT ARP", "client_arp"},
		{"NOT-OWNED", "rx_dropped_not_owned"},
		{"TRANSLATED", "rx_translated"},
	},
	Variants: []variant{
		sm{learn: "init"}.variant("static-mac-init", verdictOK),
		sm{learn: "init", newMAC: true}.variant("dynamic-mac-init", verdictBroken),
		sm{learn: "init", newMAC: true, toggle: true}.variant("dynamic-mac-toggle", verdictOK),
		sm{learn: "continuous", newMAC: true}.variant("dynamic-mac-continuous", verdictOK),
		sm{learn: "init", newMAC: true, migrate: true}.variant("migrate-init", verdictBroken),
		sm{learn: "continuous", newMAC: true, migrate: true}.variant("migrate-continuous", verdictOK),
		sm{learn: "init", newMAC: true, ipv6: true}.variant("dynamic-mac-init-ipv6", verdictBroken),
		sm{learn: "init", newMAC: true, toggle: true, ipv6: true}.variant("dynamic-mac-toggle-ipv6", verdictOK),
		sm{learn: "continuous", newMAC: true, ipv6: true}.variant("dynamic-mac-continuous-ipv6", verdictOK),
	},
}

// Addresses. The MACs follow the bug report's letters: team MAC A and B, the
// VM's dynamic MACs C (host A's pool) and D (host B's pool).
const (
	smVMIP      = "10.62.0.10"
	smClientIP  = "10.62.0.100"
	smVMIP6     = "fd62::10" // the -ipv6 variants
	smClientIP6 = "fd62::100"
	smTeamAMAC  = "02:00:00:62:00:0a" // host A's m1: team MAC A
	smA2MAC     = "02:00:00:62:01:0a" // host A's m2
	smTeamBMAC  = "02:00:00:62:00:0b" // host B's m1: team MAC B
	smB2MAC     = "02:00:00:62:01:0b" // host B's m2
	smStaticMAC = "02:00:00:62:00:51" // the VM's static MAC
	smPoolAMAC  = "02:00:00:62:00:0c" // MAC C: host A's dynamic pool
	smPoolBMAC  = "02:00:00:62:00:0d" // MAC D: host B's dynamic pool
	smClientMAC = "02:00:00:62:0c:01"
)

// Probes.
const (
	// smProbes echo requests are sent after the restart, 100 ms apart.
	smProbes = 20
	// smGrace: the first smGrace probes may go unanswered (see smVerdict).
	smGrace = 3
	// smMigrationProbes check the VM answers on host B before its restart.
	smMigrationProbes = 10
	// smSettle is waited after the team has seen the VM's announcement
	// and before the probes.
	smSettle = 300 * time.Millisecond
)

// smVerdict is the rule: ok when every probe after the first smGrace was
// answered, broken otherwise. The grace covers what a restart costs any
// network for a moment, not the bug: the client's ARP entry may be in
// DELAY or PROBE and the VM must resolve the client before it can answer
// the first request. The bug's failure loses every probe (each is
// translated to a MAC no vnic owns), so in practice rows read 20/20 or
// 0/20; anything in between is broken too, and its why says how many
// were lost.
func smVerdict(answered []bool) verdict {
	if len(answered) <= smGrace {
		return verdictBroken
	}
	for _, ok := range answered[smGrace:] {
		if !ok {
			return verdictBroken
		}
	}
	return verdictOK
}

// sm is one variant's configuration.
type sm struct {
	learn   string // init | continuous
	newMAC  bool   // the restart assigns a dynamic MAC
	toggle  bool   // `ctl toggle` after the restart
	migrate bool   // live-migrate to host B before the restart
	ipv6    bool   // the VM and the client have only IPv6
}

// vmIP and clientIP are the variant's addresses.
func (c sm) vmIP() string {
	if c.ipv6 {
		return smVMIP6
	}
	return smVMIP
}

func (c sm) clientIP() string {
	if c.ipv6 {
		return smClientIP6
	}
	return smClientIP
}

func (c sm) variant(name string, expected verdict) variant {
	return variant{Name: name, Expected: expected, Run: func(ctx context.Context, e *env, row *result) error {
		return c.run(ctx, e, row)
	}}
}

// event names what happens to the VM.
func (c sm) event() string {
	s := "restart, same MAC"
	if c.newMAC {
		s = "restart, new MAC"
	}
	if c.migrate {
		s = "migrate A->B, " + s
	}
	if c.toggle {
		s += ", toggle"
	}
	if c.ipv6 {
		s += ", IPv6 only"
	}
	return s
}

// macs returns the VM's MAC before and after the restart.
func (c sm) macs() (before, after string) {
	switch {
	case c.migrate:
		// Started on host A with a dynamic MAC (C), restarted on host B
		// with one from B's pool (D).
		return smPoolAMAC, smPoolBMAC
	case c.newMAC:
		// Static MAC, then shut down and given a dynamic one.
		return smStaticMAC, smPoolAMAC
	}
	return smStaticMAC, smStaticMAC
}

// smConfig is a host's team: active/passive with rx_translation.
func smConfig(learn string, vnic bool) string {
	b := "mode: switch-independent\nbalance: active-backup\nmembers:\n  - name: m1\n    primary: true\n  - name: m2\n"
	if vnic {
		b += "vnics:\n  - name: vm1\n"
	}
	return b + fmt.Sprintf("rx_translation:\n  enabled: true\n  learn: %s\n  age_time: 300s\n", learn)
}

// smNet is a built variant.
type smNet struct {
	hostA, hostB, vm, sw, cl *testbed.NS
	teamA, teamB             *testbed.Daemon
}

func (c sm) run(ctx context.Context, e *env, row *result) error {
	before, after := c.macs()
	row.Set("learn", c.learn, "")
	row.Set("event", c.event(), "")
	row.Set("toggled", c.toggle, "")
	row.Set("migrated", c.migrate, "")
	row.Set("vm_mac_before", before, "")

	e.Logf("building active-backup with rx_translation (learn: %s)", c.learn)
	net, err := testbed.Build(ctx, e.Bed, c.topology(e, before))
	if err != nil {
		return err
	}
	n := &smNet{hostA: net.NS("hosta"), hostB: net.NS("hostb"), vm: net.NS("vm"), sw: net.NS("sw"), cl: net.NS("cl"),
		teamA: net.Daemon("a"), teamB: net.Daemon("b")}
	// Host A's members' switch sides (and host B's when the VM
	// migrates) show what the client sends to the team MAC; vm, what
	// the VM sends and what the team delivers to it, captured in the
	// VM's namespace on "any" (Linux cooked frames): the host's end of
	// the veth shows nothing on the xdp backend, whose AF_XDP sockets
	// receive and send around the kernel's packet taps, and a capture
	// bound to eth0 misses the announcement the VM sends the moment eth0
	// comes back up (the tap rebinds after it). vm-b is the host's end on
	// host B after a migration (af_packet only, for that reason).
	wires := []wire{{n.sw, "pa1", "pa1"}, {n.sw, "pa2", "pa2"}, {n.vm, "any", "vm"}, {n.cl, "eth0", "client"}}
	if c.migrate {
		wires = append(wires, wire{n.sw, "pb1", "pb1"}, wire{n.sw, "pb2", "pb2"})
	}
	if err := e.capture(ctx, wires...); err != nil {
		return err
	}
	if err := c.ready(ctx, e, n, before); err != nil {
		return err
	}
	team, host, teamMAC := n.teamA, "A", smTeamAMAC
	if c.migrate {
		if err := c.migrateToB(ctx, e, n, row); err != nil {
			return err
		}
		team, host, teamMAC = n.teamB, "B", smTeamBMAC
	}
	row.Set("host", host, "host "+host)
	row.Set("team", team.Team, "")
	row.Set("team_mac", teamMAC, "")
	if err := c.restart(ctx, e, n, team, before, after); err != nil {
		return err
	}
	if c.toggle {
		e.Logf("teamd-go ctl -t %s toggle", team.Team)
		if _, err := team.Ctl(ctx, "toggle"); err != nil {
			return err
		}
	}
	return c.measure(ctx, e, n, team, host, row)
}

// topology is the variant's network (see staleMAC) with the VM at vmMAC.
// IPv6 goes off in every namespace before the links exist
// (default.disable_ipv6 covers the interfaces created afterwards).
func (c sm) topology(e *env, vmMAC string) testbed.Topology {
	noIPv6 := []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"}
	vm := testbed.Iface{NS: "vm", Dev: "eth0", MAC: vmMAC, Sysctls: []string{"net.ipv4.conf.eth0.arp_notify=1"}, Addrs: []string{smVMIP + "/24"}}
	cl := testbed.Iface{NS: "cl", Dev: "eth0", MAC: smClientMAC, Addrs: []string{smClientIP + "/24"}}
	if c.ipv6 {
		vm.Sysctls = []string{"net.ipv6.conf.eth0.accept_dad=0", "net.ipv6.conf.eth0.ndisc_notify=1", "net.ipv6.conf.eth0.keep_addr_on_down=1"}
		vm.Addrs = []string{smVMIP6 + "/64"}
		cl.Sysctls = []string{"net.ipv6.conf.eth0.accept_dad=0"}
		cl.Addrs = []string{smClientIP6 + "/64"}
	}
	roles := []string{"cl", "hosta", "sw", "vm"}
	if c.migrate {
		roles = []string{"cl", "hosta", "hostb", "sw", "vm"}
	}
	t := testbed.Topology{
		Links: []testbed.Link{
			testbed.Pair("hosta", "m1", "sw", "pa1"),
			testbed.Pair("hosta", "m2", "sw", "pa2"),
			testbed.Pair("vm", "eth0", "hosta", "vm1"),
			testbed.Pair("cl", "eth0", "sw", "pcl"),
		},
		Ifaces: []testbed.Iface{
			{NS: "hosta", Dev: "m1", MAC: smTeamAMAC},
			{NS: "hosta", Dev: "m2", MAC: smA2MAC},
			vm,
			cl,
		},
		Daemons: []testbed.DaemonAt{{Name: "a", NS: "hosta", Spec: e.daemon("a", smConfig(c.learn, true))}},
	}
	for _, r := range roles {
		if c.ipv6 && (r == "vm" || r == "cl") {
			t.Namespaces = append(t.Namespaces, testbed.Namespace{Role: r})
			continue
		}
		t.Namespaces = append(t.Namespaces, testbed.Namespace{Role: r, Sysctls: noIPv6})
	}
	ports := []string{"pa1", "pa2", "pcl"}
	if c.migrate {
		t.Links = append(t.Links,
			testbed.Pair("hostb", "m1", "sw", "pb1"),
			testbed.Pair("hostb", "m2", "sw", "pb2"))
		t.Ifaces = append(t.Ifaces,
			testbed.Iface{NS: "hostb", Dev: "m1", MAC: smTeamBMAC},
			testbed.Iface{NS: "hostb", Dev: "m2", MAC: smB2MAC})
		ports = append(ports, "pb1", "pb2")
		// Host B's team has no vnic until the VM arrives.
		t.Daemons = append(t.Daemons, testbed.DaemonAt{Name: "b", NS: "hostb", Spec: e.daemon("b", smConfig(c.learn, false))})
	}
	t.Switches = []testbed.SwitchSpec{{NS: "sw", Name: "ovs", Options: []testbed.OVSOption{testbed.UserspaceTSO()},
		Bridges: []testbed.OVSBridge{{Name: "br0", Ports: ports}}}}
	return t
}

// ready waits until the VM and the client reach each other through team
// A, and checks team A bound the VM's IP to its MAC.
func (c sm) ready(ctx context.Context, e *env, n *smNet, vmMAC string) error {
	for _, p := range []struct {
		ns       *testbed.NS
		to, what string
	}{
		{n.vm, c.clientIP(), "the VM cannot reach the client through teamd-go and the switch"},
		{n.cl, c.vmIP(), "the client cannot reach the VM"},
	} {
		if err := testbed.WaitFor(ctx, 15*time.Second, func() error {
			_, err := p.ns.Run(ctx, "ping", "-n", "-c", "1", "-W", "1", p.to)
			return err
		}); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	st, err := n.teamA.State(ctx)
	if err != nil {
		return err
	}
	if b, ok := binding(st, c.vmIP()); !ok || !sameMAC(b.MAC, vmMAC) {
		return fmt.Errorf("team A does not bind %s to the VM's MAC %s: %+v", c.vmIP(), vmMAC, st.RxTranslation)
	}
	return nil
}

// migrateToB live-migrates the VM from host A to host B and checks it
// answers there.
func (c sm) migrateToB(ctx context.Context, e *env, n *smNet, row *result) error {
	e.Logf("live migration: vm1 moves from %s to %s", n.hostA.Name, n.hostB.Name)
	if _, err := n.hostA.Run(ctx, "ip", "link", "set", "vm1", "netns", n.hostB.Name); err != nil {
		return err
	}
	if err := testbed.WaitFor(ctx, 10*time.Second, func() error {
		st, err := n.teamA.State(ctx)
		if err != nil {
			return err
		}
		if _, ok := vnicMACs(st, "vm1"); ok {
			return errors.New("host A's team still has vnic vm1")
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := n.hostB.Run(ctx, "ip", "link", "set", "vm1", "up"); err != nil {
		return err
	}
	if err := e.capture(ctx, wire{n.hostB, "vm1", "vm-b"}); err != nil {
		return err
	}
	if err := n.teamB.Reload(ctx, smConfig(c.learn, true)); err != nil {
		return fmt.Errorf("host B takes the vnic: %w", err)
	}
	if st, err := n.teamB.State(ctx); err != nil {
		return err
	} else if _, ok := vnicMACs(st, "vm1"); !ok {
		return errors.New("host B's team has no vnic vm1 after its reload")
	}
	// The hypervisor's announcement, once a second until the client's
	// ARP entry for the VM moved to host B's team MAC (the first one
	// normally does it; team B announces the IP it learns from it too).
	var neigh neighbor
	for try := 0; ; try++ {
		if _, err := e.runHelper(ctx, n.vm, "garp", "-dev", "eth0", "-ip", smVMIP); err != nil {
			return err
		}
		err := testbed.WaitFor(ctx, time.Second, func() error {
			var err error
			if neigh, err = clientNeighbor(ctx, n.cl, smVMIP); err != nil {
				return err
			}
			if !sameMAC(neigh.LLAddr, smTeamBMAC) {
				return fmt.Errorf("the client's ARP entry for %s is %s %s, not host B's team MAC %s", smVMIP, neigh.LLAddr, neigh.State, smTeamBMAC)
			}
			return nil
		})
		if err == nil {
			break
		}
		if try == 4 {
			return fmt.Errorf("after 5 announcements: %w", err)
		}
	}
	answered, err := pingProbes(ctx, n.cl, smVMIP, smMigrationProbes)
	if err != nil {
		return err
	}
	ok := count(answered)
	row.Set("after_migration", map[string]int{"attempts": len(answered), "succeeded": ok}, "")
	if smVerdict(answered) != verdictOK {
		return fmt.Errorf("the VM answers only %d of %d pings on host B after the migration, before any restart (the bug report's VM does)", ok, len(answered))
	}
	e.Logf("after the migration: %d/%d pings answered, client ARP %s -> %s", ok, len(answered), smVMIP, neigh.LLAddr)
	return nil
}

// restart shuts the VM's NIC down, gives it its MAC after the restart and
// brings it up again, and waits until the team has seen the VM's
// announcement.
func (c sm) restart(ctx context.Context, e *env, n *smNet, team *testbed.Daemon, before, after string) error {
	how := "arp_notify"
	if c.ipv6 {
		how = "ndisc_notify"
	}
	e.Logf("VM restart: eth0 down, MAC %s -> %s, up (%s)", before, after, how)
	if _, err := n.vm.Run(ctx, "ip", "link", "set", "eth0", "down"); err != nil {
		return err
	}
	// The VM is off once the team has seen vm1 lose its carrier: its
	// switch forgot the VM's MAC.
	if err := testbed.WaitFor(ctx, 10*time.Second, func() error {
		st, err := team.State(ctx)
		if err != nil {
			return err
		}
		if macs, _ := vnicMACs(st, "vm1"); slices.ContainsFunc(macs, func(m string) bool { return sameMAC(m, before) }) {
			return fmt.Errorf("%s still lists %s on vm1: the VM's link going down was not seen", team.Team, before)
		}
		return nil
	}); err != nil {
		return err
	}
	if after != before {
		if _, err := n.vm.Run(ctx, "ip", "link", "set", "eth0", "address", after); err != nil {
			return err
		}
	}
	if _, err := n.vm.Run(ctx, "ip", "link", "set", "eth0", "up"); err != nil {
		return err
	}
	if err := testbed.WaitFor(ctx, 10*time.Second, func() error {
		st, err := team.State(ctx)
		if err != nil {
			return err
		}
		if macs, _ := vnicMACs(st, "vm1"); !slices.ContainsFunc(macs, func(m string) bool { return sameMAC(m, after) }) {
			return fmt.Errorf("%s has not learned %s on vm1: the VM's boot announcement did not reach it", team.Team, after)
		}
		return nil
	}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(smSettle):
	}
	return nil
}

// measure sends the probes and fills the row.
func (c sm) measure(ctx context.Context, e *env, n *smNet, team *testbed.Daemon, host string, row *result) error {
	before, err := team.State(ctx)
	if err != nil {
		return err
	}
	e.Logf("client pings %s %d times, 100 ms apart", c.vmIP(), smProbes)
	answered, err := pingProbes(ctx, n.cl, c.vmIP(), smProbes)
	if err != nil {
		return err
	}
	after, err := team.State(ctx)
	if err != nil {
		return err
	}
	vmMAC, err := linkMAC(ctx, n.vm, "eth0")
	if err != nil {
		return err
	}
	neigh, err := clientNeighbor(ctx, n.cl, c.vmIP())
	if err != nil {
		return err
	}
	m := smMeasure{
		c:          c,
		host:       host,
		answered:   answered,
		notOwned:   after.Counters.RxDroppedNotOwned - before.Counters.RxDroppedNotOwned,
		translated: after.Counters.RxTranslated - before.Counters.RxTranslated,
		miss:       after.Counters.RxTranslationMiss - before.Counters.RxTranslationMiss,
		arpAnswer:  after.Counters.ARPAnswered - before.Counters.ARPAnswered,
		vmMAC:      vmMAC,
		neigh:      neigh,
	}
	m.vmBefore, _ = c.macs()
	m.binding, m.bound = binding(after, c.vmIP())
	m.teamMAC = smTeamAMAC
	if host == "B" {
		m.teamMAC = smTeamBMAC
	}

	row.Attempts, row.Succeeded = len(answered), count(answered)
	row.Verdict = smVerdict(answered)
	seqs := []int{}
	for i, ok := range answered {
		if ok {
			seqs = append(seqs, i+1)
		}
	}
	row.Set("answered_probes", seqs, "")
	row.Set("vm_mac", vmMAC, "")
	if m.bound {
		row.Set("binding", m.binding, m.bindingText())
	} else {
		row.Set("binding", nil, "none")
	}
	row.Set("client_arp", neigh, fmt.Sprintf("%s (%s)", neigh.LLAddr, m.macName(neigh.LLAddr)))
	row.Set("rx_dropped_not_owned", m.notOwned, "")
	row.Set("rx_translated", m.translated, "")
	row.Set("rx_translation_miss", m.miss, "")
	row.Set("arp_answered", m.arpAnswer, "")
	row.Why = m.why()
	return nil
}

// smMeasure is what a variant measured, for its row and why.
type smMeasure struct {
	c                          sm
	host                       string
	answered                   []bool
	notOwned, translated, miss uint64
	arpAnswer                  uint64
	vmBefore, vmMAC, teamMAC   string
	binding                    team.XlatEntry
	bound                      bool
	neigh                      neighbor
}

// macName names a MAC of the scenario for a table cell.
func (m *smMeasure) macName(mac string) string {
	switch {
	case mac == "":
		return "none"
	case sameMAC(mac, m.vmMAC):
		return "the VM's"
	case sameMAC(mac, m.vmBefore):
		return "the VM's old"
	case sameMAC(mac, smTeamAMAC):
		return "team A"
	case sameMAC(mac, smTeamBMAC):
		return "team B"
	case sameMAC(mac, smPoolAMAC), sameMAC(mac, smPoolBMAC), sameMAC(mac, smStaticMAC):
		return "a former VM MAC"
	}
	return "unknown"
}

func (m *smMeasure) bindingText() string {
	return fmt.Sprintf("%s (%s)", m.binding.MAC, m.macName(m.binding.MAC))
}

// why explains the verdict from the measurements.
func (m *smMeasure) why() string {
	host := "host " + m.host
	ok := count(m.answered)
	probes := fmt.Sprintf("%d of %d pings answered", ok, len(m.answered))
	vmIP, entry := m.c.vmIP(), "ARP entry"
	if m.c.ipv6 {
		entry = "neighbour entry"
	}
	arp := fmt.Sprintf("the client's %s for %s is %s, %s's team MAC", entry, vmIP, m.neigh.LLAddr, host)
	if !sameMAC(m.neigh.LLAddr, m.teamMAC) {
		arp = fmt.Sprintf("the client's %s for %s is %s (%s), not %s's team MAC %s", entry, vmIP, m.neigh.LLAddr, m.macName(m.neigh.LLAddr), host, m.teamMAC)
	}
	var s string
	switch {
	case !m.bound:
		s = fmt.Sprintf("%s has no binding for %s: %d frames for its team MAC found no VM (rx_translation_miss); %s; %s",
			host, vmIP, m.miss, probes, arp)
	case sameMAC(m.binding.MAC, m.vmMAC):
		var how string
		switch {
		case m.c.toggle:
			how = fmt.Sprintf("`ctl toggle` re-read the table from %s's switch, which had learned the VM's new MAC from its boot announcement", host)
		case !sameMAC(m.vmBefore, m.vmMAC):
			how = fmt.Sprintf("learn: %s forgot the binding when the VM's link went down and took the new MAC from its boot announcement", m.c.learn)
		default:
			how = fmt.Sprintf("the VM came back with the same MAC, which the binding (learn: %s) still names", m.c.learn)
		}
		s = fmt.Sprintf("%s translates %s to %s, the VM's MAC: %s; %d frames translated, %d dropped as not owned; %s; %s",
			host, vmIP, m.binding.MAC, how, m.translated, m.notOwned, arp, probes)
	case sameMAC(m.binding.MAC, m.vmBefore):
		s = fmt.Sprintf("%s still translates %s to %s (the VM's old MAC; learn: %s keeps the first binding); the VM now has %s; no vnic owns the old MAC: %d frames translated to it and %d dropped as rx_dropped_not_owned; %s; %s",
			host, vmIP, m.binding.MAC, m.c.learn, m.vmMAC, m.translated, m.notOwned, arp, probes)
	default:
		s = fmt.Sprintf("%s translates %s to %s (%s), the VM has %s; %d frames translated, %d dropped as not owned; %s; %s",
			host, vmIP, m.binding.MAC, m.macName(m.binding.MAC), m.vmMAC, m.translated, m.notOwned, arp, probes)
	}
	if m.c.migrate {
		s = "after the live migration to host B (the VM answered there) and its restart: " + s
	}
	return s
}

// neighbor is an entry of `ip -j neigh`.
type neighbor struct {
	Dst    string   `json:"dst"`
	LLAddr string   `json:"lladdr"`
	State  []string `json:"state"`
}

// clientNeighbor returns the client's ARP (or IPv6 neighbour) entry for
// the VM's IP (LLAddr empty if there is none).
func clientNeighbor(ctx context.Context, cl *testbed.NS, vmIP string) (neighbor, error) {
	out, err := cl.Run(ctx, "ip", "-j", "neigh", "show", vmIP, "dev", "eth0")
	if err != nil {
		return neighbor{}, err
	}
	var l []neighbor
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		return neighbor{}, fmt.Errorf("ip -j neigh: %w: %q", err, out)
	}
	if len(l) == 0 {
		return neighbor{Dst: vmIP, State: []string{"NONE"}}, nil
	}
	return l[0], nil
}

// linkMAC returns an interface's MAC.
func linkMAC(ctx context.Context, ns *testbed.NS, dev string) (string, error) {
	out, err := ns.Run(ctx, "ip", "-j", "link", "show", dev)
	if err != nil {
		return "", err
	}
	var l []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l) != 1 {
		return "", fmt.Errorf("ip -j link show %s: %v: %q", dev, err, out)
	}
	return l[0].Address, nil
}

var pingReply = regexp.MustCompile(`bytes from .*icmp_seq=([0-9]+) `)

// pingProbes runs `ping -c N -i 0.1` in ns and returns, per probe, whether
// it was answered. ping's exit status 1 (not every probe answered) is a
// result, not an error.
func pingProbes(ctx context.Context, ns *testbed.NS, ip string, n int) ([]bool, error) {
	out, err := ns.Command(ctx, "ping", "-n", "-c", strconv.Itoa(n), "-i", "0.1", "-W", "1", ip).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return nil, fmt.Errorf("ping %s in %s: %w: %s", ip, ns.Name, err, strings.TrimSpace(string(out)))
	}
	answered := make([]bool, n)
	for _, m := range pingReply.FindAllStringSubmatch(string(out), -1) {
		if seq, err := strconv.Atoi(m[1]); err == nil && seq >= 1 && seq <= n {
			answered[seq-1] = true
		}
	}
	return answered, nil
}

func count(b []bool) int {
	n := 0
	for _, ok := range b {
		if ok {
			n++
		}
	}
	return n
}

func sameMAC(a, b string) bool { return a != "" && strings.EqualFold(a, b) }
