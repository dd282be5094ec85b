package team

import (
	"fmt"
	"slices"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
)

// The team's control operations. Every client calls these: the daemon's
// reload (SIGHUP, `ctl reload`), `ctl port`, the link monitor, and any
// other control protocol. Each is one message to the control goroutine
// (loop.go) and publishes at most one snapshot.
//
// A configuration change, whatever asked for it, takes one path: the
// running configuration with the change is validated, config.Diff lists
// what differs, and applyPlan applies exactly that, through the same
// steps for every client (addMember, removeMember, updateMember, addVNIC,
// removeVNIC, repin, setBalancer, setMode, setLACP, setLinkWatch,
// setRxTranslation). Apply takes a whole new configuration (a reload);
// AddMember, SetMode and the others change one part of the running one.
// A change that is rejected leaves the team as it was.

// ErrRestartNeeded means a change cannot be applied to a running team.
var ErrRestartNeeded = config.ErrRestartNeeded

// Apply moves the running team to cfg, changing only what differs (see
// config.Diff): members and vnics added, removed or changed, balancer and
// source-MAC policy, mode, LACP parameters, link watch, rx_translation.
// Members and vnics that stay keep their sockets, so no frame is lost.
// cfg must already be validated; on error nothing was changed. Apply is
// a reload: it counts in reloads_ok or reloads_failed.
func (t *Team) Apply(cfg *config.Config) error {
	err := t.do(func() error { return t.applyPlan(config.Diff(t.running(), cfg), cfg) })
	if err != nil {
		t.c.reloadsFailed.Add(1)
		return err
	}
	t.c.reloadsOK.Add(1)
	return nil
}

// Plan returns what Apply(cfg) would change in the running team now, or
// the error that makes it impossible (ErrRestartNeeded).
func (t *Team) Plan(cfg *config.Config) (config.Changes, error) {
	var plan config.Changes
	err := t.do(func() error {
		plan = config.Diff(t.running(), cfg)
		return plan.Err()
	})
	return plan, err
}

// ReloadFailed counts a reload rejected before it reached the team.
func (t *Team) ReloadFailed() { t.c.reloadsFailed.Add(1) }

// AddMember adds a member (`ctl port add`).
func (t *Team) AddMember(mc config.Member) error {
	return t.change(func(c *config.Config) { c.Members = append(c.Members, mc) })
}

// RemoveMember removes a member (`ctl port remove`).
func (t *Team) RemoveMember(name string) error {
	return t.change(func(c *config.Config) {
		c.Members = slices.DeleteFunc(c.Members, func(m config.Member) bool { return m.Name == name })
	}, t.mustHaveMember(name))
}

// UpdateMember changes the settings of member name: edit is given the
// running member's settings and changes what it must. It runs on the
// control goroutine as part of the operation, so a concurrent change of
// the member's other settings is never lost (no copy of the
// configuration is read before the operation for it to race with).
// edit must not call the team; the member keeps its name.
func (t *Team) UpdateMember(name string, edit func(m *config.Member)) error {
	return t.change(func(c *config.Config) {
		for i := range c.Members {
			if c.Members[i].Name == name {
				edit(&c.Members[i])
				c.Members[i].Name = name
			}
		}
	}, t.mustHaveMember(name))
}

// AddVNIC attaches a vnic to the switch.
func (t *Team) AddVNIC(vc config.VNIC) error {
	return t.change(func(c *config.Config) { c.VNICs = append(c.VNICs, vc) })
}

// RemoveVNIC detaches a vnic from the switch.
func (t *Team) RemoveVNIC(name string) error {
	return t.change(func(c *config.Config) {
		c.VNICs = slices.DeleteFunc(c.VNICs, func(v config.VNIC) bool { return v.Name == name })
	}, func(c *config.Config) error {
		if !slices.ContainsFunc(c.VNICs, func(v config.VNIC) bool { return v.Name == name }) {
			return fmt.Errorf("vnic %q: %w", name, ErrNoSuchPort)
		}
		return nil
	})
}

