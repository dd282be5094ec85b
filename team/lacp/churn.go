package lacp

import "time"

// churnMachine is the Actor or Partner Churn Detection machine of
// 802.1AX-2014 6.4.17 (Figures 6-23, 6-24). Churn is reported when the
// watched Synchronization bit has not been set for ChurnDetectionTime while
// the port was enabled: the link is not aggregating and somebody should
// look at it. It is informational; nothing else reads it.
type churnMachine struct {
	state ChurnState
	churn timer // actor_churn_timer or partner_churn_timer, 6.4.10
}

// step advances the machine. inSync is Actor_Oper_Port_State.Synchronization
// for the actor machine, Partner_Oper_Port_State.Synchronization for the
// partner one.
func (m churnMachine) step(begin, portEnabled, inSync bool, now time.Duration) churnMachine {
	if begin || !portEnabled {
		// Global transition into the monitor state; while the port is
		// down the timer keeps restarting.
		return churnMachine{state: ChurnMonitor, churn: startTimer(now, ChurnDetectionTime)}
	}
	switch m.state {
	case ChurnMonitor:
		switch {
		case inSync:
			m = churnMachine{state: NoChurn}
		case m.churn.expired(now):
			m = churnMachine{state: Churn}
		}
	case NoChurn:
		if !inSync {
			m = churnMachine{state: ChurnMonitor, churn: startTimer(now, ChurnDetectionTime)}
		}
	case Churn:
		if inSync {
			m = churnMachine{state: NoChurn}
		}
	}
	return m
}
