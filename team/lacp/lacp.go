// Package lacp runs the Link Aggregation Control Protocol of IEEE
// 802.1AX-2014 clause 6.4 for the member ports of one team.
//
// Each machine of the standard — Receive (6.4.12), Periodic Transmission
// (6.4.13), Selection Logic (6.4.14), Mux with coupled control (6.4.15),
// Transmit (6.4.16) and Churn Detection (6.4.17) — is a typed state with a
// pure transition function (state, inputs, now) -> (state, outputs). A Runner
// holds the per-port variables of 6.4.7, feeds the machines and applies what
// they return. Nothing here reads the clock, sleeps or starts goroutines:
// the caller passes the time (any monotonic time.Duration, e.g. time since
// start) into every call and calls Tick by NextDeadline. A Runner is not
// safe for concurrent use.
//
// The team has one logical aggregator that carries traffic. Ports whose
// partners differ form different Link Aggregation Groups; the Selection
// Logic picks one of them (see Runner for the rule) and keeps the others in
// STANDBY.
package lacp

import (
	"errors"
	"fmt"
	"time"

	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// Timer constants of 802.1AX-2014 6.4.4.
const (
	FastPeriodicTime   = 1 * time.Second
	SlowPeriodicTime   = 30 * time.Second
	ShortTimeoutTime   = 3 * time.Second
	LongTimeoutTime    = 90 * time.Second
	ChurnDetectionTime = 60 * time.Second
	AggregateWaitTime  = 2 * time.Second
)

// MaxTxPerFastPeriod is the most LACPDUs a port sends in any
// FastPeriodicTime interval (802.1AX-2014 6.4.16).
const MaxTxPerFastPeriod = 3

// Errors.
var (
	// ErrUnknownPort means no port with that id was added.
	ErrUnknownPort = errors.New("lacp: unknown port")
	// ErrPortExists means AddPort was called twice with one id.
	ErrPortExists = errors.New("lacp: port already added")
	// ErrConfig means a Config or PortConfig is invalid.
	ErrConfig = errors.New("lacp: invalid configuration")
)

// Config is the team-wide (System) configuration, 802.1AX-2014 6.4.5.
type Config struct {
	// SystemPriority and SystemMAC form the Actor's System Identifier;
	// a lower value is a higher priority. SystemMAC must not be zero.
	SystemPriority uint16
	SystemMAC      [6]byte
	// Active sets LACP_Activity: an active port sends LACPDUs on its own,
	// a passive one only answers an active partner. Two passive ends
	// never aggregate.
	Active bool
	// Fast sets LACP_Timeout to Short: the partner is asked to send every
	// FastPeriodicTime and is timed out after ShortTimeoutTime, instead of
	// SlowPeriodicTime and LongTimeoutTime.
	Fast bool
	// MinPorts is the number of ports the chosen aggregator needs before
	// any of its ports are SELECTED and carry traffic. A port counts when
	// its link is up and it has partner information from a LACPDU
	// (receive machine CURRENT or EXPIRED). 0 means 1.
	MinPorts int
}

func (c *Config) validate() error {
	if c.SystemMAC == ([6]byte{}) {
		return fmt.Errorf("%w: system MAC is zero", ErrConfig)
	}
	if c.SystemMAC[0]&1 != 0 {
		return fmt.Errorf("%w: system MAC %x is a group address", ErrConfig, c.SystemMAC)
	}
	if c.MinPorts < 0 || c.MinPorts > 1024 {
		return fmt.Errorf("%w: min ports %d out of 0..1024", ErrConfig, c.MinPorts)
	}
	return nil
}

func (c *Config) minPorts() int { return max(c.MinPorts, 1) }

// PortConfig is the configuration of one Aggregation Port (6.4.7).
type PortConfig struct {
	// Number is the Actor_Port number, unique in the team and not 0.
	Number uint16
	// Priority is the Actor_Port_Priority; lower is better.
	Priority uint16
	// Key is the Actor_Oper_Port_Key. Only ports with equal keys
	// aggregate.
	Key uint16
	// MAC is the port's own address, the source of the frames it sends.
	MAC [6]byte
}

// RxState is a state of the Receive machine, 802.1AX-2014 6.4.12.
type RxState uint8

// Receive machine states.
const (
	RxInitialize RxState = iota
	RxPortDisabled
	RxExpired
	RxLACPDisabled
	RxDefaulted
	RxCurrent
)

var rxNames = [...]string{"INITIALIZE", "PORT_DISABLED", "EXPIRED", "LACP_DISABLED", "DEFAULTED", "CURRENT"}

func (s RxState) String() string { return name(rxNames[:], s) }

// PeriodicState is a state of the Periodic Transmission machine,
// 802.1AX-2014 6.4.13.
type PeriodicState uint8

// Periodic Transmission machine states.
const (
	NoPeriodic PeriodicState = iota
	FastPeriodic
	SlowPeriodic
	PeriodicTx
)

var periodicNames = [...]string{"NO_PERIODIC", "FAST_PERIODIC", "SLOW_PERIODIC", "PERIODIC_TX"}

func (s PeriodicState) String() string { return name(periodicNames[:], s) }

// MuxState is a state of the Mux machine with coupled control,
// 802.1AX-2014 6.4.15.
type MuxState uint8

// Mux machine states.
const (
	MuxDetached MuxState = iota
	MuxWaiting
	MuxAttached
	MuxCollectingDistributing
)

var muxNames = [...]string{"DETACHED", "WAITING", "ATTACHED", "COLLECTING_DISTRIBUTING"}

func (s MuxState) String() string { return name(muxNames[:], s) }

// Selection is the value of a port's Selected variable, 802.1AX-2014 6.4.8.
type Selection uint8

// Selected values.
const (
	Unselected Selection = iota
	Selected
	Standby
)

var selectionNames = [...]string{"UNSELECTED", "SELECTED", "STANDBY"}

func (s Selection) String() string { return name(selectionNames[:], s) }

// ChurnState is a state of a Churn Detection machine, 802.1AX-2014 6.4.17.
type ChurnState uint8

// Churn Detection machine states (the actor and partner machines share
// them: NO_ACTOR_CHURN and NO_PARTNER_CHURN are NoChurn, and so on).
const (
	ChurnMonitor ChurnState = iota
	NoChurn
	Churn
)

var churnNames = [...]string{"CHURN_MONITOR", "NO_CHURN", "CHURN"}

func (s ChurnState) String() string { return name(churnNames[:], s) }

func name[T ~uint8](names []string, v T) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%d", uint8(v))
}

// timer is a timer of 802.1AX-2014 6.4.10 kept as an absolute deadline. A
// started timer stays expired once its deadline has passed, until it is
// started again or stopped, which is how the state diagrams test it.
type timer struct {
	at time.Duration
	on bool
}

func startTimer(now, d time.Duration) timer { return timer{at: now + d, on: true} }

func (t timer) expired(now time.Duration) bool { return t.on && now >= t.at }

// pending reports the deadline of a running timer that has not expired.
func (t timer) pending(now time.Duration) (time.Duration, bool) {
	return t.at, t.on && t.at > now
}

// sameActorFields reports whether a and b agree on the fields recordPDU,
// update_Selected and update_Default_Selected compare (6.4.9): port number
// and priority, System ID, key and the Aggregation bit.
func sameActorFields(a, b *lacpdu.PortInfo) bool {
	return a.Port == b.Port && a.PortPriority == b.PortPriority &&
		a.System == b.System && a.SystemPriority == b.SystemPriority &&
		a.Key == b.Key && a.State&lacpdu.Aggregation == b.State&lacpdu.Aggregation
}
