// Package ovstest runs a private Open vSwitch inside a network namespace,
// for tests, the lab and the benchmarks: the physical switch a team's
// members plug into.
//
// Each Switch has its own run directory holding a fresh conf.db, the
// ovsdb-server socket (db.sock), both daemons' control sockets, pid files
// and logs, and every OVS command it runs gets OVS_RUNDIR, OVS_DBDIR and
// OVS_LOGDIR pointing there, so several switches (and a system OVS) coexist.
// No systemd, no /var/run/openvswitch. The daemons are children of the
// calling process, started with `ip netns exec`, so their netdev datapath
// (ports opened with AF_PACKET, the ovs-netdev tap, bridge internal ports)
// lives in the namespace.
//
// There is no openvswitch kernel module on the test machines: bridges are
// always created with datapath_type=netdev (the userspace datapath).
//
// # Offloads
//
// The userspace datapath reads its ports with AF_PACKET. Unless userspace
// TSO is on (below), it takes frames as plain buffers: it cannot forward
// GSO super-frames, and frames whose checksum is left to the NIC
// (CHECKSUM_PARTIAL, what a veth sends by default) leave it with that
// checksum unfilled. ARP and ICMP pass, but TCP does not even connect: the
// SYN arrives with a bad checksum (TcpInCsumErrors on the receiver), and
// the SYN-ACK the same way back. So turn offloads off on every interface
// whose traffic OVS receives, i.e. the hosts' veth ends that send into
// OVS, on both sides of a conversation:
//
//	ethtool -K dev tx off tso off gso off gro off
//
// (nstest.NS.OffloadsOff does this). The OVS-side veth ends can keep theirs.
//
// With other_config:userspace-tso-enable=true (the UserspaceTSO option),
// OVS 3.1 opens its AF_PACKET ports with a virtio-net header and does take
// GSO and checksum-partial frames: TCP and UDP pass between hosts with
// default offloads. The setting only affects ports added after it is
// seen, and cannot be turned off without restarting ovs-vswitchd, which is
// why it is a start option here (set before ovs-vswitchd starts).
//
// teamd-go's tests and labs always use UserspaceTSO, so that no interface
// of the team (and no host) ever needs its offloads turned off; only the
// bench's plain "ovs-netdev" row measures OVS the other way.
package ovstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Schema is the OVSDB schema a fresh conf.db is created from.
var Schema = "/usr/share/openvswitch/vswitch.ovsschema"

// Programs are the Open vSwitch programs a Switch needs.
var Programs = []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"}

// ErrUnavailable is returned (wrapped) when Open vSwitch is not installed.
var ErrUnavailable = errors.New("open vswitch unavailable")

// startTimeout bounds how long a daemon may take to answer after start.
const startTimeout = 15 * time.Second

// Available reports whether the Open vSwitch programs and schema are
// installed; the error wraps ErrUnavailable and names what is missing.
func Available() error {
	for _, p := range Programs {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%w: %s not on PATH", ErrUnavailable, p)
		}
	}
	if _, err := os.Stat(Schema); err != nil {
		return fmt.Errorf("%w: schema: %v", ErrUnavailable, err)
	}
	return nil
}

// Option changes how a Switch starts.
type Option func(*options)

type options struct {
	otherConfig [][2]string
	cpus        string
}

// OtherConfig sets Open_vSwitch other_config:KEY=VALUE before
// ovs-vswitchd starts.
func OtherConfig(key, value string) Option {
	return func(o *options) { o.otherConfig = append(o.otherConfig, [2]string{key, value}) }
}

// UserspaceTSO makes the userspace datapath accept GSO and
// checksum-partial frames from its ports (other_config:userspace-tso-enable).
func UserspaceTSO() Option { return OtherConfig("userspace-tso-enable", "true") }

// CPUs pins ovs-vswitchd to a CPU list in taskset(1) syntax, e.g. "1".
func CPUs(list string) Option { return func(o *options) { o.cpus = list } }

