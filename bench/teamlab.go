//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team"
)

// teamLab is the network of the balance, reorder and reload sections: a
// VM behind a static teamd-go team whose two members plug into an Open
// vSwitch bond without LACP that accepts on both (the team's LAG
// partner), and a receiver on another switch port.
//
//	vm: eth0 --- host: tgbvm1 [teamd-go static] tgbm1 --- sw: tgbp1 \ bond tgbbond0
//	                                            tgbm2 --- sw: tgbp2 /  [OVS tgbbr0]
//	                                                      sw: tgbpp --- rcv: eth0
//
// OVS runs the userspace datapath with userspace TSO, so every host keeps
// the kernel's default offloads. Nothing is pinned: these sections count
// bytes, moves and lost or reordered datagrams, not rates, and a daemon
// pinned to one CPU of a busy machine overflows its socket buffers
// whenever that CPU is taken.
// A Linux bridge would not do as the partner: it sees the VM's MAC flap
// between its two ports.
type teamLab struct {
	b                 *testbed.Bed
	vm, host, sw, rcv *testbed.NS
	ovs               *testbed.Switch
	p                 *path // vm -> rcv, for reach and iperf3

	cfg, team string
	daemon    *testbed.Daemon
	balance   string
}

// Interfaces of the lab.
var (
	labMembers  = []string{"tgbm1", "tgbm2"} // in host
	labSwitchPs = []string{"tgbp1", "tgbp2"} // in sw, facing the members
)

// teamLabTopology is the network without the daemon (start runs one).
func teamLabTopology(name string) testbed.Topology {
	return testbed.Topology{
		Namespaces: testbed.Roles("vm", "host", "sw", "rcv"),
		Links: []testbed.Link{
			testbed.Pair("vm", "eth0", "host", "tgbvm1"),
			testbed.Pair("host", labMembers[0], "sw", labSwitchPs[0]),
			testbed.Pair("host", labMembers[1], "sw", labSwitchPs[1]),
			testbed.Pair("sw", "tgbpp", "rcv", "eth0"),
		},
		Ifaces: []testbed.Iface{{NS: "vm", Dev: "eth0", MAC: srcMAC, Addrs: []string{srcIP + prefix}}, rcvHost},
		Switches: []testbed.SwitchSpec{{NS: "sw", Name: "ovs-" + name, Options: []testbed.OVSOption{testbed.UserspaceTSO()},
			Bridges: []testbed.OVSBridge{{Name: "tgbbr0", Ports: []string{"tgbpp"}, Bonds: []testbed.Bond{{
				Name: "tgbbond0", Members: labSwitchPs,
				Options: []string{"bond_mode=balance-slb", "lacp=off", "other_config:all-members-active=true"}}}}}}},
	}
}

// buildTeamLab makes the namespaces, links and switch; start runs a daemon.
func buildTeamLab(ctx context.Context, b *testbed.Bed, o *options, name string) (*teamLab, error) {
	if _, err := daemonBin(o); err != nil {
		return nil, err
	}
	if err := testbed.OVSAvailable(); err != nil {
		return nil, notAvailable("%v", err)
	}
	n, err := testbed.Build(ctx, b, teamLabTopology(name))
	if err != nil {
		return nil, err
	}
	l := &teamLab{b: b, vm: n.NS("vm"), host: n.NS("host"), sw: n.NS("sw"), rcv: n.NS("rcv"), ovs: n.Switch("sw"),
		cfg: filepath.Join(o.dir, name+".yaml"),
		// Unique on the machine: the control socket is /run/teamd-go/TEAM.sock.
		team: runName}
	l.p = newPath(l.vm, l.rcv, "eth0", "eth0")
	l.p.name = name
	return l, nil
}

// config is the team's configuration with the given balance: static,
// hash [ipv4, l4], the default flowlet_gap.
func (l *teamLab) config(alg string) string {
	balance, gap := splitAlgorithm(alg)
	if gap != "" {
		gap = "flowlet_gap: " + gap + "\n"
	}
	return fmt.Sprintf(`mode: static
balance: %s
hash: [ipv4, l4]
%smembers:
  - name: %s
  - name: %s
vnics:
  - name: tgbvm1
`, balance, gap, labMembers[0], labMembers[1])
}

// start runs a daemon with balance, waits for its control socket and for
// a TCP connection from the VM to the receiver. A running daemon is
// stopped first.
func (l *teamLab) start(ctx context.Context, balance string) error {
	l.stop()
	d, err := l.b.StartDaemon(ctx, l.host, testbed.DaemonSpec{Team: l.team, Backend: testbed.AFPacket, ConfigPath: l.cfg, Config: l.config(balance)})
	if errors.Is(err, testbed.ErrDaemonStart) {
		return notAvailable("%v", err)
	} else if err != nil {
		return err
	}
	l.daemon, l.balance = d, balance
	return reach(ctx, l.p, 15*time.Second)
}

// stop ends the running daemon (SIGTERM: members restored).
func (l *teamLab) stop() {
	if l.daemon != nil {
		l.daemon.Stop()
		l.daemon = nil
	}
}

func (l *teamLab) state() (team.State, error) { return l.daemon.State(context.Background()) }

// txBytes maps member name to tx_bytes.
func txBytes(st team.State) map[string]uint64 {
	m := map[string]uint64{}
	for _, mb := range st.Members {
		m[mb.Name] = mb.TxBytes
	}
	return m
}

// txDropped is the team's transmit drops: members' and "no member".
func txDropped(st team.State) uint64 {
	n := st.Counters.TxDroppedNoMember
	for _, m := range st.Members {
		n += m.TxDropped
	}
	return n
}

// reload rewrites the config file with balance and reloads through ctl.
func (l *teamLab) reload(balance string) error {
	if err := l.daemon.Reload(context.Background(), l.config(balance)); err != nil {
		return err
	}
	l.balance = balance
	return nil
}
