package lacp

import "github.com/teamd-go/teamd-go/team/lacpdu"

// lagID identifies a Link Aggregation Group (802.1AX-2014 6.3.6.1): the
// System ID and key of both ends, plus the port identifiers when either
// end is an Individual link, which aggregates with nothing.
type lagID struct {
	actorSysPrio, partnerSysPrio uint16
	actorSys, partnerSys         [6]byte
	actorKey, partnerKey         uint16
	// Zero unless the link is Individual.
	actorPortPrio, actorPort     uint16
	partnerPortPrio, partnerPort uint16
}

func makeLAGID(actor, partner *lacpdu.PortInfo) lagID {
	id := lagID{
		actorSysPrio: actor.SystemPriority, actorSys: actor.System, actorKey: actor.Key,
		partnerSysPrio: partner.SystemPriority, partnerSys: partner.System, partnerKey: partner.Key,
	}
	if !actor.State.Has(lacpdu.Aggregation) || !partner.State.Has(lacpdu.Aggregation) {
		id.actorPortPrio, id.actorPort = actor.PortPriority, actor.Port
		id.partnerPortPrio, id.partnerPort = partner.PortPriority, partner.Port
	}
	return id
}

// selPort is what the Selection Logic knows of a port.
type selPort struct {
	// eligible: the port is enabled, has partner information from a
	// LACPDU (receive machine CURRENT or EXPIRED, not Defaulted) and is
	// not looped back to its own System.
	eligible bool
	lag      lagID  // the group the port belongs in, if eligible
	priority uint16 // Actor_Port_Priority
	number   uint16 // Actor_Port
	// selected and agg are the port's Selected variable and the group it
	// is selected (or standing by) for.
	selected Selection
	agg      lagID
	// detached: the mux machine is DETACHED, so the port may be given a
	// new aggregator.
	detached bool
}

// selectAggregators is the Selection Logic (802.1AX-2014 6.4.14) for a team
// with one aggregator that carries traffic. It returns each port's new
// Selected value and group, in the order of ports.
//
//  1. A port whose group changed (or that is no longer eligible) becomes
//     UNSELECTED, as update_Selected would make it; it gets its new group
//     only once its mux machine has detached it (6.4.14.1).
//  2. Eligible ports with the same lagID form one group.
//  3. Groups with fewer eligible ports than minPorts are out. Among the rest
//     the best group wins, compared in this order (teamd's "lacp_prio"
//     policy spelled out):
//     a. the lower partner System Priority;
//     b. the lower best (lowest) Actor_Port_Priority among its ports;
//     c. more ports;
//     d. the lower lowest Actor_Port number, which is unique, so there is
//     always exactly one winner.
//  4. Ports of the winning group are SELECTED, ports of other groups
//     STANDBY: they wait, attached to nothing, and take over if their
//     group wins later.
func selectAggregators(ports []selPort, minPorts int) []selPort {
	out := make([]selPort, len(ports))
	copy(out, ports)

	type group struct {
		partnerSysPrio uint16
		bestPrio       uint16
		count          int
		lowestNumber   uint16
	}
	groups := make(map[lagID]*group)
	for i := range out {
		p := &out[i]
		if p.selected != Unselected && (!p.eligible || p.agg != p.lag) {
			p.selected = Unselected
		}
		if !p.eligible {
			continue
		}
		g := groups[p.lag]
		if g == nil {
			g = &group{partnerSysPrio: p.lag.partnerSysPrio, bestPrio: p.priority, lowestNumber: p.number}
			groups[p.lag] = g
		}
		g.count++
		g.bestPrio = min(g.bestPrio, p.priority)
		g.lowestNumber = min(g.lowestNumber, p.number)
	}

	var best *group
	var bestID lagID
	for id, g := range groups {
		if g.count < minPorts {
			continue
		}
		if best == nil || better(g.partnerSysPrio, g.bestPrio, g.count, g.lowestNumber,
			best.partnerSysPrio, best.bestPrio, best.count, best.lowestNumber) {
			best, bestID = g, id
		}
	}

	for i := range out {
		p := &out[i]
		if !p.eligible {
			continue
		}
		want := Standby
		if best != nil && p.lag == bestID {
			want = Selected
		}
		if p.selected == Unselected && !p.detached {
			continue // the mux machine detaches it first
		}
		p.selected, p.agg = want, p.lag
	}
	return out
}

// better reports whether group a beats group b (rule 3 above).
func better(aSys, aPrio uint16, aCount int, aNum uint16, bSys, bPrio uint16, bCount int, bNum uint16) bool {
	if aSys != bSys {
		return aSys < bSys
	}
	if aPrio != bPrio {
		return aPrio < bPrio
	}
	if aCount != bCount {
		return aCount > bCount
	}
	return aNum < bNum
}
