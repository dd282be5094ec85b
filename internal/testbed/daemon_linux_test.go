//go:build linux

package testbed_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

// buildTeamd builds cmd/teamd-go into dir.
func buildTeamd(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(dir, "teamd-go")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/teamd-go/teamd-go/cmd/teamd-go").CombinedOutput(); err != nil {
		t.Fatalf("build teamd-go: %v\n%s", err, out)
	}
	return bin
}

// TestDaemonOnSwitch builds a team whose members plug into a private
// Open vSwitch, from data, and checks the daemon handle: the generated
// config carries the spec's backend, `ctl state` comes back typed with
// the team's members, a reload applies, and a daemon spec naming the xdp
// backend either runs with it or fails to start saying why.
func TestDaemonOnSwitch(t *testing.T) {
	nstest.Require(t)
	if err := ovstest.Available(); err != nil {
		nstest.Unavailable(t, "%v", err)
	}
	ctx := context.Background()
	b := newBed(t, testbed.Owned)
	b.Daemon = buildTeamd(t, t.TempDir())
	team := fmt.Sprintf("tb%d", os.Getpid()%100000) // an interface name: 15 bytes at most
	body := "mode: switch-independent\nbalance: hyperv-port\nmembers:\n  - name: m1\n    primary: true\n  - name: m2\nvnics:\n  - name: vm1\n"
	n, err := testbed.Build(ctx, b, testbed.Topology{
		Namespaces: testbed.Roles("host", "sw", "vm"),
		Links: []testbed.Link{
			testbed.Pair("host", "m1", "sw", "p1"),
			testbed.Pair("host", "m2", "sw", "p2"),
			testbed.Pair("vm", "eth0", "host", "vm1"),
		},
		Switches: []testbed.SwitchSpec{{NS: "sw", Options: []testbed.OVSOption{testbed.UserspaceTSO()},
			Bridges: []testbed.OVSBridge{{Name: "br0", Ports: []string{"p1", "p2"}}}}},
		Daemons: []testbed.DaemonAt{{Name: "team", NS: "host",
			Spec: testbed.DaemonSpec{Team: team, Backend: testbed.AFPacket, Check: true, Config: body}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ports, err := n.Switch("sw").Vsctl("list-ports", "br0"); err != nil || strings.Fields(ports)[0] != "p1" || strings.Fields(ports)[1] != "p2" {
		t.Errorf("br0 ports %q, %v; want p1 p2", ports, err)
	}
	d := n.Daemon("team")
	cfg, err := os.ReadFile(d.ConfigPath)
	if err != nil || !strings.HasPrefix(string(cfg), "team: "+team+"\nbackend: af_packet\n") {
		t.Errorf("config %s:\n%s\n%v; want it to start with the team and backend lines", d.ConfigPath, cfg, err)
	}
	st, err := d.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Team != team || st.Backend != "af_packet" || len(st.Members) != 2 || st.Members[0].Name != "m1" || len(st.VNICs) != 1 {
		t.Errorf("state %+v: want team %s, backend af_packet, members m1 m2, vnic vm1", st, team)
	}
	if err := d.Reload(ctx, strings.Replace(body, "hyperv-port", "address-hash", 1)); err != nil {
		t.Fatal(err)
	}
	if st, err := d.State(ctx); err != nil || st.Balance != "address-hash" {
		t.Errorf("after reload: balance %q, %v; want address-hash", st.Balance, err)
	}
	d.Stop()
	if !d.Proc.Exited() {
		t.Error("daemon still runs after Stop")
	}

	x, err := b.StartDaemon(ctx, n.NS("host"), testbed.DaemonSpec{Team: team + "x", Backend: testbed.XDP, Config: body})
	switch {
	case err == nil:
		if st, err := x.State(ctx); err != nil || st.Backend != "xdp" {
			t.Errorf("xdp daemon: backend %q, %v", st.Backend, err)
		}
	case !errors.Is(err, testbed.ErrDaemonStart) || !strings.Contains(err.Error(), "xdp"):
		t.Errorf("xdp daemon: %v; want it to run or ErrDaemonStart naming xdp", err)
	}
}