// Switch is a running ovsdb-server and ovs-vswitchd pair.
type Switch struct {
	// NS is the network namespace the datapath lives in.
	NS string
	// Dir is the run directory: conf.db, sockets, pid files, logs.
	Dir string

	ownDir  bool
	db      *exec.Cmd
	vswitch *exec.Cmd
	dbDone  chan struct{}
	vsDone  chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// DBSocket is the ovsdb-server socket path.
func (s *Switch) DBSocket() string { return filepath.Join(s.Dir, "db.sock") }

// VswitchdCtl is ovs-vswitchd's unixctl socket, the target of Appctl.
func (s *Switch) VswitchdCtl() string { return filepath.Join(s.Dir, "ovs-vswitchd.ctl") }

// DBCtl is ovsdb-server's unixctl socket.
func (s *Switch) DBCtl() string { return filepath.Join(s.Dir, "ovsdb-server.ctl") }

// LogPath is ovs-vswitchd's log file.
func (s *Switch) LogPath() string { return filepath.Join(s.Dir, "ovs-vswitchd.log") }

// Pid is ovs-vswitchd's process id (0 once stopped).
func (s *Switch) Pid() int {
	if s.vswitch == nil || s.vswitch.Process == nil {
		return 0
	}
	return s.vswitch.Process.Pid
}

// StartProcess starts Open vSwitch in the named namespace with rundir as
// its run directory, created if needed; a conf.db already there is
// replaced by a fresh one. An empty rundir makes a temporary directory
// that Stop removes. The daemons are children of this process: call Stop.
func StartProcess(nsName, rundir string, opts ...Option) (*Switch, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Switch{NS: nsName, Dir: rundir}
	if rundir == "" {
		// Short on purpose: unix socket paths are limited to 108 bytes.
		d, err := os.MkdirTemp("", "tgb-ovs-")
		if err != nil {
			return nil, fmt.Errorf("ovs run directory: %w", err)
		}
		s.Dir, s.ownDir = d, true
	} else if err := os.MkdirAll(rundir, 0o755); err != nil {
		return nil, fmt.Errorf("ovs run directory: %w", err)
	}
	if err := s.start(&o); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Switch) start(o *options) error {
	db := filepath.Join(s.Dir, "conf.db")
	for _, f := range []string{"conf.db", ".conf.db.~lock~", "db.sock", "ovsdb-server.ctl", "ovs-vswitchd.ctl"} {
		_ = os.Remove(filepath.Join(s.Dir, f))
	}
	if out, err := s.command("ovsdb-tool", "create", db, Schema).CombinedOutput(); err != nil {
		return fmt.Errorf("ovsdb-tool create: %w: %s", err, bytes.TrimSpace(out))
	}

	var err error
	s.db, s.dbDone, err = s.daemon("ovsdb-server", db,
		"--remote=punix:"+s.DBSocket(),
		"--pidfile="+filepath.Join(s.Dir, "ovsdb-server.pid"),
		"--log-file="+filepath.Join(s.Dir, "ovsdb-server.log"),
		"--unixctl="+s.DBCtl(),
		"--no-chdir", "-vconsole:off")
	if err != nil {
		return err
	}
	if err := s.waitReady("ovsdb-server", s.dbDone, func() error {
		_, err := s.vsctl("--no-wait", "init")
		return err
	}); err != nil {
		return err
	}
	for _, kv := range o.otherConfig {
		if _, err := s.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:"+kv[0]+"="+kv[1]); err != nil {
			return err
		}
	}

	args := []string{"unix:" + s.DBSocket(),
		"--pidfile=" + filepath.Join(s.Dir, "ovs-vswitchd.pid"),
		"--log-file=" + s.LogPath(),
		"--unixctl=" + s.VswitchdCtl(),
		"--no-chdir", "-vconsole:off"}
	name := "ovs-vswitchd"
	if o.cpus != "" {
		args = append([]string{"-c", o.cpus, name}, args...)
		name = "taskset"
	}
	s.vswitch, s.vsDone, err = s.daemon(name, args...)
	if err != nil {
		return err
	}
	return s.waitReady("ovs-vswitchd", s.vsDone, func() error {
		_, err := s.Appctl("version")
		return err
	})
}

