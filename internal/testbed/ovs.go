package testbed

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Schema is the OVSDB schema a fresh conf.db is created from.
var Schema = "/usr/share/openvswitch/vswitch.ovsschema"

// OVSPrograms are the Open vSwitch programs a Switch needs.
var OVSPrograms = []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl"}

// ErrOVSUnavailable is returned (wrapped) when Open vSwitch is not
// installed.
var ErrOVSUnavailable = errors.New("open vswitch unavailable")

// ovsStartTimeout bounds how long a daemon may take to answer after start.
const ovsStartTimeout = 15 * time.Second

// OVSAvailable reports whether the Open vSwitch programs and schema are
// installed; the error wraps ErrOVSUnavailable and names what is missing.
func OVSAvailable() error {
	for _, p := range OVSPrograms {
		if _, err := exec.LookPath(p); err != nil {
			return fmt.Errorf("%w: %s not on PATH", ErrOVSUnavailable, p)
		}
	}
	if _, err := os.Stat(Schema); err != nil {
		return fmt.Errorf("%w: schema: %v", ErrOVSUnavailable, err)
	}
	return nil
}

// OVSOption changes how a Switch starts.
type OVSOption func(*ovsOptions)

type ovsOptions struct {
	otherConfig [][2]string
	cpus        string
	life        Lifetime
}

// OtherConfig sets Open_vSwitch other_config:KEY=VALUE before
// ovs-vswitchd starts.
func OtherConfig(key, value string) OVSOption {
	return func(o *ovsOptions) { o.otherConfig = append(o.otherConfig, [2]string{key, value}) }
}

// UserspaceTSO makes the userspace datapath accept GSO and
// checksum-partial frames from its ports (other_config:userspace-tso-enable).
func UserspaceTSO() OVSOption { return OtherConfig("userspace-tso-enable", "true") }

// CPUs pins ovs-vswitchd to a CPU list in taskset(1) syntax, e.g. "1".
func CPUs(list string) OVSOption { return func(o *ovsOptions) { o.cpus = list } }

// Lasting starts the daemons with the given Lifetime instead of Owned
// (Detached: the switch outlives the caller; the logs are in its Dir).
func Lasting(l Lifetime) OVSOption { return func(o *ovsOptions) { o.life = l } }