// Balancing is the balancer's part of a configuration: the config keys
// balance, hash, flowlet_gap (FlowletGapAuto for auto) and
// source_mac_rewrite.
type Balancing struct {
	Balance          string
	Hash             []string
	FlowletGap       time.Duration
	FlowletGapAuto   bool
	SourceMACRewrite string
}

// SetBalancer changes the balancer.
func (t *Team) SetBalancer(b Balancing) error {
	return t.change(func(c *config.Config) {
		c.Balance, c.Hash, c.SourceMACRewrite = b.Balance, slices.Clone(b.Hash), b.SourceMACRewrite
		c.FlowletGap, c.FlowletGapAuto = b.FlowletGap, b.FlowletGapAuto
	})
}

// SetMode changes the team's mode in place (LACP starts or stops).
func (t *Team) SetMode(mode string) error {
	return t.change(func(c *config.Config) { c.Mode = mode })
}

// SetLACP changes the 802.1AX parameters.
func (t *Team) SetLACP(l config.LACP) error {
	return t.change(func(c *config.Config) { c.LACP = l })
}

// SetLinkWatch changes how members' links are watched.
func (t *Team) SetLinkWatch(lw config.LinkWatch) error {
	return t.change(func(c *config.Config) { c.LinkWatch = lw })
}

// SetRxTranslation changes receive-side MAC translation.
func (t *Team) SetRxTranslation(rx config.RxTranslation) error {
	return t.change(func(c *config.Config) { c.RxTranslation = rx })
}

// change applies edit to the running configuration: the result is
// checked (by each of checks, then config.Validate) and applied as a
// plan. It is not a reload.
func (t *Team) change(edit func(c *config.Config), checks ...func(c *config.Config) error) error {
	return t.do(func() error {
		cur := t.running()
		for _, check := range checks {
			if err := check(cur); err != nil {
				return err
			}
		}
		next := t.running()
		edit(next)
		if err := config.Validate(next); err != nil {
			return err
		}
		return t.applyPlan(config.Diff(cur, next), next)
	})
}

func (t *Team) mustHaveMember(name string) func(c *config.Config) error {
	return func(c *config.Config) error {
		if !slices.ContainsFunc(c.Members, func(m config.Member) bool { return m.Name == name }) {
			return fmt.Errorf("member %q: %w", name, ErrNoSuchPort)
		}
		return nil
	}
}

// applyPlan moves the team to next, which differs from the running
// configuration by plan (control goroutine). What can fail comes first:
// the new mode and balancer are built and new ports opened; if one
// fails, the ports opened are closed again and nothing else has changed.
// The rest cannot fail.
func (t *Team) applyPlan(plan config.Changes, next *config.Config) (err error) {
	if err := plan.Err(); err != nil {
		return err
	}
	mode, bal := t.mode, t.bal
	if plan.Mode {
		if mode, err = parseMode(next.Mode); err != nil {
			return err
		}
	}
	if plan.Balancer {
		if bal, err = newBalancer(next, &t.delays); err != nil {
			return err
		}
	}
	if err := t.openPorts(plan); err != nil {
		return err
	}

	// From here on nothing fails.
	for _, m := range plan.MembersRemoved {
		_ = t.removeMember(m.Name)
	}
	for _, m := range plan.MembersChanged {
		_ = t.updateMember(m)
	}
	for _, v := range plan.VNICsRemoved {
		_ = t.removeVNIC(v.Name, false)
	}
	for _, v := range plan.VNICsRetagged {
		t.retag(v)
	}
	for _, v := range plan.VNICsRepinned {
		t.repin(v)
	}
	t.order(next)
	if plan.Balancer {
		t.setBalancer(bal, next)
	}
	if plan.LACP {
		t.setLACP(next.LACP)
	}
	if plan.Mode {
		t.setMode(mode, next.Mode)
	}
	if plan.LinkWatch {
		t.setLinkWatch(next.LinkWatch)
	}
	if plan.RxTranslation {
		t.setRxTranslation(next.RxTranslation)
	}
	if plan.BusyPoll {
		// The readers read it when they next go idle.
		t.spinMax.Store(int64(next.BusyPoll))
		t.cfg.BusyPoll, t.cfg.BusyPollAuto = next.BusyPoll, next.BusyPollAuto
	}
	// The metrics listener is the daemon's (it reads plan.Metrics); the
	// team only keeps the address in its running configuration.
	t.cfg.Metrics = next.Metrics
	t.cfg.Path, t.cfg.Warnings = next.Path, slices.Clone(next.Warnings)
	if !plan.Empty() {
		t.changed("reload")
		t.log.Info("configuration applied", "changes", plan.String(), "mode", next.Mode, "balance", next.Balance,
			"members", len(t.members))
	}
	return nil
}

