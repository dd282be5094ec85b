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
	ns     *NS
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
		RxTranslated         uint64 `json:"rx_translated"`
		RxTranslationMiss    uint64 `json:"rx_translation_miss"`
		ARPAnswered          uint64 `json:"arp_answered"`
		Announcements        uint64 `json:"announcements"`
	} `json:"counters"`
	// RxTranslation is nil unless rx_translation is on.
	RxTranslation *struct {
		TeamMAC string    `json:"team_mac"`
		Learn   string    `json:"learn"`
		Table   []Binding `json:"table"`
	} `json:"rx_translation"`
}

// Binding is one entry of the rx_translation table: the VM MAC (and its
// vnic) that frames for the team MAC addressed to IP are given.
type Binding struct {
	IP   string `json:"ip"`
	MAC  string `json:"mac"`
	VNIC string `json:"vnic"`
	Age  string `json:"age,omitempty"`
}

// Binding returns the rx_translation binding for ip, if the team has one.
func (s *TeamState) Binding(ip string) (Binding, bool) {
	if s.RxTranslation == nil {
		return Binding{}, false
	}
	for _, b := range s.RxTranslation.Table {
		if b.IP == ip {
			return b, true
		}
	}
	return Binding{}, false
}

// VNICMACs returns the MACs the team's switch learned on a vnic, and
// whether the team has that vnic at all.
func (s *TeamState) VNICMACs(name string) ([]string, bool) {
	for _, v := range s.VNICs {
		if v.Name == name {
			return v.MACs, true
		}
	}
	return nil, false
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
	return e.StartTeamAs(ctx, ns, "", body)
}

// StartTeamAs is StartTeam for a variant with more than one daemon (one
// per host): the team is called Env.Team+suffix, its config is
// Dir/team<suffix>.yaml and its log teamd-go<suffix>.log. The suffix
// keeps the name within an interface name's 15 characters: a letter.
func (e *Env) StartTeamAs(ctx context.Context, ns *NS, suffix, body string) (*Team, error) {
	name := e.Team + suffix
	t := &Team{Name: name, Config: filepath.Join(e.Dir, "team"+suffix+".yaml"), daemon: e.Daemon, ns: ns}
	e.mu.Lock()
	e.teams = append(e.teams, name)
	e.mu.Unlock()
	if err := t.writeConfig(ctx, body); err != nil {
		return nil, err
	}
	p, err := e.Start(ns, "teamd-go"+suffix, nil, e.Daemon, "-c", t.Config)
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

// writeConfig writes "team: NAME" followed by body to the config file and
// checks it with `teamd-go -c FILE --check` in the team's namespace (the
// check looks the interfaces up).
func (t *Team) writeConfig(ctx context.Context, body string) error {
	if err := os.WriteFile(t.Config, []byte("team: "+t.Name+"\n"+body), 0o644); err != nil {
		return err
	}
	if out, err := t.ns.Command(ctx, t.daemon, "-c", t.Config, "--check").CombinedOutput(); err != nil {
		return fmt.Errorf("teamd-go rejects the lab's config: %s", strings.TrimSpace(string(out)))
	}
	return nil
}

// Ctl runs `teamd-go ctl -t TEAM ARGS...` and returns its output.
func (t *Team) Ctl(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, t.daemon, append([]string{"ctl", "-t", t.Name}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return out, fmt.Errorf("teamd-go ctl -t %s %s: %w", t.Name, strings.Join(args, " "), err)
	}
	return out, nil
}

// State runs `teamd-go ctl -t TEAM state` and decodes it.
func (t *Team) State(ctx context.Context) (TeamState, error) {
	var st TeamState
	out, err := t.Ctl(ctx, "state")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("decode ctl state: %w", err)
	}
	return st, nil
}

// Reload rewrites the config file ("team: NAME" followed by body), checks
// it and runs `teamd-go ctl -t TEAM reload`, which returns once the team
// applied it.
func (t *Team) Reload(ctx context.Context, body string) error {
	if err := t.writeConfig(ctx, body); err != nil {
		return err
	}
	_, err := t.Ctl(ctx, "reload")
	return err
}

// removeStaleSocket removes the control socket of a team whose daemon
// was killed before it could clean up.
func removeStaleSocket(team string) {
	if team != "" {
		_ = os.Remove(control.SocketPath(team))
	}
}
