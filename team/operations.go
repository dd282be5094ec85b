package team

import (
	"fmt"
	"slices"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// LinkChanged is called by the link monitor when an interface's carrier
// changes. Interfaces that are not members are ignored.
func (t *Team) LinkChanged(name string, carrier bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for _, v := range t.vnics {
		if v != nil && v.name == name {
			t.vnicLinkLocked(v, carrier)
		}
	}
	hadMembers := len(t.snap.Load().view.Members) > 0
	defer func() {
		if !hadMembers && len(t.snap.Load().view.Members) > 0 {
			// All members down and up again: the team was toggled.
			t.rebuildXlatLocked("members back up")
		}
	}()
	for _, m := range t.members {
		if m.name == name && m.carrier != carrier {
			if m.carrier && m.watchOK {
				m.downs++
			}
			m.carrier = carrier
			state := "down"
			if carrier {
				state = "up"
			}
			t.log.Info("member link "+state, "member", name)
			if t.lacp != nil {
				t.lacp.linkChanged(m.id, carrier)
			}
			t.publishLocked("link " + state + " on " + name)
		}
	}
}

// MACChanged is called when an interface's MAC changes.
func (t *Team) MACChanged(name string, mac frame.MAC) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.members {
		if m.name == name && m.mac != mac {
			t.log.Info("member MAC changed", "member", name, "mac", mac, "was", m.mac)
			m.mac = mac
			t.publishLocked("MAC change on " + name)
		}
	}
}

// PortGone is called when an interface disappears from the host. A member
// is dropped from the team, a vnic from the switch; the team goes on.
func (t *Team) PortGone(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	// Closing the port of a vanished interface cannot restore it; that
	// error is expected and not reported.
	if slices.ContainsFunc(t.members, func(m *member) bool { return m.name == name }) {
		t.log.Warn("member disappeared from the host; removed from the team", "member", name)
		_ = t.removeMemberLocked(name)
		return
	}
	if slices.ContainsFunc(t.vnics, func(v *vnic) bool { return v != nil && v.name == name }) {
		t.log.Warn("vnic disappeared from the host; removed from the switch", "vnic", name)
		_ = t.removeVNICLocked(name)
	}
}

// AddMember adds a member at run time (`ctl port add`).
func (t *Team) AddMember(mc config.Member) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if err := t.addMemberLocked(mc); err != nil {
		return err
	}
	t.cfg.Members = append(t.cfg.Members, mc)
	t.publishLocked("member " + mc.Name + " added")
	return nil
}

// RemoveMember removes a member at run time (`ctl port remove`).
func (t *Team) RemoveMember(name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	return t.removeMemberLocked(name)
}

func (t *Team) removeMemberLocked(name string) error {
	i := slices.IndexFunc(t.members, func(m *member) bool { return m.name == name })
	if i < 0 {
		return fmt.Errorf("member %q: %w", name, ErrNoSuchPort)
	}
	m := t.members[i]
	t.members = slices.Delete(t.members, i, i+1)
	t.cfg.Members = slices.DeleteFunc(t.cfg.Members, func(c config.Member) bool { return c.Name == name })
	if t.lacp != nil {
		t.lacp.memberRemoved(m.id)
	}
	t.publishLocked("member " + name + " removed")
	err := m.shut()
	<-m.done
	t.log.Info("member removed", "member", name)
	if err != nil {
		return fmt.Errorf("close member %q: %w", name, err)
	}
	return nil
}

// PortPresent reports whether name is a member.
func (t *Team) PortPresent(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.ContainsFunc(t.members, func(m *member) bool { return m.name == name })
}

// AddVNIC attaches a vnic at run time.
func (t *Team) AddVNIC(vc config.VNIC) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if err := t.addVNICLocked(vc); err != nil {
		return err
	}
	t.cfg.VNICs = append(t.cfg.VNICs, vc)
	t.publishLocked("vnic " + vc.Name + " added")
	return nil
}

// RemoveVNIC detaches a vnic at run time.
func (t *Team) RemoveVNIC(name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	return t.removeVNICLocked(name)
}

func (t *Team) removeVNICLocked(name string) error {
	i := slices.IndexFunc(t.vnics, func(v *vnic) bool { return v != nil && v.name == name })
	if i < 0 {
		return fmt.Errorf("vnic %q: %w", name, ErrNoSuchPort)
	}
	v := t.vnics[i]
	t.vnics[i] = nil
	t.cfg.VNICs = slices.DeleteFunc(t.cfg.VNICs, func(c config.VNIC) bool { return c.Name == name })
	t.fdb.forget(v.id)
	if t.xlat != nil {
		t.xlat.drop(func(e *xlatEntry) bool { return e.vnic == v.id })
	}
	delete(t.homes, v.id)
	delete(t.moved, v.id)
	t.publishLocked("vnic " + name + " removed")
	err := v.shut()
	<-v.done
	t.log.Info("vnic removed", "vnic", name)
	if err != nil {
		return fmt.Errorf("close vnic %q: %w", name, err)
	}
	return nil
}

// Config returns a copy of the running configuration.
func (t *Team) Config() config.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	return *t.cfg.Clone()
}

// Apply moves the running team to cfg, changing only what differs (see
// config.Diff): balancer and its parameters, source-MAC policy, mode,
// LACP parameters, rx_translation, members and vnics added, removed or
// changed. Members and vnics that stay keep their sockets, so no frame is
// lost. cfg must already be validated; on error nothing was changed. A
// successful Apply counts as a reload (reloads_ok).
func (t *Team) Apply(cfg *config.Config) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if err := t.applyLocked(cfg); err != nil {
		t.c.reloadsFailed.Add(1)
		return err
	}
	t.c.reloadsOK.Add(1)
	return nil
}