// Switch is a private Open vSwitch, a running ovsdb-server and
// ovs-vswitchd pair in a namespace. Its run directory holds a fresh
// conf.db, the ovsdb-server socket (db.sock), both daemons' control
// sockets, pid files and logs, and every OVS command it runs gets
// OVS_RUNDIR, OVS_DBDIR and OVS_LOGDIR pointing there, so several
// switches (and a system OVS) coexist: no systemd, no /var/run/openvswitch.
// The daemons run with `ip netns exec`, so their netdev datapath (ports
// opened with AF_PACKET, the ovs-netdev tap, bridge internal ports) lives
// in the namespace. There is no openvswitch kernel module on the test
// machines: bridges are always datapath_type=netdev (userspace).
type Switch struct {
	// NS is the network namespace the datapath lives in.
	NS string
	// Dir is the run directory: conf.db, sockets, pid files, logs.
	Dir string

	ownDir      bool
	db, vswitch *Proc

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

// Pid is ovs-vswitchd's process id (0 if it did not start).
func (s *Switch) Pid() int {
	if s.vswitch == nil {
		return 0
	}
	return s.vswitch.Pid()
}

// StartSwitch starts Open vSwitch in the named namespace with rundir as
// its run directory, created if needed; a conf.db already there is
// replaced by a fresh one. An empty rundir makes a temporary directory
// that Stop removes. Call Stop.
func StartSwitch(nsName, rundir string, opts ...OVSOption) (*Switch, error) {
	if err := OVSAvailable(); err != nil {
		return nil, err
	}
	o := ovsOptions{life: Owned}
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

func (s *Switch) start(o *ovsOptions) error {
	db := filepath.Join(s.Dir, "conf.db")
	for _, f := range []string{"conf.db", ".conf.db.~lock~", "db.sock", "ovsdb-server.ctl", "ovs-vswitchd.ctl"} {
		_ = os.Remove(filepath.Join(s.Dir, f))
	}
	if out, err := s.command("ovsdb-tool", "create", db, Schema).CombinedOutput(); err != nil {
		return fmt.Errorf("ovsdb-tool create: %w: %s", err, bytes.TrimSpace(out))
	}

	var err error
	s.db, err = s.daemon(o.life, "ovsdb-server", db,
		"--remote=punix:"+s.DBSocket(),
		"--pidfile="+filepath.Join(s.Dir, "ovsdb-server.pid"),
		"--log-file="+filepath.Join(s.Dir, "ovsdb-server.log"),
		"--unixctl="+s.DBCtl(),
		"--no-chdir", "-vconsole:off")
	if err != nil {
		return err
	}
	if err := s.waitReady("ovsdb-server", s.db, func() error {
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
	if s.vswitch, err = s.daemon(o.life, name, args...); err != nil {
		return err
	}
	return s.waitReady("ovs-vswitchd", s.vswitch, func() error {
		_, err := s.Appctl("version")
		return err
	})
}

// daemon starts a long-lived OVS program in the namespace; its console
// output goes to DIR/NAME.out (the daemons log to their --log-file).
func (s *Switch) daemon(life Lifetime, name string, args ...string) (*Proc, error) {
	p, err := StartProc(&NS{Name: s.NS}, ProcOptions{Lifetime: life, LogPath: filepath.Join(s.Dir, name+".out"), Env: s.env()}, name, args...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// waitReady polls ready until it succeeds, the daemon exits or the
// start timeout passes.
func (s *Switch) waitReady(name string, p *Proc, ready func() error) error {
	deadline := time.Now().Add(ovsStartTimeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited at start: %w; log: %s", name, err, s.logTail(name, 5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w; log: %s", name, ovsStartTimeout, err, s.logTail(name, 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Switch) env() []string {
	return []string{"OVS_RUNDIR=" + s.Dir, "OVS_DBDIR=" + s.Dir, "OVS_LOGDIR=" + s.Dir, "OVS_SYSCONFDIR=" + s.Dir}
}

// command is an OVS program with the environment pointing at s.Dir.
func (s *Switch) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), s.env()...)
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
// output. Without --no-wait it returns once ovs-vswitchd applied the
// change.
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

// Version is the Open vSwitch version, as ovs-vsctl reports it.
func (s *Switch) Version() string {
	v, _ := s.Vsctl("--version")
	v, _, _ = strings.Cut(v, "\n")
	return strings.TrimPrefix(v, "ovs-vsctl (Open vSwitch) ")
}

// LogTail returns up to the last n lines of ovs-vswitchd's log.
func (s *Switch) LogTail(n int) string { return s.logTail("ovs-vswitchd", n) }

func (s *Switch) logTail(daemon string, n int) string {
	return FileTail(filepath.Join(s.Dir, daemon+".log"), n)
}

// Stop asks both daemons to exit (ovs-vswitchd with --cleanup, removing
// its datapath devices), then interrupts and finally kills them if they
// do not, and removes the run directory if StartSwitch made it. It may be
// called more than once.
func (s *Switch) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.vswitch != nil {
			errs = append(errs, stopDaemon(s.vswitch, func() error {
				_, err := s.Appctl("exit", "--cleanup")
				return err
			}))
		}
		if s.db != nil {
			errs = append(errs, stopDaemon(s.db, func() error {
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

// stopDaemon asks a daemon to exit, then interrupts and finally kills it.
func stopDaemon(p *Proc, ask func() error) error {
	if p.Exited() {
		return nil
	}
	askErr := ask()
	if p.Wait(5*time.Second) == nil {
		return nil
	}
	p.Stop(syscall.SIGINT, 5*time.Second)
	if p.Exited() {
		return nil
	}
	return fmt.Errorf("stop %v: still running (exit request: %v)", p.cmd.Args, askErr)
}
