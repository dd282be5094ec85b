//go:build linux

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

// topo is the standard test network:
//
//	ns vm (eth0 10.77.0.1, default offloads) == vm1 ┐
//	                                  ns host: teamd-go, members m1 m2
//	ns sw: Linux bridge br0 ── p1, p2 (to m1, m2) ── pp (to the peer)
//	ns peer (eth0 10.77.0.2)
type topo struct {
	host, vm, sw, peer *nstest.NS
	team               string
}

var teamSeq atomic.Int32

func newTopo(t *testing.T) *topo {
	t.Helper()
	tp := newHosts(t)
	tp.sw.Bridge(t, "br0", "p1", "p2", "pp")
	return tp
}

// newHosts builds the namespaces and veths of topo without a switch in sw.
func newHosts(t *testing.T) *topo {
	t.Helper()
	nstest.Require(t)
	nstest.RequireTool(t, "ping", "ethtool")
	n := nstest.Build(t, "", testbed.Topology{
		Namespaces: testbed.Roles("host", "vm", "sw", "peer"),
		Links:      topoLinks(),
		Ifaces: []testbed.Iface{
			{NS: "vm", Dev: "eth0", MAC: "02:00:00:77:00:01", Addrs: []string{"10.77.0.1/24"}},
			{NS: "peer", Dev: "eth0", MAC: "02:00:00:77:00:02", Addrs: []string{"10.77.0.2/24"}},
		},
	})
	return topoOf(n)
}

// topoLinks are topo's veths: the members m1, m2 to the switch ports p1,
// p2, the peer to pp, the VM to vm1.
func topoLinks() []testbed.Link {
	return []testbed.Link{
		testbed.Pair("host", "m1", "sw", "p1"),
		testbed.Pair("host", "m2", "sw", "p2"),
		testbed.Pair("peer", "eth0", "sw", "pp"),
		testbed.Pair("vm", "eth0", "host", "vm1"),
	}
}

// topoOf is the topo of n's namespaces, with a team name unique to this run.
func topoOf(n *nstest.Net) *topo {
	return &topo{
		host: n.NS("host"), vm: n.NS("vm"), sw: n.NS("sw"), peer: n.NS("peer"),
		team: fmt.Sprintf("it%d-%d", os.Getpid()%10000, teamSeq.Add(1)),
	}
}

// daemon is a teamd-go process in the host namespace.
type daemon struct {
	t    *testing.T
	tp   *topo
	cfg  string
	proc *nstest.Proc
	h    *testbed.Daemon
}

// backend is the data path under test: TEAMD_TEST_BACKEND, af_packet or
// xdp, empty for the daemon's default (af_packet).
func backend() string { return os.Getenv("TEAMD_TEST_BACKEND") }

// config is a team config: the team's name, the backend under test, and
// body. The backend is TEAMD_TEST_BACKEND (the Makefile runs the suite
// once per backend), or the daemon's default when it is empty.
func (tp *topo) config(body string) string {
	head := "team: " + tp.team + "\n"
	if b := backend(); b != "" {
		head += "backend: " + b + "\n"
	}
	return head + body
}

// start runs teamd-go with cfg and waits until its control socket answers.
func (tp *topo) start(t *testing.T, cfg string) *daemon {
	t.Helper()
	path := filepath.Join(t.TempDir(), "team.yaml")
	h := tp.host.StartDaemon(t, teamdBin, testbed.DaemonSpec{Team: tp.team, Config: cfg, Verbatim: true, ConfigPath: path})
	return &daemon{t: t, tp: tp, cfg: path, proc: h.Proc, h: h}
}

func (d *daemon) ctl(args ...string) (string, error) {
	return d.h.Ctl(context.Background(), args...)
}

