package lacp

import (
	"time"

	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// muxMachine is the Mux machine with coupled control of 802.1AX-2014
// 6.4.15 (Figure 6-22): collecting and distributing are turned on and off
// together.
type muxMachine struct {
	state     MuxState
	waitWhile timer // wait_while_timer, 6.4.10
}

// muxIn holds what the Mux machine reads.
type muxIn struct {
	begin    bool
	selected Selection
	// othersReady is Ready (6.4.8) without this port: the wait_while
	// timers of the other ports waiting for the same aggregator have
	// expired. The machine adds its own Ready_N.
	othersReady bool
	partnerSync bool // Partner_Oper_Port_State.Synchronization
	// actorState is Actor_Oper_Port_State.
	actorState lacpdu.State
	// wait is how long WAITING waits: Aggregate_Wait_Time (6.4.4),
	// AggregateWaitTime unless the Runner was told otherwise.
	wait time.Duration
}

// readyN is Ready_N of 6.4.8: the port has waited its wait.
func (m muxMachine) readyN(now time.Duration) bool {
	return m.state == MuxWaiting && m.waitWhile.expired(now)
}

// step runs the machine until it rests. It returns the new
// Actor_Oper_Port_State (Synchronization, Collecting and Distributing) and
// whether a state it entered set NTT.
func (m muxMachine) step(in muxIn, now time.Duration) (_ muxMachine, actor lacpdu.State, ntt bool) {
	actor = in.actorState
	if in.begin {
		m.enter(MuxDetached, &actor, now, in.wait)
		ntt = true
	}
	for range 6 {
		next, ok := m.next(&in, now)
		if !ok {
			break
		}
		m.enter(next, &actor, now, in.wait)
		if next != MuxWaiting {
			ntt = true
		}
	}
	return m, actor, ntt
}

func (m *muxMachine) next(in *muxIn, now time.Duration) (MuxState, bool) {
	sel := in.selected
	switch m.state {
	case MuxDetached:
		if sel == Selected || sel == Standby {
			return MuxWaiting, true
		}
	case MuxWaiting:
		switch {
		case sel == Unselected:
			return MuxDetached, true
		case sel == Selected && in.othersReady && m.readyN(now):
			return MuxAttached, true
		}
	case MuxAttached:
		switch {
		case sel != Selected:
			return MuxDetached, true
		case in.partnerSync:
			return MuxCollectingDistributing, true
		}
	case MuxCollectingDistributing:
		if sel != Selected || !in.partnerSync {
			return MuxAttached, true
		}
	}
	return m.state, false
}

// enter performs a state's actions on the actor state bits. Attaching and
// enabling collection/distribution are what the Runner reads back from the
// state (Attach_Mux_To_Aggregator, Enable_Collecting_Distributing, 6.4.9).
func (m *muxMachine) enter(s MuxState, actor *lacpdu.State, now, wait time.Duration) {
	m.state = s
	const cd = lacpdu.Collecting | lacpdu.Distributing
	switch s {
	case MuxDetached:
		*actor &^= lacpdu.Synchronization | cd
		m.waitWhile = timer{}
	case MuxWaiting:
		m.waitWhile = startTimer(now, wait)
	case MuxAttached:
		*actor |= lacpdu.Synchronization
		*actor &^= cd
		m.waitWhile = timer{}
	case MuxCollectingDistributing:
		*actor |= cd
	}
}

// shorten makes a port that is WAITING wait no longer than wait from now
// (the Runner's wait was shortened).
func (m *muxMachine) shorten(now, wait time.Duration) {
	if m.state == MuxWaiting && m.waitWhile.at > now+wait {
		m.waitWhile = startTimer(now, wait)
	}
}
