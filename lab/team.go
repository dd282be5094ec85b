package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/team/control"
)

// Team is a teamd-go daemon the Env runs, used through its command line
// only (`teamd-go -c FILE`, `teamd-go ctl -t TEAM state`), as a user
// would: the lab tests the contract, not the internals.
type Team struct {
	Name   string
	Config string // path of the config file
	Proc   *Proc
	daemon string
}

// TeamState is the part of `teamd-go ctl state` (SPEC §4) the lab reads.
type TeamState struct {
	Team    string `json:"team"`
	Mode    string `json:"mode"`
	Balance string `json:"balance"`
	Members []struct {
		Name      string `json:"name"`
		MAC       string `json:"mac"`
		Link      string `json:"link"`
		Active    bool   `json:"active"`
		TxPackets uint64 `json:"tx_packets"`
		RxPackets uint64 `json:"rx_packets"`
		LACP      *struct {
			ActorState    string `json:"actor_state"`
			PartnerSystem string `json:"partner_system"`
			Selected      bool   `json:"selected"`
			Collecting    bool   `json:"collecting"`
			Distributing  bool   `json:"distributing"`
		} `json:"lacp"`
	} `json:"members"`
	VNICs []struct {
		Name string   `json:"name"`
		MACs []string `json:"macs"`
		Home string   `json:"home"`
	} `json:"vnics"`
	Counters struct {
		RxDroppedNotOwned    uint64 `json:"rx_dropped_not_owned"`
		TxSourceMACRewritten uint64 `json:"tx_source_mac_rewritten"`
	} `json:"counters"`
}

// MemberTx returns a member's tx_packets (0 if there is no such member).
func (s *TeamState) MemberTx(name string) uint64 {
	for _, m := range s.Members {
		if m.Name == name {
			return m.TxPackets
		}
	}
	return 0
}

// StartTeam writes "team: Env.Team" followed by body to Dir/team.yaml,
// checks it with `teamd-go -c FILE --check`, runs the daemon in ns and
// waits until `ctl state` answers.
func (e *Env) StartTeam(ctx context.Context, ns *NS, body string) (*Team, error) {
	t := &Team{Name: e.Team, Config: filepath.Join(e.Dir, "team.yaml"), daemon: e.Daemon}
	if err := os.WriteFile(t.Config, []byte("team: "+e.Team+"\n"+body), 0o644); err != nil {
		return nil, err
	}
	// In ns: the check looks the members up.
	if out, err := ns.Command(ctx, e.Daemon, "-c", t.Config, "--check").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("teamd-go rejects the lab's config: %s", strings.TrimSpace(string(out)))
	}
	p, err := e.Start(ns, "teamd-go", nil, e.Daemon, "-c", t.Config)
	if err != nil {
		return nil, err
	}
	t.Proc = p
	if err := waitFor(ctx, 15*time.Second, func() error {
		if p.Exited() {
			return errors.New("exited")
		}
		_, err := t.State(ctx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("teamd-go did not come up: %w; log:\n%s", err, p.LogTail(10))
	}
	return t, nil
}

// State runs `teamd-go ctl -t TEAM state` and decodes it.
func (t *Team) State(ctx context.Context) (TeamState, error) {
	var st TeamState
	out, err := exec.CommandContext(ctx, t.daemon, "ctl", "-t", t.Name, "state").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return st, fmt.Errorf("teamd-go ctl -t %s state: %w", t.Name, err)
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("decode ctl state: %w", err)
	}
	return st, nil
}

// removeStaleSocket removes the control socket of a team whose daemon
// was killed before it could clean up.
func removeStaleSocket(team string) {
	if team != "" {
		_ = os.Remove(control.SocketPath(team))
	}
}