// Change is Apply for run-time changes that are not reloads (`ctl port
// add|remove`): the same path, not counted as a reload.
func (t *Team) Change(cfg *config.Config) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	return t.applyLocked(cfg)
}

// ErrRestartNeeded means a change cannot be applied to a running team.
var ErrRestartNeeded = config.ErrRestartNeeded

func (t *Team) applyLocked(cfg *config.Config) error {
	old := t.cfg
	ch := config.Diff(old, cfg)
	if err := ch.Err(); err != nil {
		return err
	}
	mode, err := parseMode(cfg.Mode)
	if err != nil {
		return err
	}
	bal := t.bal
	if cfg.Balance != old.Balance || !slices.Equal(cfg.Hash, old.Hash) || cfg.FlowletGap != old.FlowletGap || cfg.FlowletGapAuto != old.FlowletGapAuto {
		if bal, err = newBalancer(cfg, &t.delays); err != nil {
			return err
		}
	}
	// Open new ports first: if one fails, nothing has changed yet.
	var added []*member
	for _, mc := range cfg.Members {
		if slices.ContainsFunc(t.members, func(m *member) bool { return m.name == mc.Name }) {
			continue
		}
		if err := t.addMemberLocked(mc); err != nil {
			for _, m := range added {
				_ = t.removeMemberLocked(m.name)
			}
			return err
		}
		added = append(added, t.members[len(t.members)-1])
	}
	// A vnic whose tap flag or MAC changed is a different port: it is
	// closed below and opened again here under the same name.
	reopen := map[string]bool{}
	for _, vc := range ch.VNICsChanged {
		reopen[vc.Name] = true
	}
	for name := range reopen {
		_ = t.removeVNICLocked(name)
	}
	var addedV []string
	for _, vc := range cfg.VNICs {
		if slices.ContainsFunc(t.vnics, func(v *vnic) bool { return v != nil && v.name == vc.Name }) {
			continue
		}
		if err := t.addVNICLocked(vc); err != nil {
			for _, n := range addedV {
				_ = t.removeVNICLocked(n)
			}
			for _, m := range added {
				_ = t.removeMemberLocked(m.name)
			}
			return err
		}
		addedV = append(addedV, vc.Name)
	}
	// From here on nothing fails.
	prevMode := t.mode
	if bal != t.bal {
		t.balBase = t.balStats()
	}
	t.cfg = cfg
	t.mode, t.bal = mode, bal
	t.measure.Store(measuresDelays(cfg))
	for _, m := range t.members {
		if i := slices.IndexFunc(cfg.Members, func(c config.Member) bool { return c.Name == m.name }); i >= 0 {
			m.cfg = cfg.Members[i]
		}
	}
	for _, m := range slices.Clone(t.members) {
		if !slices.ContainsFunc(cfg.Members, func(c config.Member) bool { return c.Name == m.name }) {
			_ = t.removeMemberLocked(m.name)
		}
	}
	for _, v := range slices.Clone(t.vnics) {
		if v != nil && !slices.ContainsFunc(cfg.VNICs, func(c config.VNIC) bool { return c.Name == v.name }) {
			_ = t.removeVNICLocked(v.name)
		}
	}
	// removeMemberLocked trimmed t.cfg.Members; restore the new list.
	t.cfg.Members = slices.Clone(cfg.Members)
	t.cfg.VNICs = slices.Clone(cfg.VNICs)
	for _, vc := range ch.VNICsRepinned {
		t.repinLocked(vc)
	}
	t.applyLACPLocked(prevMode)
	t.setXlatLocked(old)
	if ch.LinkWatch {
		t.stopARPWatchLocked()
		t.startARPWatchLocked()
	}
	t.publishLocked("reload")
	t.log.Info("configuration applied", "changes", ch.String(), "mode", cfg.Mode, "balance", cfg.Balance,
		"members", len(t.members))
	return nil
}

// ReloadFailed counts a reload rejected before it reached the team.
func (t *Team) ReloadFailed() { t.c.reloadsFailed.Add(1) }

// MemberNames returns the members' names in config order.
func (t *Team) MemberNames() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, len(t.members))
	for i, m := range t.members {
		names[i] = m.name
	}
	return names
}

// applyLACPLocked starts, stops or reconfigures LACP after a reload.
func (t *Team) applyLACPLocked(prev mode) {
	switch {
	case prev != modeLACP && t.mode == modeLACP:
		if err := t.startLACPLocked(); err != nil {
			t.log.Error("lacp could not start; no member distributes", "err", err)
		}
	case prev == modeLACP && t.mode != modeLACP:
		t.stopLACPLocked()
		t.log.Info("lacp stopped")
	case t.lacp != nil:
		if err := t.lacp.reconfigure(t.cfg, t.members); err != nil {
			t.log.Error("lacp reconfigure", "err", err)
		}
	}
}

// vnicLinkLocked handles a vnic's carrier: a VM whose interface went down
// (shut down, restarted) loses what the switch learned of it; it is
// learned again from its first frame. With rx_translation learning
// continuously its bindings go too.
func (t *Team) vnicLinkLocked(v *vnic, carrier bool) {
	if carrier || v.cfg.TAP {
		return
	}
	t.fdb.remove(func(_ frame.MAC, e *fdbEntry) bool { return e.vnic == v.id && !e.static })
	if x := t.xlat; x != nil && x.continuous {
		n := x.drop(func(e *xlatEntry) bool { return e.vnic == v.id })
		t.log.Info("vnic link down: bindings forgotten", "vnic", v.name, "rx_translation_entries", n)
	}
}
