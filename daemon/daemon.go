// Package daemon runs one team as the teamd-go daemon does: it loads the
// configuration, opens the host's interfaces, follows their links, serves
// the control socket and applies reloads. cmd/teamd-go is a thin shell
// around it; tests run it in network namespaces.
package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/link"
	"github.com/teamd-go/teamd-go/metrics"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/control"
	"github.com/teamd-go/teamd-go/team/teamdctl"
)

// Version is the teamd-go version, labelling teamd_go_build_info;
// cmd/teamd-go sets it from its own, stamped by the Makefile.
var Version = "dev"

// Daemon is a running team with its control socket.
type Daemon struct {
	path string
	log  *slog.Logger

	reloadMu sync.Mutex
	team     *team.Team
	mon      *link.Monitor
	srv      *control.Server
	teamd    *teamdctl.Server // teamd's protocol, for libteam's teamdctl
	metrics  *metrics.Server  // nil when the config's metrics: is empty; under reloadMu
	// metricsAddr is where metrics listens ("" nowhere); under reloadMu.
	metricsAddr string
	prober      *link.Prober
	carrier     *carrierWatch
}

// Check loads and validates a configuration file, including that its
// interfaces exist on this host.
func Check(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckHost(link.Exists); err != nil {
		return nil, err
	}
	// What Start would refuse about the backend, --check refuses too,
	// with the same message.
	if _, err := newHost(cfg.Backend, slog.New(slog.DiscardHandler)); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Start loads path and starts the team.
func Start(path string, log *slog.Logger) (*Daemon, error) {
	cfg, err := Check(path)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w)
	}
	// Another daemon serving a team of this name (in another network
	// namespace: socket paths are not per namespace) keeps its sockets;
	// this one stops before it touches an interface.
	if err := control.CheckFree(control.SocketPath(cfg.Team)); err != nil {
		return nil, err
	}
	if err := teamdctl.CheckFree(teamdctl.SocketPath(cfg.Team)); err != nil {
		return nil, err
	}
	h, err := newHost(cfg.Backend, log)
	if err != nil {
		return nil, err
	}
	t, err := team.New(cfg, h, team.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	d := &Daemon{path: path, log: log.With("team", cfg.Team), team: t}
	if d.prober, err = link.NewProber(); err != nil {
		t.Close()
		return nil, err
	}
	// The watch is there before the monitor's first events, which it
	// passes on.
	d.carrier = newCarrierWatch(carrierPoll, d.prober.Carrier, t.MemberNames, t.LinkChanged, d.log)
	d.mon, err = link.NewMonitor(d.linkEvent, log)
	if err != nil {
		d.stopPoll()
		t.Close()
		return nil, fmt.Errorf("link monitor: %w", err)
	}
	d.carrier.membersChanged()
	d.srv, err = control.Listen(control.SocketPath(cfg.Team), d.handle, log)
	if err != nil {
		d.stopPoll()
		d.mon.Close()
		t.Close()
		return nil, err
	}
	d.teamd, err = teamdctl.Listen(teamdctl.SocketPath(cfg.Team), teamdBackend{d}, d.log, teamdctl.Options{})
	if err != nil {
		d.srv.Close()
		d.stopPoll()
		d.mon.Close()
		t.Close()
		return nil, err
	}
	if err := d.moveMetrics("", cfg.Metrics); err != nil {
		d.teamd.Close()
		d.srv.Close()
		d.stopPoll()
		d.mon.Close()
		t.Close()
		return nil, err
	}
	return d, nil
}

// moveMetrics moves the /metrics listener from address from to address
// to ("" = none). If to cannot be bound, the listener is put back on
// from and the error returned.
func (d *Daemon) moveMetrics(from, to string) error {
	if from == to {
		return nil
	}
	_ = d.metrics.Close()
	d.metrics, d.metricsAddr = nil, ""
	if to == "" {
		return nil
	}
	s, err := metrics.Serve(to, d.team.State, Version, d.log)
	if err != nil {
		if from != "" {
			if d.metrics, _ = metrics.Serve(from, d.team.State, Version, d.log); d.metrics == nil {
				d.log.Error("metrics: cannot serve on the previous address either", "addr", from)
			} else {
				d.metricsAddr = from
			}
		}
		return err
	}
	d.metrics, d.metricsAddr = s, to
	return nil
}

func (d *Daemon) linkEvent(ev link.Event) {
	if ev.Deleted {
		d.team.PortGone(ev.Name)
		d.carrier.event(ev)
		return
	}
	d.team.MACChanged(ev.Name, frame.MAC(ev.MAC))
	d.carrier.event(ev)
}

// stopPoll stops the carrier watch (carrier.go).
func (d *Daemon) stopPoll() {
	d.carrier.close()
	d.prober.Close()
}

// Team returns the running team.
func (d *Daemon) Team() *team.Team { return d.team }

// Close stops the team and gives every interface back.
func (d *Daemon) Close() error {
	d.stopPoll()
	errs := []error{d.teamd.Close(), d.srv.Close()}
	d.reloadMu.Lock()
	errs = append(errs, d.metrics.Close())
	d.metrics = nil
	d.reloadMu.Unlock()
	errs = append(errs, d.mon.Close(), d.team.Close())
	return errors.Join(errs...)
}