// openPorts opens the members and vnics the plan adds, and reopens the
// vnics it changes (a vnic whose tap flag or MAC changed is another
// port: it is closed and opened again under its name). On error what it
// did is undone: the ports it opened are closed and reopened vnics are
// opened again as they were, in their places (what the switch had
// learned on them is learned again from their next frames).
func (t *Team) openPorts(plan config.Changes) error {
	var members, vnics []string
	var reopened []config.VNIC // their old settings
	prev := t.running()
	undo := func() {
		defer t.order(prev)
		t.reopened = len(reopened) > 0
		for _, n := range members {
			_ = t.removeMember(n)
		}
		for _, n := range vnics {
			_ = t.removeVNIC(n, true)
		}
		for _, vc := range reopened {
			if err := t.addVNIC(vc); err != nil {
				t.log.Error("vnic lost: it could not be opened again as it was", "vnic", vc.Name, "err", err)
			}
		}
	}
	for _, mc := range plan.MembersAdded {
		if err := t.addMember(mc); err != nil {
			undo()
			return err
		}
		members = append(members, mc.Name)
	}
	for _, vc := range plan.VNICsChanged {
		old := t.vnicNamed(vc.Name).cfg
		_ = t.removeVNIC(vc.Name, true)
		reopened = append(reopened, old)
		if err := t.addVNIC(vc); err != nil {
			undo()
			return err
		}
		vnics = append(vnics, vc.Name)
	}
	for _, vc := range plan.VNICsAdded {
		if err := t.addVNIC(vc); err != nil {
			undo()
			return err
		}
		vnics = append(vnics, vc.Name)
	}
	return nil
}

// order puts members and vnics in next's order.
func (t *Team) order(next *config.Config) {
	pos := func(name string, names func(i int) string, n int) int {
		for i := range n {
			if names(i) == name {
				return i
			}
		}
		return n
	}
	slices.SortStableFunc(t.members, func(a, b *member) int {
		f := func(i int) string { return next.Members[i].Name }
		return pos(a.name, f, len(next.Members)) - pos(b.name, f, len(next.Members))
	})
	slices.SortStableFunc(t.vnicOrder, func(a, b *vnic) int {
		f := func(i int) string { return next.VNICs[i].Name }
		return pos(a.name, f, len(next.VNICs)) - pos(b.name, f, len(next.VNICs))
	})
}

// setBalancer swaps in bal, made from next's balancer keys.
func (t *Team) setBalancer(bal lb.Balancer, next *config.Config) {
	t.balBase = t.balStats()
	t.bal = bal
	t.cfg.Balance, t.cfg.Hash = next.Balance, slices.Clone(next.Hash)
	t.cfg.FlowletGap, t.cfg.FlowletGapAuto = next.FlowletGap, next.FlowletGapAuto
	t.cfg.SourceMACRewrite = next.SourceMACRewrite
	t.measure.Store(measuresDelays(t.cfg))
	t.changed("balancer")
}

