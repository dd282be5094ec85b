package team

import (
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
)

// eligible returns the members that may carry traffic now, in config
// order: members with carrier, standby members only when no other member
// is up. In mode lacp only collecting-distributing members qualify.
func (t *Team) eligible() []*member {
	var up, standby []*member
	var dist [lb.MaxMembers]bool
	if t.lacp != nil {
		_, dist = t.lacp.collectingDistributing()
	}
	for _, m := range t.members {
		if !m.hold.used || (t.lacp != nil && !t.lacp.fb.active && !dist[m.id]) {
			continue
		}
		if m.cfg.Standby {
			standby = append(standby, m)
		} else {
			up = append(up, m)
		}
	}
	if len(up) == 0 {
		up = standby
	}
	if t.lacp != nil && t.lacp.fb.active && t.lacp.fb.kind == config.FallbackActiveBackup && len(up) > 1 {
		// Fallen back to active-backup: the first member carries.
		best := up[0]
		for _, m := range up[1:] {
			if better(m, best) {
				best = m
			}
		}
		return []*member{best}
	}
	return up
}

// chooseActive picks active-backup's active member, as teamd does:
// the member SetActivePort chose while it is eligible, else the primary if
// it is eligible, else the highest prio (config order breaks ties); a
// current active member that is still eligible stays when it is sticky or
// no better member exists.
func (t *Team) chooseActive(elig []*member) int {
	if len(elig) == 0 {
		t.forced = -1
		return -1
	}
	if t.forced >= 0 {
		for _, m := range elig {
			if m.id == t.forced {
				return m.id
			}
		}
		t.forced = -1 // it lost its link or left the team
	}
	best := elig[0]
	for _, m := range elig[1:] {
		if better(m, best) {
			best = m
		}
	}
	for _, m := range elig {
		if m.id == t.active {
			if m.cfg.Sticky || !better(best, m) {
				return m.id
			}
		}
	}
	return best.id
}

func better(a, b *member) bool {
	if a.cfg.Primary != b.cfg.Primary {
		return a.cfg.Primary
	}
	return a.cfg.Prio > b.cfg.Prio
}

// placeHomes registers every vnic on one eligible member. A vnic's
// preferred member is fixed by its position (round-robin over the members
// in config order, the primary first), so a failover moves only the vnics
// of the member that failed, and they return when it does.
func (t *Team) placeHomes(elig []*member) map[int]int {
	homes := map[int]int{}
	if len(elig) == 0 {
		return homes
	}
	if t.bal != nil && t.bal.Name() == config.BalanceActiveBackup {
		for _, v := range t.vnics {
			if v != nil {
				homes[v.id] = t.active
			}
		}
		return homes
	}
	order := make([]*member, 0, len(t.members))
	for _, m := range t.members {
		if m.cfg.Primary {
			order = append(order, m)
		}
	}
	for _, m := range t.members {
		if !m.cfg.Primary && !m.cfg.Standby {
			order = append(order, m)
		}
	}
	if len(order) == 0 {
		order = elig
	}
	isElig := map[int]bool{}
	for _, m := range elig {
		isElig[m.id] = true
	}
	load := map[int]int{}
	var displaced []*vnic
	n := 0
	for _, v := range t.vnics {
		if v == nil {
			continue
		}
		pref := order[n%len(order)]
		n++
		if isElig[pref.id] {
			homes[v.id] = pref.id
			load[pref.id]++
		} else {
			displaced = append(displaced, v)
		}
	}
	for _, v := range displaced {
		// Keep a displaced vnic where it already is if that is fine,
		// else the least loaded eligible member.
		if cur, ok := t.homes[v.id]; ok && isElig[cur] {
			homes[v.id] = cur
			load[cur]++
			continue
		}
		best := elig[0]
		for _, m := range elig[1:] {
			if load[m.id] < load[best.id] {
				best = m
			}
		}
		homes[v.id] = best.id
		load[best.id]++
	}
	return homes
}

