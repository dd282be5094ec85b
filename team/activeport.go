package team

import (
	"errors"
	"fmt"
	"slices"

	"github.com/teamd-go/teamd-go/team/config"
)

var (
	// ErrNotActiveBackup is returned by SetActivePort on a team that
	// does not balance active-backup.
	ErrNotActiveBackup = errors.New("the team does not balance active-backup")
	// ErrPortDown means a member cannot carry traffic now (no carrier,
	// link watcher failed, or a standby member while others are up).
	ErrPortDown = errors.New("member cannot carry traffic now")
)

// SetActivePort makes member name the active member of an active-backup
// team, as teamd's `state item set runner.active_port` does. The member
// stays active while it can carry traffic, as if it were sticky; once it
// cannot, the usual choice (primary, prio, sticky) applies again.
func (t *Team) SetActivePort(name string) error {
	return t.do(func() error {
		if t.bal.Name() != config.BalanceActiveBackup {
			return fmt.Errorf("balance %s: %w", t.cfg.Balance, ErrNotActiveBackup)
		}
		m := t.memberNamed(name)
		if m == nil {
			return fmt.Errorf("member %q: %w", name, ErrNoSuchPort)
		}
		if !slices.Contains(t.eligible(), m) {
			return fmt.Errorf("member %q: %w", name, ErrPortDown)
		}
		t.forced = m.id
		if m.id != t.active {
			t.changed("active port set to " + name)
		}
		return nil
	})
}