// daemon starts a long-lived program in the namespace, as a child.
func (s *Switch) daemon(name string, args ...string) (*exec.Cmd, chan struct{}, error) {
	cmd := s.command("ip", append([]string{"netns", "exec", s.NS, name}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s in %s: %w", name, s.NS, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return cmd, done, nil
}

// waitReady polls ready until it succeeds, the daemon exits or the
// start timeout passes.
func (s *Switch) waitReady(name string, done chan struct{}, ready func() error) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at start: %w; log: %s", name, err, s.logTail(name, 5))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w; log: %s", name, startTimeout, err, s.logTail(name, 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// command is an OVS program with the environment pointing at s.Dir.
func (s *Switch) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(),
		"OVS_RUNDIR="+s.Dir, "OVS_DBDIR="+s.Dir, "OVS_LOGDIR="+s.Dir, "OVS_SYSCONFDIR="+s.Dir)
	return cmd
}

func (s *Switch) run(name string, args ...string) (string, error) {
	out, err := s.command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

func (s *Switch) vsctl(args ...string) (string, error) {
	return s.run("ovs-vsctl", append([]string{"--db=unix:" + s.DBSocket(), "--timeout=30"}, args...)...)
}

// Vsctl runs ovs-vsctl against this switch's database and returns its
// output. It waits until ovs-vswitchd has applied the change.
func (s *Switch) Vsctl(args ...string) (string, error) { return s.vsctl(args...) }

// Appctl runs ovs-appctl against ovs-vswitchd.
func (s *Switch) Appctl(args ...string) (string, error) {
	return s.run("ovs-appctl", append([]string{"-t", s.VswitchdCtl(), "--timeout=30"}, args...)...)
}

// AddBridge creates a userspace-datapath bridge (datapath_type=netdev)
// doing normal L2 learning.
func (s *Switch) AddBridge(name string) error {
	_, err := s.Vsctl("add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev")
	return err
}

// AddPort attaches an existing interface of the namespace to br.
func (s *Switch) AddPort(br, port string) error {
	_, err := s.Vsctl("add-port", br, port)
	return err
}

// AddBond adds a bond port over members; opts are Port column settings
// as ovs-vsctl takes them, e.g. "lacp=active", "bond_mode=balance-tcp",
// "other_config:lacp-time=fast".
func (s *Switch) AddBond(br, name string, members []string, opts ...string) error {
	args := append([]string{"add-bond", br, name}, members...)
	_, err := s.Vsctl(append(args, opts...)...)
	return err
}

// LACPShow returns `ovs-appctl lacp/show BOND`.
func (s *Switch) LACPShow(bond string) (string, error) { return s.Appctl("lacp/show", bond) }

// BondShow returns `ovs-appctl bond/show BOND`.
func (s *Switch) BondShow(bond string) (string, error) { return s.Appctl("bond/show", bond) }

// LogTail returns up to the last n lines of ovs-vswitchd's log.
func (s *Switch) LogTail(n int) string { return s.logTail("ovs-vswitchd", n) }

// logTail returns up to the last n lines of a daemon's log.
func (s *Switch) logTail(daemon string, n int) string {
	b, err := os.ReadFile(filepath.Join(s.Dir, daemon+".log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop asks both daemons to exit (ovs-vswitchd with --cleanup, removing
// its datapath devices), kills them if they do not, and removes the run
// directory if StartProcess made it. It may be called more than once.
func (s *Switch) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.vswitch != nil {
			errs = append(errs, stop(s.vswitch, s.vsDone, func() error {
				_, err := s.Appctl("exit", "--cleanup")
				return err
			}))
		}
		if s.db != nil {
			errs = append(errs, stop(s.db, s.dbDone, func() error {
				_, err := s.run("ovs-appctl", "-t", s.DBCtl(), "--timeout=10", "exit")
				return err
			}))
		}
		if s.ownDir {
			errs = append(errs, os.RemoveAll(s.Dir))
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// stop asks a daemon to exit, then terminates and finally kills it.
func stop(cmd *exec.Cmd, done chan struct{}, ask func() error) error {
	select {
	case <-done:
		return nil
	default:
	}
	askErr := ask()
	for _, step := range []func(){
		func() {},
		func() { _ = cmd.Process.Signal(os.Interrupt) },
		func() { _ = cmd.Process.Kill() },
	} {
		step()
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	return fmt.Errorf("stop %v: still running (exit request: %v)", cmd.Args, askErr)
}
