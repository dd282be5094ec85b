package lacp

import (
	"time"

	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// rxMachine is the Receive machine of 802.1AX-2014 6.4.12 (Figure 6-18).
type rxMachine struct {
	state        RxState
	currentWhile timer // current_while_timer, 6.4.10
}

// rxIn holds what the Receive machine reads.
type rxIn struct {
	begin       bool // BEGIN
	portEnabled bool // port_enabled (link up)
	lacpEnabled bool // LACP_Enabled (full duplex)
	portMoved   bool // port_moved
	// pdu is a LACPDU received since the last step, or nil. It is
	// consumed by the first state that takes it.
	pdu *lacpdu.PDU
	// actor holds the Actor_Oper values, state included.
	actor lacpdu.PortInfo
	// partner holds the Partner_Oper values.
	partner lacpdu.PortInfo
	// partnerAdmin holds the Partner_Admin values recordDefault copies.
	partnerAdmin lacpdu.PortInfo
}

// rxOut holds what the Receive machine writes.
type rxOut struct {
	actorState lacpdu.State    // Actor_Oper_Port_State, Expired and Defaulted updated
	partner    lacpdu.PortInfo // Partner_Oper values
	portMoved  bool            // port_moved, cleared in INITIALIZE
	unselect   bool            // Selected was set to UNSELECTED
	ntt        bool            // NTT was set
	used       bool            // the pdu was recorded
}

// step runs the Receive machine until it rests.
func (m rxMachine) step(in rxIn, now time.Duration) (rxMachine, rxOut) {
	out := rxOut{actorState: in.actor.State, partner: in.partner, portMoved: in.portMoved}
	pdu := in.pdu
	begin := in.begin
	// Every transition either consumes begin or the PDU, or moves toward
	// a state that only leaves on one of them or on a timer, so a handful
	// of rounds always suffices; the bound is a guard.
	for range 8 {
		next, ok := m.next(begin, pdu, &in, &out, now)
		if !ok {
			break
		}
		begin = false
		if next == RxCurrent {
			m.enterCurrent(pdu, &in, &out, now)
			pdu = nil
			continue
		}
		m.enter(next, &in, &out, now)
	}
	return m, out
}

// next returns the state the machine moves to, if any.
func (m *rxMachine) next(begin bool, pdu *lacpdu.PDU, in *rxIn, out *rxOut, now time.Duration) (RxState, bool) {
	switch {
	case begin:
		return RxInitialize, true
	case !in.portEnabled && !out.portMoved:
		// Global transition; re-entering PORT_DISABLED changes nothing.
		return RxPortDisabled, m.state != RxPortDisabled
	}
	switch m.state {
	case RxInitialize:
		return RxPortDisabled, true
	case RxPortDisabled:
		switch {
		case out.portMoved:
			return RxInitialize, true
		case in.portEnabled && in.lacpEnabled:
			return RxExpired, true
		case in.portEnabled && !in.lacpEnabled:
			return RxLACPDisabled, true
		}
	case RxLACPDisabled:
		if in.lacpEnabled {
			return RxPortDisabled, true
		}
	case RxExpired:
		// A PDU that arrives together with the timeout wins.
		switch {
		case pdu != nil:
			return RxCurrent, true
		case m.currentWhile.expired(now):
			return RxDefaulted, true
		}
	case RxDefaulted:
		if pdu != nil {
			return RxCurrent, true
		}
	case RxCurrent:
		switch {
		case pdu != nil:
			return RxCurrent, true
		case m.currentWhile.expired(now):
			return RxExpired, true
		}
	}
	return m.state, false
}

// enter performs the actions of every state but CURRENT.
func (m *rxMachine) enter(s RxState, in *rxIn, out *rxOut, now time.Duration) {
	m.state = s
	switch s {
	case RxInitialize:
		out.unselect = true
		recordDefault(in, out)
		out.actorState &^= lacpdu.Expired
		out.portMoved = false
	case RxPortDisabled:
		out.partner.State &^= lacpdu.Synchronization
	case RxExpired:
		out.partner.State &^= lacpdu.Synchronization
		out.partner.State |= lacpdu.Timeout // short timeout
		m.currentWhile = startTimer(now, ShortTimeoutTime)
		out.actorState |= lacpdu.Expired
	case RxLACPDisabled:
		out.unselect = true
		recordDefault(in, out)
		out.partner.State &^= lacpdu.Aggregation
		out.actorState &^= lacpdu.Expired
	case RxDefaulted:
		// update_Default_Selected, then recordDefault (6.4.9).
		if !sameActorFields(&in.partnerAdmin, &out.partner) {
			out.unselect = true
		}
		recordDefault(in, out)
		out.actorState &^= lacpdu.Expired
	}
}

// enterCurrent performs the actions of CURRENT for pdu.
func (m *rxMachine) enterCurrent(pdu *lacpdu.PDU, in *rxIn, out *rxOut, now time.Duration) {
	m.state = RxCurrent
	// update_Selected (6.4.9): a different partner means a different LAG.
	if !sameActorFields(&pdu.Actor, &out.partner) {
		out.unselect = true
	}
	// update_NTT (6.4.9): tell the partner if it has our state wrong.
	actor := in.actor
	actor.State = out.actorState
	const nttBits = lacpdu.Activity | lacpdu.Timeout | lacpdu.Synchronization | lacpdu.Aggregation
	if !sameActorFields(&pdu.Partner, &actor) || pdu.Partner.State&nttBits != actor.State&nttBits {
		out.ntt = true
	}
	recordPDU(pdu, &actor, out)
	timeout := LongTimeoutTime
	if out.actorState&lacpdu.Timeout != 0 {
		timeout = ShortTimeoutTime
	}
	m.currentWhile = startTimer(now, timeout)
	out.actorState &^= lacpdu.Expired
	out.used = true
}

// recordPDU records the partner's view from a LACPDU (6.4.9).
func recordPDU(pdu *lacpdu.PDU, actor *lacpdu.PortInfo, out *rxOut) {
	out.partner = pdu.Actor
	out.actorState &^= lacpdu.Defaulted
	a := pdu.Actor.State
	// The partner is in sync if it has our information right and says it
	// is in sync, or if it is an individual link that says so; and one of
	// the two ends is active.
	matched := sameActorFields(&pdu.Partner, actor) && a.Has(lacpdu.Synchronization)
	individual := !a.Has(lacpdu.Aggregation) && a.Has(lacpdu.Synchronization)
	active := a.Has(lacpdu.Activity) ||
		(actor.State.Has(lacpdu.Activity) && pdu.Partner.State.Has(lacpdu.Activity))
	if (matched || individual) && active {
		out.partner.State |= lacpdu.Synchronization
	} else {
		out.partner.State &^= lacpdu.Synchronization
	}
}

// recordDefault takes the administrative partner values (6.4.9).
func recordDefault(in *rxIn, out *rxOut) {
	out.partner = in.partnerAdmin
	out.actorState |= lacpdu.Defaulted
}

// timeoutChanged restarts a running current_while_timer with the actor's
// new LACP_Timeout. 802.1AX-2014 6.4.12 only restarts it when a LACPDU
// arrives, so after a change from Short to Long Timeout the old 3 s timer
// would expire while the partner, told of the change, has already moved to
// SLOW_PERIODIC and stays silent for up to 30 s: the link would drop out of
// sync for nothing. (From Long to Short the partner answers at once, since
// its Periodic machine leaves SLOW_PERIODIC through PERIODIC_TX.)
func (m rxMachine) timeoutChanged(short bool, now time.Duration) rxMachine {
	if m.state != RxCurrent {
		return m
	}
	if short {
		m.currentWhile = startTimer(now, ShortTimeoutTime)
	} else {
		m.currentWhile = startTimer(now, LongTimeoutTime)
	}
	return m
}
