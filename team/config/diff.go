package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrRestartNeeded is returned by Changes.Err when a reload changes a
// key that a running team cannot change; the old configuration stays.
var ErrRestartNeeded = errors.New("restart needed")

// Changes is what a reload must apply to go from an old configuration
// to a new one. Diff computes it; the zero value means "nothing".
type Changes struct {
	// RestartNeeded lists the keys that changed but cannot change in a
	// running team: team (the control socket and the TAP are named by
	// it) and backend (every socket would be reopened). A reload with
	// any of these is rejected.
	RestartNeeded []string

	// Mode changed. The team applies it in place (LACP starts or stops,
	// members keep their sockets); the physical switch must be
	// reconfigured to match, which is the operator's side of the change.
	Mode bool

	// Balancer: balance, hash, flowlet_gap or source_mac_rewrite
	// changed; build a new balancer and swap it in.
	Balancer bool

	// Members in the new configuration and not in the old, in the new
	// order; removed ones with their old settings; changed ones (same
	// name, other settings) with their new settings.
	MembersAdded, MembersRemoved, MembersChanged []Member
	// MembersReordered: the members kept are listed in another order
	// (hash-based balancing may move flows).
	MembersReordered bool

	// VNICs, as for members. A vnic whose tap flag or TAP MAC changed
	// is changed (its port must be reopened).
	VNICsAdded, VNICsRemoved, VNICsChanged []VNIC
	// VNICsRepinned are kept vnics whose macs or mac_spoofing changed
	// (and nothing else), with their new settings: applied in place.
	VNICsRepinned []VNIC
	// VNICsRetagged are kept vnics whose vlan changed (whatever else
	// changed in place with it), with their new settings: applied in
	// place, the other vnics' traffic untouched.
	VNICsRetagged []VNIC

	LACP          bool // a lacp: parameter changed
	LinkWatch     bool // link_watch changed
	RxTranslation bool // rx_translation changed
	Metrics       bool // the metrics listener address changed
	BusyPoll      bool // busy_poll changed
}

// Diff compares two valid configurations (neither nil).
func Diff(old, new *Config) Changes {
	var ch Changes
	if old.Team != new.Team {
		ch.RestartNeeded = append(ch.RestartNeeded, "team")
	}
	ch.Mode = old.Mode != new.Mode
	if old.Backend != new.Backend {
		ch.RestartNeeded = append(ch.RestartNeeded, "backend")
	}
	ch.Balancer = old.Balance != new.Balance || !slices.Equal(old.Hash, new.Hash) ||
		old.FlowletGap != new.FlowletGap || old.FlowletGapAuto != new.FlowletGapAuto || old.SourceMACRewrite != new.SourceMACRewrite

	oldM := make(map[string]Member, len(old.Members))
	for _, m := range old.Members {
		oldM[m.Name] = m
	}
	newM := make(map[string]bool, len(new.Members))
	var keptNew []string
	for _, m := range new.Members {
		newM[m.Name] = true
		o, ok := oldM[m.Name]
		switch {
		case !ok:
			ch.MembersAdded = append(ch.MembersAdded, m)
		case o != m:
			ch.MembersChanged = append(ch.MembersChanged, m)
		}
		if ok {
			keptNew = append(keptNew, m.Name)
		}
	}
	var keptOld []string
	for _, m := range old.Members {
		if !newM[m.Name] {
			ch.MembersRemoved = append(ch.MembersRemoved, m)
		} else {
			keptOld = append(keptOld, m.Name)
		}
	}
	ch.MembersReordered = !slices.Equal(keptOld, keptNew)

	oldV := make(map[string]VNIC, len(old.VNICs))
	for _, v := range old.VNICs {
		oldV[v.Name] = v
	}
	newV := make(map[string]bool, len(new.VNICs))
	for _, v := range new.VNICs {
		newV[v.Name] = true
		o, ok := oldV[v.Name]
		switch {
		case !ok:
			ch.VNICsAdded = append(ch.VNICsAdded, v)
		case o.TAP != v.TAP || o.MAC != v.MAC:
			ch.VNICsChanged = append(ch.VNICsChanged, v)
		default:
			if !o.VLAN.Equal(v.VLAN) {
				ch.VNICsRetagged = append(ch.VNICsRetagged, v)
			}
			o.VLAN = v.VLAN
			if !SameVNIC(o, v) {
				ch.VNICsRepinned = append(ch.VNICsRepinned, v)
			}
		}
	}
	for _, v := range old.VNICs {
		if !newV[v.Name] {
			ch.VNICsRemoved = append(ch.VNICsRemoved, v)
		}
	}

	ch.LACP = old.LACP != new.LACP
	ch.LinkWatch = old.LinkWatch != new.LinkWatch
	ch.RxTranslation = old.RxTranslation != new.RxTranslation
	ch.Metrics = old.Metrics != new.Metrics
	ch.BusyPoll = old.BusyPoll != new.BusyPoll || old.BusyPollAuto != new.BusyPollAuto
	return ch
}

// Empty reports whether there is nothing to apply.
func (ch Changes) Empty() bool {
	return ch.String() == "none"
}

// Err returns nil, or ErrRestartNeeded naming the keys.
func (ch Changes) Err() error {
	if len(ch.RestartNeeded) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s cannot change while the team runs", ErrRestartNeeded, strings.Join(ch.RestartNeeded, ", "))
}

// String summarizes the changes for a log line:
// "balancer, members +eth3 -eth1 ~eth2, link_watch", or "none".
func (ch Changes) String() string {
	var parts []string
	if len(ch.RestartNeeded) > 0 {
		parts = append(parts, "restart needed ("+strings.Join(ch.RestartNeeded, ", ")+")")
	}
	if ch.Mode {
		parts = append(parts, "mode")
	}
	if ch.Balancer {
		parts = append(parts, "balancer")
	}
	list := func(what string, add, rm, chg []string, reorder bool) {
		var s []string
		for _, n := range add {
			s = append(s, "+"+n)
		}
		for _, n := range rm {
			s = append(s, "-"+n)
		}
		for _, n := range chg {
			s = append(s, "~"+n)
		}
		if reorder {
			s = append(s, "reordered")
		}
		if len(s) > 0 {
			parts = append(parts, what+" "+strings.Join(s, " "))
		}
	}
	mn := func(ms []Member) []string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Name)
		}
		return s
	}
	vn := func(vs []VNIC) []string {
		var s []string
		for _, v := range vs {
			s = append(s, v.Name)
		}
		return s
	}
	list("members", mn(ch.MembersAdded), mn(ch.MembersRemoved), mn(ch.MembersChanged), ch.MembersReordered)
	list("vnics", vn(ch.VNICsAdded), vn(ch.VNICsRemoved), vn(changedVNICs(ch)), false)
	for _, f := range []struct {
		name string
		set  bool
	}{{"lacp", ch.LACP}, {"link_watch", ch.LinkWatch}, {"rx_translation", ch.RxTranslation}, {"metrics", ch.Metrics}, {"busy_poll", ch.BusyPoll}} {
		if f.set {
			parts = append(parts, f.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// changedVNICs are the vnics changed in any way, each once, in order.
func changedVNICs(ch Changes) []VNIC {
	out := slices.Clone(ch.VNICsChanged)
	for _, v := range append(slices.Clone(ch.VNICsRepinned), ch.VNICsRetagged...) {
		if !slices.ContainsFunc(out, func(o VNIC) bool { return o.Name == v.Name }) {
			out = append(out, v)
		}
	}
	return out
}
