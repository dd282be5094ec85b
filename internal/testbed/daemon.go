package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/control"
)

// Backends a DaemonSpec may name.
const (
	AFPacket = "af_packet"
	XDP      = "xdp"
)

// ErrDaemonStart is returned (wrapped) when a daemon rejects its config
// or does not come up.
var ErrDaemonStart = errors.New("teamd-go did not start")

// DaemonSpec is a teamd-go daemon to run in a namespace.
type DaemonSpec struct {
	// Team is the team's name: "team: Team" heads the generated config,
	// and `teamd-go ctl -t Team` reaches it.
	Team string
	// Config is the rest of the YAML config (mode, members, vnics, ...).
	Config string
	// Backend, when set, is written as "backend: Backend" (af_packet or
	// xdp); empty leaves the daemon's default.
	Backend string
	// Verbatim: Config is the whole file, written as it is (Team and
	// Backend are not added; Team must still name the team).
	Verbatim bool
	// ConfigPath is where the config is written.
	ConfigPath string
	// CPUs pins the daemon with taskset -c (empty: not pinned).
	CPUs string
	// Check runs `teamd-go -c FILE --check` in the namespace first (it
	// looks the interfaces up), so that a config the daemon rejects fails
	// here with the daemon's message.
	Check bool
	// Proc says how the process runs; LogPath empty keeps its output in
	// memory.
	Proc ProcOptions
}

// Daemon is a running teamd-go, used through its command line only
// (`teamd-go -c FILE`, `teamd-go ctl -t TEAM ...`), as a user would.
type Daemon struct {
	Team string
	// Bin is the teamd-go binary; ConfigPath its config file.
	Bin, ConfigPath string
	NS              *NS
	Proc            *Proc
	spec            DaemonSpec
}

// startTimeout bounds how long a daemon may take to answer `ctl state`.
const startTimeout = 15 * time.Second

// StartDaemon writes the config, checks it if asked, runs bin in ns and
// waits until `ctl state` answers. Call Stop (a Bed does).
func StartDaemon(ctx context.Context, ns *NS, bin string, spec DaemonSpec) (*Daemon, error) {
	if spec.Team == "" || spec.ConfigPath == "" {
		return nil, errors.New("daemon spec needs a team name and a config path")
	}
	if spec.Backend != "" && spec.Backend != AFPacket && spec.Backend != XDP {
		return nil, fmt.Errorf("daemon %s: backend %q: want %s or %s", spec.Team, spec.Backend, AFPacket, XDP)
	}
	d := &Daemon{Team: spec.Team, Bin: bin, ConfigPath: spec.ConfigPath, NS: ns, spec: spec}
	if err := d.write(ctx, spec.Config); err != nil {
		return nil, err
	}
	name, args := bin, []string{"-c", spec.ConfigPath}
	if spec.CPUs != "" {
		name, args = "taskset", append([]string{"-c", spec.CPUs, bin}, args...)
	}
	p, err := StartProc(ns, spec.Proc, name, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDaemonStart, err)
	}
	d.Proc = p
	if err := WaitFor(ctx, startTimeout, func() error {
		if p.Exited() {
			return GiveUp(fmt.Errorf("exited (%v): %s", p.Err(), p.LastLine()))
		}
		_, err := d.State(ctx)
		return err
	}); err != nil {
		d.Stop()
		if p.Exited() {
			return d, fmt.Errorf("%w (%s): %w", ErrDaemonStart, spec.Team, err)
		}
		return d, fmt.Errorf("%w (%s): %w; log:\n%s", ErrDaemonStart, spec.Team, err, p.LogTail(10))
	}
	return d, nil
}

// Text is the config file a spec generates from body.
func (s DaemonSpec) Text(body string) string {
	if s.Verbatim {
		return body
	}
	head := "team: " + s.Team + "\n"
	if s.Backend != "" {
		head += "backend: " + s.Backend + "\n"
	}
	return head + body
}

// write writes the config generated from body and checks it if the spec
// asks for that.
func (d *Daemon) write(ctx context.Context, body string) error {
	if err := os.WriteFile(d.ConfigPath, []byte(d.spec.Text(body)), 0o644); err != nil {
		return err
	}
	if !d.spec.Check {
		return nil
	}
	if out, err := d.NS.Command(ctx, d.Bin, "-c", d.ConfigPath, "--check").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: it rejects the config %s: %s", ErrDaemonStart, d.ConfigPath, strings.TrimSpace(string(out)))
	}
	return nil
}

// Ctl runs `teamd-go ctl -t TEAM ARGS...` in the daemon's namespace and
// returns its combined output; the error wraps the *exec.ExitError.
func (d *Daemon) Ctl(ctx context.Context, args ...string) (string, error) {
	out, err := d.NS.Command(ctx, d.Bin, append([]string{"ctl", "-t", d.Team}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("teamd-go ctl -t %s %s: %w: %s", d.Team, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// State runs `teamd-go ctl -t TEAM state` and decodes it (stdout alone).
func (d *Daemon) State(ctx context.Context) (team.State, error) {
	var st team.State
	raw, err := d.StateJSON(ctx)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("decode ctl state: %w: %.200s", err, raw)
	}
	return st, nil
}

// StateJSON is `ctl state` as the daemon printed it.
func (d *Daemon) StateJSON(ctx context.Context) ([]byte, error) {
	cmd := d.NS.Command(ctx, d.Bin, "ctl", "-t", d.Team, "state")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("teamd-go ctl -t %s state: %w: %s", d.Team, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// WriteConfig rewrites the config file from body (checked if the spec
// asks for that) without reloading.
func (d *Daemon) WriteConfig(ctx context.Context, body string) error { return d.write(ctx, body) }

// Reload rewrites the config file from body and runs `teamd-go ctl -t
// TEAM reload`, which returns once the team applied it.
func (d *Daemon) Reload(ctx context.Context, body string) error {
	if err := d.write(ctx, body); err != nil {
		return err
	}
	_, err := d.Ctl(ctx, "reload")
	return err
}

// Stop sends SIGTERM (the daemon restores its members) and kills it
// after 5 s; a daemon killed before it could clean up leaves its control
// socket, which Stop removes.
func (d *Daemon) Stop() {
	if d.Proc == nil {
		return
	}
	d.Proc.Stop(syscall.SIGTERM, 5*time.Second)
	RemoveStaleSocket(d.Team)
}

// RemoveStaleSocket removes the control socket of a team whose daemon
// is gone.
func RemoveStaleSocket(team string) {
	if team != "" {
		_ = os.Remove(control.SocketPath(team))
	}
}

// ExitCode is the exit status in err (from Ctl), or -1.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