func (d *daemon) state() team.State {
	d.t.Helper()
	st, err := d.h.State(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return st
}

func (d *daemon) vnicHome(name string) string {
	for _, v := range d.state().VNICs {
		if v.Name == name {
			return v.Home
		}
	}
	return ""
}

// explain runs `ctl explain --json` with args and decodes the answer.
func (d *daemon) explain(args ...string) team.Explanation {
	d.t.Helper()
	out, err := d.ctl(append([]string{"explain", "--json"}, args...)...)
	if err != nil {
		d.t.Fatalf("ctl explain %v: %v\n%s", args, err, out)
	}
	var e team.Explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		d.t.Fatalf("ctl explain --json: %v\n%s", err, out)
	}
	return e
}

// startTcpdump starts tcpdump in ns with args and returns once it says it
// listens, so that what follows is captured.
func startTcpdump(t *testing.T, ns *nstest.NS, args ...string) *nstest.Proc {
	t.Helper()
	p := ns.StartProc(t, "tcpdump", args...)
	nstest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(p.Output(), "listening on") {
			return fmt.Errorf("tcpdump %v not listening yet: %s", args, p.Output())
		}
		return nil
	})
	return p
}

// stop sends SIGTERM and waits for the daemon to exit.
func (d *daemon) stop() {
	d.t.Helper()
	if err := d.proc.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	if err := d.proc.Wait(10 * time.Second); err != nil {
		d.t.Fatalf("teamd-go did not stop on SIGTERM: %v\n%s", err, d.proc.Output())
	}
}

// pingOK pings from ns to ip until one reply arrives.
func pingOK(t *testing.T, ns *nstest.NS, ip string) {
	t.Helper()
	nstest.Eventually(t, 15*time.Second, func() error {
		_, err := ns.Run("ping", "-c", "1", "-W", "1", ip)
		return err
	})
}

// pingStats runs ping and returns transmitted and received counts.
func pingStats(t *testing.T, ns *nstest.NS, args ...string) (tx, rx int) {
	t.Helper()
	out, _ := ns.Run("ping", args...)
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "packets transmitted") {
			fmt.Sscanf(l, "%d packets transmitted, %d received", &tx, &rx)
		}
	}
	if tx == 0 {
		t.Fatalf("no ping summary in:\n%s", out)
	}
	return tx, rx
}

// newOVSTopo is topo with Open vSwitch (userspace datapath, userspace TSO
// so that nobody's offloads need turning off) as the physical switch:
// bridge br0 with the peer's port pp and p1, p2 as a bond built with
// bondOpts, or as plain ports when bondOpts is nil.
func newOVSTopo(t *testing.T, bondOpts ...string) (*topo, *ovstest.Switch) {
	t.Helper()
	tp := newHosts(t)
	sw := ovstest.Start(t, tp.sw, ovstest.UserspaceTSO())
	must(t, sw.AddBridge("br0"))
	must(t, sw.AddPort("br0", "pp"))
	if bondOpts != nil {
		must(t, sw.AddBond("br0", "bond0", []string{"p1", "p2"}, bondOpts...))
	} else {
		must(t, sw.AddPort("br0", "p1"))
		must(t, sw.AddPort("br0", "p2"))
	}
	return tp, sw
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// member returns the named member's state.
func (st *stateView) member(name string) team.MemberState {
	for _, m := range st.Members {
		if m.Name == name {
			return m
		}
	}
	return team.MemberState{}
}

type stateView struct{ team.State }

// view returns the state with helpers.
func (d *daemon) view() *stateView { return &stateView{d.state()} }

// linkWatches returns a check, for nstest.Eventually, that m1's and m2's
// link watch verdicts in ctl state are the two given.
func (d *daemon) linkWatches(m1, m2 string) func() error {
	return func() error {
		st := d.view()
		if got := [2]string{st.member("m1").LinkWatch, st.member("m2").LinkWatch}; got != [2]string{m1, m2} {
			return fmt.Errorf("link watch %v, want [%s %s]", got, m1, m2)
		}
		return nil
	}
}

// reload rewrites the config file and reloads it through ctl.
func (d *daemon) reload(cfg string) error {
	if err := os.WriteFile(d.cfg, []byte(cfg), 0o644); err != nil {
		return err
	}
	out, err := d.ctl("reload")
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}