// Reload re-reads the configuration file and applies what changed (the
// team's plan; the metrics listener moves first when the plan says its
// address changed). A file that fails validation, or a plan that cannot
// be applied, leaves the running team and the listener untouched.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := Check(d.path)
	var plan config.Changes
	if err == nil {
		plan, err = d.team.Plan(cfg)
	}
	if err != nil {
		d.team.ReloadFailed()
	}
	oldMetrics := d.metricsAddr
	if err == nil && plan.Metrics {
		if err = d.moveMetrics(oldMetrics, cfg.Metrics); err != nil {
			d.team.ReloadFailed()
		}
	}
	if err == nil {
		if err = d.team.Apply(cfg); err != nil && plan.Metrics {
			_ = d.moveMetrics(cfg.Metrics, oldMetrics)
		}
	}
	if err != nil {
		d.log.Error("reload rejected; the running configuration is kept", "err", err)
		return fmt.Errorf("reload rejected, running configuration kept: %w", err)
	}
	d.carrier.membersChanged()
	d.log.Info("reloaded", "file", d.path)
	return nil
}

// handle serves the control socket (docs/contract.md §2).
func (d *Daemon) handle(_ context.Context, cmd string, args []string) (any, error) {
	switch cmd {
	case "state", "reload", "toggle", "config-dump":
		if len(args) > 0 {
			// Junk after a command is a client bug, not something to
			// ignore silently.
			return nil, fmt.Errorf("%s takes no arguments (got %d)", cmd, len(args))
		}
	}
	switch cmd {
	case "state":
		return d.team.State(), nil
	case "reload":
		if err := d.Reload(); err != nil {
			return nil, err
		}
		return d.team.State(), nil
	case "toggle":
		if err := d.team.Toggle(); err != nil {
			return nil, err
		}
		return d.team.State(), nil
	case "config-dump":
		c := d.team.Config()
		b, err := config.Dump(&c)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	case "mac":
		if len(args) != 2 || args[0] != "forget" {
			return nil, errors.New("usage: mac forget MAC")
		}
		hw, err := net.ParseMAC(args[1])
		if err != nil || len(hw) != 6 {
			return nil, fmt.Errorf("mac forget: %q is not an Ethernet MAC; want six bytes like 02:00:00:00:00:01", args[1])
		}
		if err := d.team.ForgetMAC(frame.MAC(hw)); err != nil {
			return nil, err
		}
		return d.team.State(), nil
	case "port":
		if len(args) != 2 {
			return nil, errors.New("usage: port add|remove|present NAME")
		}
		return d.port(args[0], args[1])
	case "explain":
		return explain(d.team, args)
	}
	return nil, fmt.Errorf("%w %q", control.ErrUnknownCommand, cmd)
}

// explain serves `explain transmit|receive PORT HEX...`: what the data
// path does with the Ethernet frame HEX (hex digits, split over as many
// arguments as the control socket's argument length needs) sent by vnic
// PORT or received on member PORT.
func explain(t *team.Team, args []string) (any, error) {
	const usage = "usage: explain transmit|receive PORT HEXFRAME..."
	if len(args) < 3 {
		return nil, errors.New(usage)
	}
	if args[0] != team.Transmit && args[0] != team.Receive {
		return nil, fmt.Errorf("explain: direction %q: %w", args[0], team.ErrBadDirection)
	}
	eth, err := hex.DecodeString(strings.Join(args[2:], ""))
	if err != nil {
		return nil, fmt.Errorf("explain: frame: %w", err)
	}
	if len(eth) > dataplane.MaxFrame {
		return nil, fmt.Errorf("explain: frame of %d bytes, longer than %d", len(eth), dataplane.MaxFrame)
	}
	return t.Explain(args[0], args[1], eth)
}

// port adds or removes a member (the team validates the running
// configuration with the change and applies it as a plan; not a reload).
func (d *Daemon) port(op, name string) (any, error) {
	var err error
	switch op {
	case "present":
		if slices.Contains(d.team.MemberNames(), name) {
			return map[string]bool{"present": true}, nil
		}
		return nil, fmt.Errorf("member %q: %w", name, team.ErrNoSuchPort)
	case "add":
		mc := config.Member{Name: name, LACPPrio: config.DefaultLACPPortPriority, LACPKey: config.DefaultLACPKey}
		// The interface must exist; the error names it as a reload's would.
		cfg := d.team.Config()
		cfg.Members = append(cfg.Members, mc)
		if err := cfg.CheckHost(link.Exists); err != nil {
			return nil, err
		}
		err = d.team.AddMember(mc)
	case "remove":
		err = d.team.RemoveMember(name)
	default:
		return nil, fmt.Errorf("port: unknown operation %q (add, remove, present)", op)
	}
	d.carrier.membersChanged()
	if err != nil {
		return nil, err
	}
	return d.team.State(), nil
}

// Run runs the daemon until ctx is done or SIGTERM/SIGINT arrives;
// SIGHUP reloads.
func Run(ctx context.Context, path string, log *slog.Logger) error {
	// Signals are caught before the team starts: a SIGHUP that arrives
	// while it starts waits for it instead of killing the daemon.
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	d, err := Start(path, log)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return d.Close()
		case s := <-sig:
			if s == syscall.SIGHUP {
				_ = d.Reload()
				continue
			}
			d.log.Info("stopping", "signal", strings.ToUpper(s.String()))
			return d.Close()
		}
	}
}
