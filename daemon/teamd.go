package daemon

import (
	"errors"
	"fmt"
	"os"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/link"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/teamdctl"
)

// teamdBackend is the team as teamd's socket (team/teamdctl) sees it.
// Every change is one of the team's operations, as `ctl port`'s are.
type teamdBackend struct{ d *Daemon }

var _ teamdctl.Backend = teamdBackend{}

func (b teamdBackend) Snapshot() (teamdctl.Snapshot, error) {
	s := teamdctl.Snapshot{Config: b.d.team.Config(), State: b.d.team.State(), Ifaces: map[string]teamdctl.Iface{}, PID: os.Getpid()}
	names := []string{s.Config.Team}
	for _, m := range s.State.Members {
		names = append(names, m.Name)
	}
	for _, n := range names {
		ev, err := link.ByName(n)
		if err != nil {
			continue // the team device is only there with a TAP named like the team
		}
		ifi := teamdctl.Iface{Index: ev.Index}
		if mac := frame.MAC(ev.MAC); !mac.IsZero() {
			ifi.MAC = mac.String()
		}
		ifi.SpeedMbit, ifi.Duplex, _ = link.Speed(n) // unknown: 0 and "" (teamd shows 0 too)
		s.Ifaces[n] = ifi
	}
	return s, nil
}

func (b teamdBackend) PortAdd(dev string) error {
	if !link.Exists(dev) {
		return fmt.Errorf("interface %q: %w", dev, teamdctl.ErrNoSuchDev)
	}
	_, err := b.d.port("add", dev)
	return err
}

func (b teamdBackend) PortRemove(dev string) error {
	_, err := b.d.port("remove", dev)
	return err
}

func (b teamdBackend) PortConfigUpdate(dev string, m config.Member) error {
	// teamd's port config sets these four; the member keeps the rest.
	// They are set on the control goroutine, in the operation: a change
	// of the member's other settings meanwhile is not lost.
	err := b.d.team.UpdateMember(dev, func(c *config.Member) {
		c.Prio, c.Sticky, c.LACPPrio, c.LACPKey = m.Prio, m.Sticky, m.LACPPrio, m.LACPKey
	})
	if errors.Is(err, team.ErrNoSuchPort) {
		return fmt.Errorf("member %q: %w", dev, teamdctl.ErrNoSuchDev)
	}
	return err
}

func (b teamdBackend) SetActivePort(dev string) error { return b.d.team.SetActivePort(dev) }
