package lacp

import "time"

// periodicMachine is the Periodic Transmission machine of 802.1AX-2014
// 6.4.13 (Figure 6-19). It asks for a LACPDU every FastPeriodicTime or
// SlowPeriodicTime, as the partner's LACP_Timeout wants.
type periodicMachine struct {
	state    PeriodicState
	periodic timer // periodic_timer, 6.4.10
}

// periodicIn holds what the Periodic machine reads.
type periodicIn struct {
	begin               bool
	portEnabled         bool
	lacpEnabled         bool
	actorActive         bool // Actor_Oper_Port_State.LACP_Activity
	partnerActive       bool // Partner_Oper_Port_State.LACP_Activity
	partnerShortTimeout bool // Partner_Oper_Port_State.LACP_Timeout
}

// step runs the machine until it rests in NO_PERIODIC, FAST_PERIODIC or
// SLOW_PERIODIC; ntt reports that PERIODIC_TX set NTT.
func (m periodicMachine) step(in periodicIn, now time.Duration) (_ periodicMachine, ntt bool) {
	// Global transition: no periodic LACPDUs on a disabled port, or when
	// both ends are passive.
	if in.begin || !in.portEnabled || !in.lacpEnabled || (!in.actorActive && !in.partnerActive) {
		m.state = NoPeriodic
		m.periodic = timer{}
		return m, false
	}
	for range 4 { // at most NO_PERIODIC -> FAST -> PERIODIC_TX -> FAST/SLOW
		switch m.state {
		case NoPeriodic:
			m.enter(FastPeriodic, now)
		case FastPeriodic:
			switch {
			case m.periodic.expired(now):
				m.state = PeriodicTx
			case !in.partnerShortTimeout:
				m.enter(SlowPeriodic, now)
			default:
				return m, ntt
			}
		case SlowPeriodic:
			if !m.periodic.expired(now) && !in.partnerShortTimeout {
				return m, ntt
			}
			m.state = PeriodicTx
		case PeriodicTx:
			ntt = true
			if in.partnerShortTimeout {
				m.enter(FastPeriodic, now)
			} else {
				m.enter(SlowPeriodic, now)
			}
		}
	}
	return m, ntt
}

func (m *periodicMachine) enter(s PeriodicState, now time.Duration) {
	m.state = s
	if s == FastPeriodic {
		m.periodic = startTimer(now, FastPeriodicTime)
	} else {
		m.periodic = startTimer(now, SlowPeriodicTime)
	}
}