// publish recomputes who carries traffic and publishes a new
// snapshot for the data path. Vnics whose home moved are announced from
// their new member so the physical switch relearns them at once.
func (t *Team) publish(why string) {
	elig := t.eligible()
	prevActive := t.active
	if t.bal.Name() == config.BalanceActiveBackup {
		t.active = t.chooseActive(elig)
	} else {
		t.active = -1
	}
	if t.active != prevActive && t.active >= 0 {
		t.log.Info("active member", "member", t.memberName(t.active), "was", t.memberName(prevActive), "reason", why)
	}
	homes := t.placeHomes(elig)

	s := &snapshot{
		mode:    t.mode,
		bal:     t.bal,
		rewrite: parseRewrite(t.cfg.SourceMACRewrite),
		hyperv:  t.bal.Name() == config.BalanceHyperVPort,
		bcastRx: -1,
		xlat:    t.xlat,
		pingw:   t.pingw,
	}
	for _, m := range t.members {
		s.members[m.id] = m
		s.macs[m.id] = m.mac
	}
	s.vnics = append([]*vnic(nil), t.vnics...)
	s.vlans = make([]*vlanPolicy, len(t.vnics))
	for _, v := range t.vnics {
		switch {
		case v == nil:
		case v.vlan == nil:
			s.transparent++
		default:
			s.vlans[v.id] = v.vlan
			s.vlanUsed.union(&v.vlan.on)
		}
	}
	ordered := elig
	if t.active >= 0 {
		ordered = make([]*member, 0, len(elig))
		for _, m := range elig {
			if m.id == t.active {
				ordered = append(ordered, m)
			}
		}
		for _, m := range elig {
			if m.id != t.active {
				ordered = append(ordered, m)
			}
		}
	}
	for _, m := range ordered {
		s.view.Members = append(s.view.Members, m.id)
		s.collecting[m.id] = true
	}
	if t.lacp != nil && !t.lacp.fb.active {
		// 802.1AX: a member may collect before it distributes.
		coll, _ := t.lacp.collectingDistributing()
		for _, m := range t.members {
			s.collecting[m.id] = m.hold.used && coll[m.id]
		}
	}
	s.view.Home = make([]int, len(t.vnics))
	for i := range s.view.Home {
		s.view.Home[i] = -1
		if h, ok := homes[i]; ok {
			s.view.Home[i] = h
		}
	}
	if t.mode == modeSwitchIndependent && len(ordered) > 0 {
		s.bcastRx = ordered[0].id
		for _, m := range ordered {
			if m.cfg.Primary {
				s.bcastRx = m.id
			}
		}
	}
	now := t.now()
	if old := t.snap.Load(); old != nil && old.bcastRx >= 0 && old.bcastRx != s.bcastRx {
		// The previous broadcast member still delivers what is in its
		// ring; the filter keeps it and the new one apart.
		t.bcastUntil[old.bcastRx] = now + bcastWindow
	}
	if s.bcastRx >= 0 {
		t.bcastUntil[s.bcastRx] = 0
	}
	s.bcastUntil = t.bcastUntil
	prev := t.homes
	t.homes = homes
	for vid, h := range homes {
		if old, ok := prev[vid]; ok && old != h {
			t.moved[vid] = homeMove{from: old, at: now}
		}
	}
	s.prevHome = make([]int, len(t.vnics))
	s.movedAt = make([]int64, len(t.vnics))
	for i := range s.prevHome {
		s.prevHome[i] = -1
		if mv, ok := t.moved[i]; ok && now-mv.at < homeGrace {
			s.prevHome[i], s.movedAt[i] = mv.from, mv.at
		}
	}
	if old := t.snap.Load(); old != nil {
		s.gen = old.gen + 1
	} else {
		s.gen = 1
	}
	t.snap.Store(s)

	for vid, h := range homes {
		if old, ok := prev[vid]; ok && old != h {
			v := t.vnics[vid]
			t.log.Info("vnic moved", "vnic", v.name, "from", t.memberName(old), "to", t.memberName(h), "reason", why)
			t.c.vnicMoves.Add(1)
			t.announce(v, t.memberByID(h))
		}
	}
}

func (t *Team) memberByID(id int) *member {
	for _, m := range t.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

func (t *Team) memberName(id int) string {
	if m := t.memberByID(id); m != nil {
		return m.name
	}
	return ""
}
