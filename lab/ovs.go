package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// OVS is a private Open vSwitch (ovsdb-server and ovs-vswitchd, userspace
// datapath) running in a namespace, with its database, sockets, pid
// files and logs in its own directory.
//
// It is started here rather than with test/ovstest.StartProcess because
// the lab needs the switch to outlive the lab process under --keep:
// ovstest's daemons are children that die with their parent (Pdeathsig),
// these are detached (--detach) and found again by `lab down` through
// their namespace. The setup itself follows ovstest: a fresh conf.db, the
// OVS_* directories pointing at the private directory, bridges with
// datapath_type=netdev (no kernel module is needed).
//
// Userspace TSO is on (other_config:userspace-tso-enable=true, written
// before ovs-vswitchd starts, since it reads it only then): Open vSwitch
// 3.1 then opens its AF_PACKET ports with a virtio-net header and takes
// and forwards GSO super-frames and partial checksums, as teamd-go and
// the load balancer emulator do. So no box of a lab turns its offloads
// off: the veths keep the kernel's defaults, as real NICs would.
type OVS struct {
	NS  *NS
	Dir string
}

// ovsSchema is the OVSDB schema a fresh conf.db is created from.
const ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"

var ovsPrograms = []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"}

// StartOVS starts Open vSwitch in ns with its files under Dir/ovs. The
// daemons are stopped by Close with the namespace.
func (e *Env) StartOVS(ctx context.Context, ns *NS) (*OVS, error) {
	o := &OVS{NS: ns, Dir: filepath.Join(e.Dir, "ovs")}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	db := filepath.Join(o.Dir, "conf.db")
	if _, err := o.run(ctx, exec.CommandContext(ctx, "ovsdb-tool", "create", db, ovsSchema)); err != nil {
		return nil, err
	}
	if _, err := o.run(ctx, ns.Command(ctx, "ovsdb-server", db,
		"--remote=punix:"+o.path("db.sock"),
		"--pidfile="+o.path("ovsdb-server.pid"),
		"--log-file="+o.path("ovsdb-server.log"),
		"--unixctl="+o.path("ovsdb-server.ctl"),
		"--detach", "--no-chdir", "-vconsole:off")); err != nil {
		return nil, err
	}
	if _, err := o.Vsctl(ctx, "--no-wait", "init"); err != nil {
		return nil, err
	}
	if _, err := o.Vsctl(ctx, "--no-wait", "set", "Open_vSwitch", ".", "other_config:userspace-tso-enable=true"); err != nil {
		return nil, err
	}
	if _, err := o.run(ctx, ns.Command(ctx, "ovs-vswitchd", "unix:"+o.path("db.sock"),
		"--pidfile="+o.path("ovs-vswitchd.pid"),
		"--log-file="+o.path("ovs-vswitchd.log"),
		"--unixctl="+o.path("ovs-vswitchd.ctl"),
		"--detach", "--no-chdir", "-vconsole:off")); err != nil {
		return nil, fmt.Errorf("%w; log: %s", err, tail(o.path("ovs-vswitchd.log"), 5))
	}
	return o, nil
}

func (o *OVS) path(name string) string { return filepath.Join(o.Dir, name) }

// run runs an OVS program with the environment pointing at o.Dir. Output
// goes to a file, not a pipe: a daemon that detaches keeps its parent's
// descriptors for a while, and a pipe would make Wait block on it.
func (o *OVS) run(ctx context.Context, cmd *exec.Cmd) (string, error) {
	cmd.Env = append(os.Environ(), "OVS_RUNDIR="+o.Dir, "OVS_DBDIR="+o.Dir, "OVS_LOGDIR="+o.Dir, "OVS_SYSCONFDIR="+o.Dir)
	f, err := os.CreateTemp(o.Dir, "cmd-*.out")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// Vsctl runs ovs-vsctl against this switch; without --no-wait it returns
// once ovs-vswitchd applied the change.
func (o *OVS) Vsctl(ctx context.Context, args ...string) (string, error) {
	return o.run(ctx, exec.CommandContext(ctx, "ovs-vsctl",
		append([]string{"--db=unix:" + o.path("db.sock"), "--timeout=30"}, args...)...))
}

// Appctl runs ovs-appctl against ovs-vswitchd.
func (o *OVS) Appctl(ctx context.Context, args ...string) (string, error) {
	return o.run(ctx, exec.CommandContext(ctx, "ovs-appctl",
		append([]string{"-t", o.path("ovs-vswitchd.ctl"), "--timeout=30"}, args...)...))
}

// AddBridge creates a userspace-datapath bridge doing L2 learning.
func (o *OVS) AddBridge(ctx context.Context, br string) error {
	_, err := o.Vsctl(ctx, "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
	return err
}

// AddPort attaches an interface of the namespace to br.
func (o *OVS) AddPort(ctx context.Context, br, port string) error {
	_, err := o.Vsctl(ctx, "add-port", br, port)
	return err
}

// AddBond adds a bond over members; opts are Port column settings as
// ovs-vsctl takes them ("lacp=active", "other_config:lacp-time=fast").
func (o *OVS) AddBond(ctx context.Context, br, bond string, members []string, opts ...string) error {
	args := append([]string{"add-bond", br, bond}, members...)
	_, err := o.Vsctl(ctx, append(args, opts...)...)
	return err
}

// LogTail returns the last n lines of ovs-vswitchd's log.
func (o *OVS) LogTail(n int) string { return tail(o.path("ovs-vswitchd.log"), n) }