// setMode changes the mode in place: LACP starts or stops.
func (t *Team) setMode(m mode, name string) {
	prev := t.mode
	t.mode, t.cfg.Mode = m, name
	switch {
	case prev != modeLACP && m == modeLACP:
		if err := t.startLACP(); err != nil {
			t.log.Error("lacp could not start; no member distributes", "err", err)
		}
	case prev == modeLACP && m != modeLACP:
		t.stopLACP()
		t.log.Info("lacp stopped")
	}
	t.changed("mode")
}

// setLACP changes the 802.1AX parameters, in the running Runner too.
func (t *Team) setLACP(l config.LACP) {
	t.cfg.LACP = l
	if t.lacp != nil {
		t.lacp.fb.reconfigure(l.Fallback, int64(l.FallbackAfter))
		if err := t.lacp.reconfigure(t.cfg); err != nil {
			t.log.Error("lacp reconfigure", "err", err)
		}
	}
	t.changed("lacp")
}

// LinkChanged is called by the link monitor when an interface's carrier
// changes. Interfaces that are neither members nor vnics are ignored.
func (t *Team) LinkChanged(name string, carrier bool) {
	_ = t.do(func() error {
		if v := t.vnicNamed(name); v != nil {
			t.vnicLink(v, carrier)
		}
		m := t.memberNamed(name)
		if m == nil || m.carrier == carrier {
			return nil
		}
		hadMembers := len(t.snap.Load().view.Members) > 0
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
		t.observeLink(m)
		if !hadMembers && len(t.eligible()) > 0 {
			// All members down and up again: the team was toggled.
			t.rebuildXlat("members back up")
		}
		t.changed("link " + state + " on " + name)
		return nil
	})
}

// MACChanged is called when an interface's MAC changes.
func (t *Team) MACChanged(name string, mac frame.MAC) {
	_ = t.do(func() error {
		if m := t.memberNamed(name); m != nil && m.mac != mac {
			t.log.Info("member MAC changed", "member", name, "mac", mac, "was", m.mac)
			m.mac = mac
			if t.lacp != nil {
				t.lacp.memberChanged(m)
			}
			t.changed("MAC change on " + name)
		}
		return nil
	})
}

// PortGone is called when an interface disappears from the host. A member
// is dropped from the team, a vnic from the switch; the team goes on. This
// is not a configuration change that could be refused: the port is gone.
func (t *Team) PortGone(name string) {
	_ = t.do(func() error {
		// Closing the port of a vanished interface cannot restore it;
		// that error is expected and not reported.
		if t.memberNamed(name) != nil {
			t.log.Warn("member disappeared from the host; removed from the team", "member", name)
			_ = t.removeMember(name)
		} else if t.vnicNamed(name) != nil {
			t.log.Warn("vnic disappeared from the host; removed from the switch", "vnic", name)
			_ = t.removeVNIC(name, false)
		}
		return nil
	})
}

// Config returns a copy of the running configuration.
func (t *Team) Config() config.Config {
	var c *config.Config
	if err := t.do(func() error { c = t.running(); return nil }); err != nil {
		return config.Config{}
	}
	return *c
}

// MemberNames returns the members' names in config order.
func (t *Team) MemberNames() []string {
	var names []string
	_ = t.do(func() error {
		for _, m := range t.members {
			names = append(names, m.name)
		}
		return nil
	})
	return names
}

// vnicLink handles a vnic's carrier: a VM whose interface went down
// (shut down, restarted) loses what the switch learned of it; it is
// learned again from its first frame. With rx_translation learning
// continuously its bindings go too.
func (t *Team) vnicLink(v *vnic, carrier bool) {
	if carrier || v.cfg.TAP {
		return
	}
	t.fdb.remove(func(_ fdbKey, e *fdbEntry) bool { return e.vnic == v.id && !e.static })
	if x := t.xlat; x != nil && x.continuous {
		n := x.drop(func(e *xlatEntry) bool { return e.vnic == v.id })
		t.log.Info("vnic link down: bindings forgotten", "vnic", v.name, "rx_translation_entries", n)
	}
}
