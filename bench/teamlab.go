//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
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
	vm, host, sw, rcv *nstest.NS
	ovs               *ovstest.Switch
	p                 *path // vm -> rcv, for reach and iperf3

	bin, cfg, team string
	daemon         *proc
	balance        string
}

// Interfaces of the lab.
var (
	labMembers  = []string{"tgbm1", "tgbm2"} // in host
	labSwitchPs = []string{"tgbp1", "tgbp2"} // in sw, facing the members
)

// buildTeamLab makes the namespaces, links and switch; start runs a daemon.
func buildTeamLab(cl *cleanups, o *options, name string) (*teamLab, error) {
	bin, err := filepath.Abs(o.teamd)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil {
		return nil, notAvailable("%s: %v (build it: go build -o bin/teamd-go ./cmd/teamd-go)", o.teamd, errors.Unwrap(err))
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, notAvailable("%s is not an executable", o.teamd)
	}
	if err := ovstest.Available(); err != nil {
		return nil, notAvailable("%v", err)
	}
	l := &teamLab{bin: bin, cfg: filepath.Join(o.dir, name+".yaml"),
		// Unique on the machine: the control socket is /run/teamd-go/TEAM.sock.
		team: fmt.Sprintf("tgbb%d", os.Getpid())}
	for _, r := range []struct {
		ns   **nstest.NS
		role string
	}{{&l.vm, "vm"}, {&l.host, "host"}, {&l.sw, "sw"}, {&l.rcv, "rcv"}} {
		if *r.ns, err = newNS(cl, r.role); err != nil {
			return nil, err
		}
	}
	if err := veth(l.vm, "eth0", l.host, "tgbvm1"); err != nil {
		return nil, err
	}
	for i := range labMembers {
		if err := veth(l.host, labMembers[i], l.sw, labSwitchPs[i]); err != nil {
			return nil, err
		}
	}
	if err := veth(l.sw, "tgbpp", l.rcv, "eth0"); err != nil {
		return nil, err
	}
	if err := hostPair(l.vm, "eth0", l.rcv, "eth0"); err != nil {
		return nil, err
	}
	dir := filepath.Join(o.dir, "ovs-"+name)
	cl.push(func() { _ = os.RemoveAll(dir) })
	sw, err := ovstest.StartProcess(l.sw.Name, dir, ovstest.UserspaceTSO())
	if err != nil {
		return nil, err
	}
	cl.push(func() { _ = sw.Stop() })
	l.ovs = sw
	if err := sw.AddBridge("tgbbr0"); err != nil {
		return nil, err
	}
	if err := sw.AddPort("tgbbr0", "tgbpp"); err != nil {
		return nil, err
	}
	if err := sw.AddBond("tgbbr0", "tgbbond0", labSwitchPs,
		"bond_mode=balance-slb", "lacp=off", "other_config:all-members-active=true"); err != nil {
		return nil, err
	}
	l.p = newPath(l.vm, l.rcv, "eth0", "eth0")
	l.p.name = name
	return l, nil
}

// config is the team's configuration with the given balance: static,
// hash [ipv4, l4], the default flowlet_gap.
func (l *teamLab) config(balance string) string {
	return fmt.Sprintf(`# written by teamd-go bench
team: %s
mode: static
balance: %s
hash: [ipv4, l4]
backend: af_packet
members:
  - name: %s
  - name: %s
vnics:
  - name: tgbvm1
`, l.team, balance, labMembers[0], labMembers[1])
}

// start runs a daemon with balance, waits for its control socket and for
// a TCP connection from the VM to the receiver. A running daemon is
// stopped first.
func (l *teamLab) start(ctx context.Context, cl *cleanups, balance string) error {
	l.stop()
	if err := os.WriteFile(l.cfg, []byte(l.config(balance)), 0o644); err != nil {
		return err
	}
	d, err := startProc(cl, l.host, l.bin, "-c", l.cfg)
	if err != nil {
		return err
	}
	l.daemon, l.balance = d, balance
	deadline := time.Now().Add(10 * time.Second)
	for {
		if d.exited() {
			return notAvailable("teamd-go exited at start (%v): %s", d.err, d.lastLine())
		}
		if _, err := l.state(); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("teamd-go control socket: %w", err)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	return reach(ctx, l.p, 15*time.Second)
}

// stop ends the running daemon (SIGTERM: members restored).
func (l *teamLab) stop() {
	if l.daemon != nil {
		l.daemon.stop(syscall.SIGTERM)
		l.daemon = nil
	}
}

func (l *teamLab) ctl(args ...string) (string, error) {
	return l.host.Run(l.bin, append([]string{"ctl", "-t", l.team}, args...)...)
}

// teamState is the part of `ctl state` (SPEC §4) the sections read; raw
// keeps the whole document for counters this bench does not know yet.
type teamState struct {
	Balance string `json:"balance"`
	Members []struct {
		Name      string `json:"name"`
		Active    bool   `json:"active"`
		TxPackets uint64 `json:"tx_packets"`
		TxBytes   uint64 `json:"tx_bytes"`
		TxDropped uint64 `json:"tx_dropped"`
	} `json:"members"`
	Counters struct {
		TxDroppedNoMember uint64 `json:"tx_dropped_no_member"`
		ReloadsOK         uint64 `json:"reloads_ok"`
		ReloadsFailed     uint64 `json:"reloads_failed"`
	} `json:"counters"`
	raw any
}

func (l *teamLab) state() (*teamState, error) {
	out, err := l.ctl("state")
	if err != nil {
		return nil, err
	}
	var st teamState
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("ctl state: %w: %.200s", err, out)
	}
	_ = json.Unmarshal([]byte(out), &st.raw)
	return &st, nil
}

// txBytes maps member name to tx_bytes.
func (st *teamState) txBytes() map[string]uint64 {
	m := map[string]uint64{}
	for _, mb := range st.Members {
		m[mb.Name] = mb.TxBytes
	}
	return m
}

// txDropped is the team's transmit drops: members' and "no member".
func (st *teamState) txDropped() uint64 {
	n := st.Counters.TxDroppedNoMember
	for _, m := range st.Members {
		n += m.TxDropped
	}
	return n
}

// flowletMoves is the dynamic balancer's own count of flowlet moves if
// `ctl state` carries one (a numeric key "flowlet_moves", or "moves"
// inside an object whose key mentions the balancer); SPEC §4 does not
// require it, and when this was written the daemon did not expose it.
func (st *teamState) flowletMoves() (uint64, bool) {
	var walk func(v any, parent string) (uint64, bool)
	walk = func(v any, parent string) (uint64, bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if f, ok := x.(float64); ok && (k == "flowlet_moves" || k == "moves" && strings.Contains(parent, "balanc")) {
					return uint64(f), true
				}
			}
			for k, x := range v {
				if n, ok := walk(x, k); ok {
					return n, true
				}
			}
		case []any:
			for _, x := range v {
				if n, ok := walk(x, parent); ok {
					return n, true
				}
			}
		}
		return 0, false
	}
	return walk(st.raw, "")
}

// reload rewrites the config file with balance and reloads through ctl.
func (l *teamLab) reload(balance string) error {
	if err := os.WriteFile(l.cfg, []byte(l.config(balance)), 0o644); err != nil {
		return err
	}
	if out, err := l.ctl("reload"); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out))
	}
	l.balance = balance
	return nil
}
