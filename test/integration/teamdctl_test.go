//go:build linux

package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team/teamdctl"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// Tests of libteam's own teamdctl (Debian's libteam-utils) against
// teamd-go: the real binary, unchanged, in the daemon's namespace.

// startJSON runs teamd-go from a teamd JSON config (device = tp.team),
// on the backend under test (teamd-go's "backend" key, see backend).
func (tp *topo) startJSON(t *testing.T, js string) *daemon {
	t.Helper()
	nstest.RequireTool(t, "teamdctl")
	if b := backend(); b != "" {
		open := strings.Index(js, "{")
		js = js[:open+1] + `"backend": "` + b + `", ` + js[open+1:]
	}
	path := filepath.Join(t.TempDir(), "team.json")
	h := tp.host.StartDaemon(t, teamdBin, testbed.DaemonSpec{Team: tp.team, Config: js, Verbatim: true, ConfigPath: path})
	return &daemon{t: t, tp: tp, cfg: path, proc: h.Proc, h: h}
}

// teamdctl runs `teamdctl TEAM args...` in the daemon's namespace and
// returns its combined output and exit code.
func (d *daemon) teamdctl(args ...string) (string, int) {
	d.t.Helper()
	out, err := d.tp.host.Run("teamdctl", append([]string{d.tp.team}, args...)...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	d.t.Fatalf("teamdctl %v: %v\n%s", args, err, out)
	return "", -1
}

// mustTeamdctl is teamdctl that must succeed.
func (d *daemon) mustTeamdctl(args ...string) string {
	d.t.Helper()
	out, code := d.teamdctl(args...)
	if code != 0 {
		d.t.Fatalf("teamdctl %s: exit %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// itemGet is `teamdctl TEAM state item get PATH`, trimmed.
func (d *daemon) itemGet(path string) string {
	d.t.Helper()
	return strings.TrimSpace(d.mustTeamdctl("state", "item", "get", path))
}

func contains(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// ifindex reads an interface's index in ns.
func ifindex(t *testing.T, ns *nstest.NS, dev string) string {
	t.Helper()
	out := ns.MustRun(t, "cat", "/sys/class/net/"+dev+"/ifindex")
	return strings.TrimSpace(out)
}

// tapUp gives the team's TAP an address so that the host's own stack
// talks through the team.
func (tp *topo) tapUp(t *testing.T, cidr string) {
	t.Helper()
	tp.host.MustRun(t, "ip", "addr", "add", cidr, "dev", tp.team)
	tp.host.MustRun(t, "ip", "link", "set", tp.team, "up")
}

// TestTeamdctlActiveBackup: teamd's activebackup config, driven by
// teamdctl only: view, dump, item get and set, config dump, port present,
// port config update, failover on carrier loss, port remove and add under
// traffic; each change checked against `teamd-go ctl state`.
func TestTeamdctlActiveBackup(t *testing.T) {
	tp := newTopo(t)
	d := tp.startJSON(t, `{
	"device": "`+tp.team+`",
	"runner": {"name": "activebackup"},
	"link_watch": {"name": "ethtool"},
	"ports": {"m1": {"prio": 10}, "m2": {"prio": 5}}
}`)
	tp.tapUp(t, "10.77.0.3/24")
	pingOK(t, tp.host, "10.77.0.2")

	view := d.mustTeamdctl("state", "view")
	t.Logf("teamdctl %s state view:\n%s", tp.team, view)
	contains(t, "state view", view, "setup:\n  runner: activebackup\n", "ports:\n  m1\n", "\n  m2\n",
		"    link watches:\n      link summary: up\n      instance[link_watch_0]:\n        name: ethtool\n        link: up\n",
		"runner:\n  active port: m1\n")
	verbose := d.mustTeamdctl("state", "view", "-v")
	contains(t, "state view -v", verbose, "kernel team mode: activebackup", "D-BUS enabled: no",
		"PID: "+strconv.Itoa(d.proc.Pid()), "ifindex: "+ifindex(t, tp.host, "m1"), "ethtool link: 10000mbit/fullduplex/up",
		"link up delay: 0", "down count: 0")

	var dump map[string]any
	out := d.mustTeamdctl("state", "dump")
	if err := json.Unmarshal([]byte(out), &dump); err != nil {
		t.Fatalf("state dump is not JSON: %v\n%s", err, out)
	}
	if ports, _ := dump["ports"].(map[string]any); len(ports) != 2 || ports["m1"] == nil || ports["m2"] == nil {
		t.Errorf("state dump ports: %v", dump["ports"])
	}

	mac1 := tp.host.MustRun(t, "cat", "/sys/class/net/m1/address")
	for path, want := range map[string]string{
		"setup.runner_name":                            "activebackup",
		"setup.pid":                                    strconv.Itoa(d.proc.Pid()),
		"runner.active_port":                           "m1",
		"ports.m1.link.up":                             "true",
		`ports."m2".ifinfo.ifname`:                     "m2",
		"ports.m1.ifinfo.dev_addr":                     strings.TrimSpace(mac1),
		"ports.m2.link.speed":                          "10000",
		"team_device.ifinfo.ifname":                    tp.team,
		"team_device.ifinfo.ifindex":                   ifindex(t, tp.host, tp.team),
		"teamd_go.balance":                             "active-backup",
		"ports.m2.teamd_go.active":                     "false",
		"ports.m1.link_watches.up":                     "true",
		"ports.m1.link_watches.list.link_watch_0.name": "ethtool",
	} {
		if got := d.itemGet(path); got != want {
			t.Errorf("state item get %s = %q, want %q", path, got, want)
		}
	}
	for _, path := range []string{"ports.m1", "ports.m9.link.up", "nosuch"} {
		out, code := d.teamdctl("state", "item", "get", path)
		contains(t, "state item get "+path, out, "PathDoesNotExist")
		if code != 1 {
			t.Errorf("state item get %s: exit %d, want 1", path, code)
		}
	}

	// config dump: teamd's JSON with the device teamdctl checks.
	for _, args := range [][]string{{"config", "dump"}, {"config", "dump", "actual"}} {
		out := d.mustTeamdctl(args...)
		var c struct {
			Device string                    `json:"device"`
			Runner struct{ Name string }     `json:"runner"`
			Ports  map[string]map[string]int `json:"ports"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if c.Device != tp.team || c.Runner.Name != "activebackup" || c.Ports["m1"]["prio"] != 10 || c.Ports["m2"]["prio"] != 5 {
			t.Errorf("%v:\n%s", args, out)
		}
	}

	// port present
	d.mustTeamdctl("port", "present", "m1")
	if out, code := d.teamdctl("port", "present", "vm1"); code != 1 || !strings.Contains(out, "No such device") {
		t.Errorf("port present vm1 (not a port): exit %d:\n%s", code, out)
	}

	// state item set runner.active_port: the team follows.
	d.mustTeamdctl("state", "item", "set", "runner.active_port", "m2")
	if got := d.itemGet("runner.active_port"); got != "m2" {
		t.Errorf("active port after set: %q", got)
	}
	st := d.view()
	if st.Active != "m2" || !st.member("m2").Active || st.member("m1").Active {
		t.Errorf("ctl state after set: active %q, m1 active %v, m2 active %v", st.Active, st.member("m1").Active, st.member("m2").Active)
	}
	if v := d.vnicHome(tp.team); v != "m2" {
		t.Errorf("TAP's home %q after the active port moved to m2", v)
	}
	pingOK(t, tp.host, "10.77.0.2")
	for _, bad := range []string{"m9", "vm1"} {
		if out, code := d.teamdctl("state", "item", "set", "runner.active_port", bad); code != 1 || !strings.Contains(out, "ItemValueSetFail") {
			t.Errorf("set active port %s: exit %d:\n%s", bad, code, out)
		}
	}
	if out, code := d.teamdctl("state", "item", "set", "setup.pid", "1"); code != 1 || !strings.Contains(out, "OpNotSupp") {
		t.Errorf("set setup.pid: exit %d:\n%s", code, out)
	}

	// port config update changes prio, through the validated path.
	d.mustTeamdctl("port", "config", "update", "m1", "{\n  \"prio\": 3\n}")
	if out := d.mustTeamdctl("port", "config", "dump", "m1"); !strings.Contains(out, `"prio": 3`) {
		t.Errorf("port config dump m1 after update:\n%s", out)
	}
	if c := d.dump(); c.Members[0].Name != "m1" || c.Members[0].Prio != 3 || c.Members[1].Prio != 5 {
		t.Errorf("ctl config dump after port config update: %+v", c.Members)
	}
	before := d.state()
	for _, bad := range []string{`{"prio": "high"}`, `{"queue_id": 2}`, `[1]`, `prio=1`} {
		out, code := d.teamdctl("port", "config", "update", "m1", bad)
		if code != 1 || !strings.Contains(out, "ConfigUpdateFail") {
			t.Errorf("port config update m1 %s: exit %d:\n%s", bad, code, out)
		}
	}
	if out, code := d.teamdctl("port", "config", "update", "vm1", `{"prio": 1}`); code != 1 || !strings.Contains(out, "NoSuchDev") {
		t.Errorf("port config update vm1: exit %d:\n%s", code, out)
	}
	if diff := cmp.Diff(before, d.state(), shape); diff != "" {
		t.Errorf("refused port config updates changed the team (-before +after):\n%s", diff)
	}

	// The active member loses carrier: the other takes over.
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "down")
	nstest.Eventually(t, 5*time.Second, func() error {
		if got := d.itemGet("runner.active_port"); got != "m1" {
			return fmt.Errorf("active port %q after m2 lost carrier, want m1", got)
		}
		return nil
	})
	if got := d.itemGet("ports.m2.link.up"); got != "false" {
		t.Errorf("ports.m2.link.up = %s after carrier loss", got)
	}
	if got := d.itemGet("ports.m2.link_watches.list.link_watch_0.down_count"); got != "1" {
		t.Errorf("m2's down_count = %s after one carrier loss", got)
	}
	pingOK(t, tp.host, "10.77.0.2")
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "up")

	// port remove, then port add, under traffic.
	pingOK(t, tp.peer, "10.77.0.3")
	s := streams{
		fwd: startUDPStream(t, "host->peer", tp.host, "10.77.0.3", tp.peer, "10.77.0.2", 2000, streamSize),
		rev: startUDPStream(t, "peer->host", tp.peer, "10.77.0.2", tp.host, "10.77.0.3", 2000, streamSize),
	}
	s.fwd.waitArrivalAfter(t, 0, "start")
	s.rev.waitArrivalAfter(t, 0, "start")
	d.mustTeamdctl("port", "remove", "m1") // the active member
	if got := memberNames(d.state()); !cmp.Equal(got, []string{"m2"}) {
		t.Errorf("members after teamdctl port remove m1: %v", got)
	}
	if out, code := d.teamdctl("port", "present", "m1"); code != 1 {
		t.Errorf("port present m1 after remove: exit %d\n%s", code, out)
	}
	if out, code := d.teamdctl("port", "remove", "m1"); code != 1 || !strings.Contains(out, "NoSuchDev") {
		t.Errorf("second port remove m1: exit %d:\n%s", code, out)
	}
	if out, code := d.teamdctl("port", "add", "nosuch0"); code != 1 || !strings.Contains(out, "NoSuchDev") {
		t.Errorf("port add nosuch0: exit %d:\n%s", code, out)
	}
	if out, code := d.teamdctl("port", "add", "m2"); code != 1 || !strings.Contains(out, "PortAddFail") {
		t.Errorf("port add m2 (already a port): exit %d:\n%s", code, out)
	}
	fseq, rseq := s.fwd.sentSoFar(), s.rev.sentSoFar()
	s.fwd.waitArrivalAfter(t, fseq, "port remove m1")
	s.rev.waitArrivalAfter(t, rseq, "port remove m1")
	d.mustTeamdctl("port", "add", "m1")
	st = d.view()
	if got := memberNames(st.State); !cmp.Equal(got, []string{"m2", "m1"}) {
		t.Errorf("members after teamdctl port add m1: %v", got)
	}
	d.mustTeamdctl("port", "present", "m1")
	fseq, rseq = s.fwd.sentSoFar(), s.rev.sentSoFar()
	s.fwd.waitArrivalAfter(t, fseq, "port add m1")
	s.rev.waitArrivalAfter(t, rseq, "port add m1")
	time.Sleep(300 * time.Millisecond)
	fr, rr := s.fwd.finish(), s.rev.finish()
	t.Logf("through port remove m1, port add m1: %v", fr)
	t.Logf("through port remove m1, port add m1: %v", rr)
	if fr.Dups > 0 || rr.Dups > 0 {
		t.Errorf("duplicates: %d, %d", fr.Dups, rr.Dups)
	}
	if d.proc.Exited() {
		t.Fatalf("daemon exited:\n%s", d.proc.Output())
	}
}

// TestTeamdctlLACP: teamd's lacp config against Open vSwitch: teamdctl's
// LACP view shows the aggregation OVS agrees on.
func TestTeamdctlLACP(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.startJSON(t, `{
	"device": "`+tp.team+`",
	"runner": {"name": "lacp", "active": true, "fast_rate": true, "tx_hash": ["eth", "ipv4", "l4"]},
	"ports": {"m1": {}, "m2": {"lacp_prio": 100}}
}`)
	waitAggregated(t, d, sw)
	tp.tapUp(t, "10.77.0.3/24")
	pingOK(t, tp.host, "10.77.0.2")
	sysID, _ := parseLACPShow(func() string { out, _ := sw.LACPShow("bond0"); return out }())

	view := d.mustTeamdctl("state", "view")
	t.Logf("teamdctl %s state view:\n%s", tp.team, view)
	verbose := d.mustTeamdctl("state", "view", "-v")
	t.Logf("teamdctl %s state view -v:\n%s", tp.team, verbose)
	contains(t, "state view", view, "setup:\n  runner: lacp\n", "\n  m1\n", "\n  m2\n",
		"runner:\n  active: yes\n  fast rate: yes\n", "selected: yes", "state: current")
	contains(t, "state view -v", verbose, "kernel team mode: lacp", "actor LACPDU info:", "partner LACPDU info:", "aggregator ID: "+ifindex(t, tp.host, "m1")+", Selected",
		strings.ToLower(sysID))

	st := d.view()
	m1 := st.member("m1")
	for path, want := range map[string]string{
		"setup.runner_name":                          "lacp",
		"runner.active":                              "true",
		"runner.fast_rate":                           "true",
		"runner.sys_prio":                            "65535",
		"ports.m1.runner.selected":                   "true",
		"ports.m2.runner.state":                      "current",
		"ports.m2.runner.prio":                       "100",
		"ports.m1.runner.aggregator.id":              ifindex(t, tp.host, "m1"),
		"ports.m2.runner.aggregator.id":              ifindex(t, tp.host, "m1"),
		"ports.m1.runner.actor_lacpdu_info.system":   m1.MAC,
		"ports.m1.runner.partner_lacpdu_info.system": strings.ToLower(sysID),
		"ports.m1.runner.partner_lacpdu_info.key":    strconv.Itoa(m1.LACP.PartnerKey),
		"ports.m1.runner.actor_lacpdu_info.state":    "63", // active, fast, aggregatable, in sync, collecting, distributing
		"ports.m1.runner.partner_lacpdu_info.port":   strconv.Itoa(m1.LACP.PartnerPort),
		"ports.m1.teamd_go.lacp.mux_state":           m1.LACP.MuxState,
		"teamd_go.mode":                              "lacp",
	} {
		if got := d.itemGet(path); got != want {
			t.Errorf("state item get %s = %q, want %q", path, got, want)
		}
	}
	if out, code := d.teamdctl("state", "item", "get", "runner.active_port"); code != 1 || !strings.Contains(out, "PathDoesNotExist") {
		t.Errorf("runner.active_port of a lacp team: exit %d:\n%s", code, out)
	}
	if out, code := d.teamdctl("state", "item", "set", "ports.m1.runner.aggregator.selected", "true"); code != 1 || !strings.Contains(out, "OpNotSupp") {
		t.Errorf("set aggregator.selected: exit %d:\n%s", code, out)
	}

	// The LACP port priority is updated in the running team and sent to
	// the partner.
	d.mustTeamdctl("port", "config", "update", "m2", `{"lacp_prio": 50}`)
	if got := d.itemGet("ports.m2.runner.actor_lacpdu_info.port_priority"); got != "50" {
		t.Errorf("m2's actor port priority after update: %s", got)
	}
	nstest.Eventually(t, 10*time.Second, func() error {
		out, err := sw.LACPShow("bond0")
		if err != nil {
			return err
		}
		i := strings.Index(out, "member: p2")
		if i < 0 || !strings.Contains(out[i:], "partner port_priority: 50") {
			return fmt.Errorf("OVS does not see port priority 50 on p2:\n%s", out)
		}
		return nil
	})
	cfg := d.mustTeamdctl("config", "dump")
	if !strings.Contains(cfg, `"lacp_prio": 50`) || !strings.Contains(cfg, `"name": "lacp"`) {
		t.Errorf("config dump after update:\n%s", cfg)
	}

	// m1 loses its link: its LACP state follows, m2 carries on.
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "down")
	nstest.Eventually(t, 10*time.Second, func() error {
		if got := d.itemGet("ports.m1.link.up"); got != "false" {
			return fmt.Errorf("ports.m1.link.up %s", got)
		}
		if got := d.itemGet("ports.m1.runner.state"); got != "disabled" {
			return fmt.Errorf("ports.m1.runner.state %s", got)
		}
		return nil
	})
	pingOK(t, tp.host, "10.77.0.2")
}

// scrapeText fetches http://addr/metrics from inside ns as text.
func scrapeText(t *testing.T, ns *nstest.NS, addr string) string {
	t.Helper()
	var conn net.Conn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	return string(b)
}

// promtoolClean fails unless `promtool check metrics` finds nothing.
func promtoolClean(t *testing.T, what, body string) {
	t.Helper()
	nstest.RequireTool(t, "promtool")
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("promtool check metrics (%s): %v\n%s", what, err, out)
	}
}

// TestTeamdctlYAMLDynamic: a team started from teamd-go's own YAML
// (switch-independent + dynamic, which teamd has no runner for) is shown
// as teamd's loadbalance runner with teamd-go's balancer in its own keys;
// port changes by teamdctl; its /metrics pass promtool.
func TestTeamdctlYAMLDynamic(t *testing.T) {
	nstest.RequireTool(t, "teamdctl")
	tp := newTopo(t)
	const addr = "127.0.0.1:9469"
	d := tp.start(t, tp.config(`mode: switch-independent
balance: dynamic
members:
  - name: m1
  - name: m2
vnics:
  - name: vm1
  - name: `+tp.team+`
    tap: true
metrics: `+addr+`
`))
	pingOK(t, tp.vm, "10.77.0.2")

	view := d.mustTeamdctl("state", "view")
	t.Logf("teamdctl %s state view:\n%s", tp.team, view)
	contains(t, "state view", view, "setup:\n  runner: loadbalance\n", "\n  m1\n", "\n  m2\n", "name: ethtool")
	if strings.Contains(view, "runner:\n  ") && strings.Contains(view, "active port") {
		t.Errorf("loadbalance view has a runner section:\n%s", view)
	}
	contains(t, "state view -v", d.mustTeamdctl("state", "view", "-v"), "kernel team mode: loadbalance", "ethtool link: 10000mbit/fullduplex/up")
	for path, want := range map[string]string{
		"setup.runner_name":         "loadbalance",
		"teamd_go.mode":             "switch-independent",
		"teamd_go.balance":          "dynamic",
		"ports.m1.teamd_go.active":  "true",
		"ports.m2.teamd_go.active":  "true",
		"team_device.ifinfo.ifname": tp.team,
	} {
		if got := d.itemGet(path); got != want {
			t.Errorf("state item get %s = %q, want %q", path, got, want)
		}
	}
	if out, code := d.teamdctl("state", "item", "set", "runner.active_port", "m1"); code != 1 || !strings.Contains(out, "PathDoesNotExist") {
		t.Errorf("set runner.active_port on a loadbalance team: exit %d:\n%s", code, out)
	}
	cfg := d.mustTeamdctl("config", "dump")
	var c struct {
		Device  string                    `json:"device"`
		Runner  map[string]any            `json:"runner"`
		Ports   map[string]map[string]any `json:"ports"`
		TeamdGo map[string]any            `json:"teamd_go"`
	}
	if err := json.Unmarshal([]byte(cfg), &c); err != nil {
		t.Fatalf("config dump: %v\n%s", err, cfg)
	}
	if c.Device != tp.team || c.Runner["name"] != "loadbalance" || c.TeamdGo["balance"] != "dynamic" || len(c.Ports) != 2 {
		t.Errorf("config dump:\n%s", cfg)
	}
	d.mustTeamdctl("port", "present", "m2")
	if _, code := d.teamdctl("port", "present", "vm1"); code != 1 {
		t.Errorf("port present vm1 (a vnic): exit %d", code)
	}

	d.mustTeamdctl("port", "remove", "m2")
	if got := memberNames(d.state()); !cmp.Equal(got, []string{"m1"}) {
		t.Errorf("members after port remove m2: %v", got)
	}
	if tx, rx := pingStats(t, tp.vm, "-c", "10", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("with m1 only: %d pings, %d answered", tx, rx)
	}
	d.mustTeamdctl("port", "add", "m2")
	d.mustTeamdctl("port", "config", "update", "m1", `{"prio": 7}`)
	if c := d.dump(); !cmp.Equal(memberNames(d.state()), []string{"m1", "m2"}) || c.Members[0].Prio != 7 {
		t.Errorf("after port add m2 and prio 7 on m1: members %v, m1 prio %d", memberNames(d.state()), c.Members[0].Prio)
	}
	if tx, rx := pingStats(t, tp.vm, "-c", "10", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("after port add m2: %d pings, %d answered", tx, rx)
	}
	promtoolClean(t, "switch-independent dynamic", scrapeText(t, tp.host, addr))
}

// rawConn is a connection to a team's teamd socket from the test process.
func rawConn(t *testing.T, team string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: teamdctl.SocketPath(team), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rawCall(t *testing.T, c *net.UnixConn, pkt []byte) ([]byte, error) {
	t.Helper()
	if _, err := c.Write(pkt); err != nil {
		t.Fatalf("send: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<20)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no reply to %.30q: %v", pkt, err)
	}
	return teamdctl.ParseReply(buf[:n])
}

func errCode(err error) string {
	var e *teamdctl.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

// TestTeamdctlBadInput: garbage, requests without REQUEST, unknown
// methods, an oversize packet, many idle connections and a non-root
// client are answered with an error or refused; the team forwards
// throughout; a socket left by a killed daemon is replaced, SIGTERM
// removes it.
func TestTeamdctlBadInput(t *testing.T) {
	nstest.RequireTool(t, "teamdctl", "setpriv", "perl")
	tp := newTopo(t)
	cfg := tp.config(siHyperV + "  - name: " + tp.team + "\n    tap: true\n")
	d := tp.start(t, cfg)
	pingOK(t, tp.vm, "10.77.0.2")
	path := teamdctl.SocketPath(tp.team)
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("teamd socket %s: %v %v, want a socket with mode 0600", path, fi.Mode(), err)
	}

	c := rawConn(t, tp.team)
	for _, b := range []struct {
		name, pkt, code string
	}{
		{"garbage", "\x00\xffgarbage\x13\n", teamdctl.CodeInvalidArgs},
		{"no REQUEST", "StateDump\n", teamdctl.CodeInvalidArgs},
		{"unknown method", "REQUEST\nFrobnicate\n", teamdctl.CodeUnknownMethod},
		{"missing argument", "REQUEST\nStateItemValueGet\n", teamdctl.CodeInvalidArgs},
		{"bad escape", "REQUEST\nPortAdd\nm\\x1\n", teamdctl.CodeInvalidArgs},
		{"oversize", "REQUEST\nPortAdd\n" + strings.Repeat("m", 100<<10) + "\n", teamdctl.CodeTooMany},
	} {
		if _, err := rawCall(t, c, []byte(b.pkt)); errCode(err) != b.code {
			t.Errorf("%s: %v, want %s", b.name, err, b.code)
		}
	}
	if p, err := rawCall(t, c, teamdctl.AppendRequest(nil, "StateItemValueGet", "setup.runner_name")); err != nil || string(p) != "loadbalance" {
		t.Errorf("after bad packets, same connection: %q %v", p, err)
	}
	if got := memberNames(d.state()); !cmp.Equal(got, []string{"m1", "m2"}) {
		t.Errorf("members after bad packets: %v", got)
	}

	// Many idle connections: the first 16 are held, the rest refused with
	// an error; teamdctl is refused too while they are held, the team
	// forwards, and once they go teamdctl works again.
	// Connections are admitted in the order they connect; each one's
	// first packet tells which: a refused one got a TooMany reply before
	// our request, a held one answers it (which also restarts its idle
	// timer, so that none of them expires before teamdctl runs).
	var conns, held []*net.UnixConn
	for range 40 {
		conns = append(conns, rawConn(t, tp.team))
	}
	refused := 0
	for _, conn := range conns {
		// A refused connection is closed already: the write may fail,
		// the refusal is still there to read.
		_, _ = conn.Write(teamdctl.AppendRequest(nil, "StateItemValueGet", "setup.pid"))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("connection %d: no reply: %v", len(held)+refused, err)
		}
		_, err = teamdctl.ParseReply(buf[:n])
		switch {
		case err == nil:
			held = append(held, conn)
		case errCode(err) == teamdctl.CodeTooMany:
			refused++
		default:
			t.Errorf("idle connection: %v", err)
		}
	}
	t.Logf("40 more connections: %d held, %d refused", len(held), refused)
	if len(held) != 15 || refused != 25 { // c above is the 16th
		t.Errorf("%d held, %d refused; want 15 held (with the one open before, 16) and 25 refused", len(held), refused)
	}
	if out, code := d.teamdctl("state"); code != 1 || !strings.Contains(out, "TooMany") {
		t.Errorf("teamdctl while 16 connections are held: exit %d:\n%s", code, out)
	}
	if tx, rx := pingStats(t, tp.vm, "-c", "10", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("while the teamd socket is full: %d pings, %d answered", tx, rx)
	}
	for _, h := range held {
		h.Close()
	}
	c.Close()
	nstest.Eventually(t, 5*time.Second, func() error {
		if out, code := d.teamdctl("state"); code != 0 {
			return fmt.Errorf("teamdctl after the idle connections closed: exit %d: %s", code, out)
		}
		return nil
	})

	// Not root: the socket (0600, root) refuses the connection, and
	// teamdctl itself stops at its interface check.
	connect := `use Socket; socket(my $s, AF_UNIX, SOCK_SEQPACKET, 0) or die "socket: $!\n"; connect($s, pack_sockaddr_un($ARGV[0])) or die "connect: $!\n"; print "connected\n";`
	out, err := tp.host.Run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "perl", "-e", connect, path)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("non-root connect: %v:\n%s", err, out)
	}
	out, err = tp.host.Run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "teamdctl", tp.team, "state")
	if err == nil {
		t.Errorf("non-root teamdctl succeeded:\n%s", out)
	}
	t.Logf("non-root teamdctl: %v: %s", err, strings.TrimSpace(out))

	if tx, rx := pingStats(t, tp.vm, "-c", "10", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("after the bad input: %d pings, %d answered", tx, rx)
	}
	if d.proc.Exited() {
		t.Fatalf("daemon exited:\n%s", d.proc.Output())
	}

	// A daemon killed with SIGKILL leaves its socket; the next one
	// replaces it. SIGTERM removes it.
	_ = d.proc.Signal(syscall.SIGKILL)
	_ = d.proc.Wait(10 * time.Second)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("socket after SIGKILL: %v (expected the stale file)", err)
	}
	testbed.RemoveStaleSocket(tp.team) // the own control socket: the harness waits for it
	d2 := tp.start(t, cfg)
	pingOK(t, tp.vm, "10.77.0.2")
	if got := d2.itemGet("setup.pid"); got != strconv.Itoa(d2.proc.Pid()) {
		t.Errorf("setup.pid %s, want the new daemon's %d", got, d2.proc.Pid())
	}
	d2.stop()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after SIGTERM: %v, want it removed", err)
	}
}

// TestMetricsPromtool: `promtool check metrics` finds nothing in /metrics
// of a running team of each mode and balancer (LACP against a Linux
// bridge: no partner, so the defaulted state is what is exported).
func TestMetricsPromtool(t *testing.T) {
	nstest.RequireTool(t, "promtool")
	tp := newTopo(t)
	const addr = "127.0.0.1:9469"
	members := "members:\n  - name: m1\n  - name: m2\nvnics:\n  - name: vm1\n"
	for _, mode := range []string{
		"mode: switch-independent\nbalance: active-backup\n",
		"mode: switch-independent\nbalance: hyperv-port\n",
		"mode: switch-independent\nbalance: dynamic\n",
		"mode: static\nbalance: address-hash\n",
		"mode: static\nbalance: round-robin\n",
		"mode: lacp\nbalance: address-hash\nlacp:\n  rate: fast\n",
		"mode: switch-independent\nbalance: active-backup\nrx_translation:\n  enabled: true\n",
	} {
		name := strings.ReplaceAll(strings.TrimSpace(mode), "\n", " ")
		d := tp.start(t, tp.config(mode+members+"metrics: "+addr+"\n"))
		if _, err := tp.vm.Run("ping", "-c", "3", "-i", "0.05", "-W", "1", "10.77.0.2"); err != nil && !strings.Contains(mode, "lacp") {
			t.Errorf("%s: ping: %v", name, err)
		}
		body := scrapeText(t, tp.host, addr)
		if !strings.Contains(body, "teamd_go_member_tx_packets_total") {
			t.Errorf("%s: /metrics without member counters:\n%s", name, body)
		}
		promtoolClean(t, name, body)
		d.stop()
	}
}

// TestTeamdctlARPPing: teamdctl's view of an arp_ping team, every one of
// teamd's arp_ping keys present with the right type (the view stops at
// the first that is not), and a member cut off from the target shown as
// down with its missed count, although it has carrier.
func TestTeamdctlARPPing(t *testing.T) {
	nstest.RequireTool(t, "teamdctl")
	tp := newTopo(t)
	d := tp.start(t, tp.config(`mode: switch-independent
balance: active-backup
members:
  - name: m1
    primary: true
  - name: m2
vnics:
  - name: vm1
  - name: `+tp.team+`
    tap: true
link_watch:
  name: arp_ping
  interval: 100ms
  missed_max: 3
  source_host: 10.77.0.99
  target_host: 10.77.0.2
`))
	pingOK(t, tp.vm, "10.77.0.2")
	nstest.Eventually(t, 5*time.Second, func() error {
		if got := d.itemGet("ports.m1.link_watches.up"); got != "true" {
			return fmt.Errorf("m1's link watch up %s", got)
		}
		return nil
	})
	view := d.mustTeamdctl("state", "view", "-v")
	contains(t, "state view -v", view, "name: arp_ping", "source host: 10.77.0.99", "target host: 10.77.0.2",
		"interval: 100", "missed packets: 0/3", "validate_inactive: no", "validate_active: no", "send_always: yes",
		"runner:\n  active port: m1\n")

	tp.sw.MustRun(t, "ip", "link", "set", "p1", "nomaster")
	nstest.Eventually(t, 5*time.Second, func() error {
		if got := d.itemGet("runner.active_port"); got != "m2" {
			return fmt.Errorf("active port %s, want m2 once m1 is cut off", got)
		}
		return nil
	})
	for path, want := range map[string]string{
		"ports.m1.link.up":                                   "true", // carrier
		"ports.m1.link_watches.up":                           "false",
		"ports.m1.link_watches.list.link_watch_0.up":         "false",
		"ports.m1.link_watches.list.link_watch_0.name":       "arp_ping",
		"ports.m1.link_watches.list.link_watch_0.down_count": "1",
	} {
		if got := d.itemGet(path); got != want {
			t.Errorf("state item get %s = %q, want %q", path, got, want)
		}
	}
	if n, err := strconv.Atoi(d.itemGet("ports.m1.link_watches.list.link_watch_0.missed")); err != nil || n < 3 {
		t.Errorf("m1's missed count %d (%v), want at least missed_max", n, err)
	}
	t.Logf("teamdctl state view with m1 cut off:\n%s", d.mustTeamdctl("state", "view"))
}
