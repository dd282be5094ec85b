package lacp

import (
	"fmt"
	"slices"
	"time"

	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// partnerAdmin holds the Partner_Admin values (6.4.7) used when no partner
// is heard: all zero, so a defaulted partner is passive, individual, out of
// sync and never carries traffic. (teamd-go has no manual partner
// configuration.)
var partnerAdmin = lacpdu.PortInfo{}

// Runner runs LACP for the member ports of one team.
//
// Drive it like this. Every call takes now, a monotonic time (a value older
// than one already seen counts as that one):
//
//   - AddPort when a member joins, RemovePort when it leaves, SetLink on
//     every carrier change (ports start with the link down).
//   - HandleFrame (or Receive / ReceiveMarker) for every Slow Protocols
//     frame a member receives.
//   - Tick at NextDeadline, or earlier: extra Ticks are harmless.
//   - After any of these calls, Drain: send Output.Transmit on the named
//     ports, log Output.Events, and when Output.DistributingChanged re-read
//     Distributing and move traffic to exactly those ports.
//
// Selection rule: ports whose partners share a System ID and key, and that
// share our key, form one group; the team uses one group at a time, chosen
// by the lowest partner System Priority, then the lowest port priority in
// the group, then the most ports, then the lowest port number. A group with
// fewer than MinPorts ports whose partner is current is never used. The
// ports of the other groups stand by (Selected = STANDBY, not in sync).
type Runner struct {
	cfg   Config
	wait  time.Duration // Aggregate_Wait_Time in use, see SetAggregateWait
	ports map[int]*port
	ids   []int // sorted port ids
	now   time.Duration
	out   Output
	dist  []int // Distributing() as last reported
}

// port holds the variables of one Aggregation Port (6.4.7, 6.4.8).
type port struct {
	id          int
	cfg         PortConfig
	begin       bool
	enabled     bool // port_enabled
	lacpEnabled bool // LACP_Enabled; always true: members are full duplex
	moved       bool // port_moved
	actor       lacpdu.State
	partner     lacpdu.PortInfo
	selected    Selection
	agg         lagID
	ntt         bool
	pending     *lacpdu.PDU // received, not yet run through the machines

	rx           rxMachine
	periodic     periodicMachine
	mux          muxMachine
	actorChurn   churnMachine
	partnerChurn churnMachine
	tx           txMachine

	counters Counters
}

// Counters count a port's Slow Protocols traffic.
type Counters struct {
	RxLACPDU  uint64 // LACPDUs received
	TxLACPDU  uint64 // LACPDUs handed out to send
	RxMarker  uint64 // Marker PDUs received
	TxMarker  uint64 // Marker Responses handed out to send
	RxInvalid uint64 // frames HandleFrame rejected
	RxIgnored uint64 // valid PDUs dropped: link down, or LACP disabled
}

// Output is what the Runner asks of the caller since the last Drain.
type Output struct {
	// Transmit lists the PDUs to send, oldest first.
	Transmit []Transmit
	// Events lists state changes, for logging.
	Events []Event
	// DistributingChanged is set when the set of ports that collect and
	// distribute changed; read Distributing.
	DistributingChanged bool
}

// Transmit is one PDU to send on a port: a LACPDU or a Marker Response.
type Transmit struct {
	Port   int
	Src    [6]byte // the port's MAC (PortConfig.MAC)
	PDU    *lacpdu.PDU
	Marker *lacpdu.Marker
}

// AppendFrame appends the Ethernet frame that carries t to b.
func (t Transmit) AppendFrame(b []byte) ([]byte, error) {
	if t.Marker != nil {
		return lacpdu.AppendFrame(b, t.Src, t.Marker)
	}
	return lacpdu.AppendFrame(b, t.Src, t.PDU)
}

// Machine names the machine an Event comes from.
type Machine string

// Machines.
const (
	MachineReceive      Machine = "receive"
	MachinePeriodic     Machine = "periodic"
	MachineMux          Machine = "mux"
	MachineSelection    Machine = "selection"
	MachineActorChurn   Machine = "actor_churn"
	MachinePartnerChurn Machine = "partner_churn"
)

// Event is a state change of one machine of one port. From and To are the
// standard's state names (e.g. "WAITING" -> "ATTACHED"; for the selection
// "UNSELECTED" -> "SELECTED").
type Event struct {
	At       time.Duration
	Port     int
	Machine  Machine
	From, To string
	// Actor and Partner are the port's actor and partner states after
	// the change.
	Actor, Partner lacpdu.State
}

func (e Event) String() string {
	return fmt.Sprintf("%v port %d %s %s -> %s actor %v partner %v",
		e.At, e.Port, e.Machine, e.From, e.To, e.Actor, e.Partner)
}

// Status is a port's LACP state, for `ctl state` (docs/contract.md §4) and
// debugging.
type Status struct {
	Port int
	Link bool
	// Actor is what the port sends as Actor information; Actor.State
	// printed with String is actor_state in docs/contract.md §4.
	Actor lacpdu.PortInfo
	// Partner is the partner information in use (zero when defaulted).
	Partner                  lacpdu.PortInfo
	Receive                  RxState
	Periodic                 PeriodicState
	Mux                      MuxState
	Selected                 Selection
	Collecting, Distributing bool
	ActorChurn, PartnerChurn bool
	// Aggregator is the id of the lowest-numbered port of the group the
	// port is selected or standing by for, or -1.
	Aggregator int
	Counters   Counters
}

// New returns a Runner with no ports.
func New(cfg Config) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, wait: AggregateWaitTime, ports: make(map[int]*port)}, nil
}

// SetAggregateWait sets how long a port selected for an aggregator waits
// before it attaches (Aggregate_Wait_Time, AggregateWaitTime by default);
// a port already waiting waits no longer than d from now.
//
// Deviation: 802.1AX-2014 6.4.4 makes Aggregate_Wait_Time a constant. The
// wait lets ports that come up together attach together, but a port
// shows itself out of sync while it waits, and a partner carries nothing
// on a port whose actor is out of sync. When traffic already flows
// outside LACP (the team's fallback), every moment of waiting is traffic
// lost, so the caller may shorten it; ports that arrive late then join
// a distributing aggregator one by one, which LACP allows.
func (r *Runner) SetAggregateWait(d time.Duration, now time.Duration) {
	r.wait = max(d, 0)
	r.now = max(now, r.now)
	for _, p := range r.ports {
		p.mux.shorten(r.now, r.wait)
	}
	r.step(now)
}

// AggregateWait returns the Aggregate_Wait_Time in use.
func (r *Runner) AggregateWait() time.Duration { return r.wait }

// Config returns the configuration in use.
func (r *Runner) Config() Config { return r.cfg }

// Reconfigure applies a new team configuration without restarting the
// machines: a change of Active or Fast is sent to the partners at once (NTT)
// and keeps the aggregation (see rxMachine.timeoutChanged); a change of SystemPriority or SystemMAC
// changes the LAG, so the ports detach and join again (6.4.14); MinPorts
// takes effect at once. On error nothing changes.
func (r *Runner) Reconfigure(cfg Config, now time.Duration) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	old := r.cfg
	r.cfg = cfg
	r.now = max(now, r.now)
	for _, p := range r.ports {
		p.actor = r.adminBits(p.actor)
		if old.Fast != cfg.Fast {
			p.rx = p.rx.timeoutChanged(cfg.Fast, r.now)
		}
		if old.Active != cfg.Active || old.Fast != cfg.Fast ||
			old.SystemPriority != cfg.SystemPriority || old.SystemMAC != cfg.SystemMAC {
			p.ntt = true
		}
	}
	r.step(now)
	return nil
}

// adminBits sets the actor state bits that come from configuration.
func (r *Runner) adminBits(s lacpdu.State) lacpdu.State {
	s &^= lacpdu.Activity | lacpdu.Timeout
	if r.cfg.Active {
		s |= lacpdu.Activity
	}
	if r.cfg.Fast {
		s |= lacpdu.Timeout
	}
	// teamd-go ports always aggregate.
	return s | lacpdu.Aggregation
}

func (r *Runner) checkPortConfig(id int, pc PortConfig) error {
	if pc.Number == 0 {
		return fmt.Errorf("%w: port %d: port number 0", ErrConfig, id)
	}
	for _, q := range r.ports {
		if q.id != id && q.cfg.Number == pc.Number {
			return fmt.Errorf("%w: port %d: port number %d already used by port %d", ErrConfig, id, pc.Number, q.id)
		}
	}
	return nil
}

// AddPort adds a member port with its link down. id is the caller's name
// for the port (e.g. an interface index).
func (r *Runner) AddPort(id int, pc PortConfig, now time.Duration) error {
	if _, ok := r.ports[id]; ok {
		return fmt.Errorf("%w: %d", ErrPortExists, id)
	}
	if err := r.checkPortConfig(id, pc); err != nil {
		return err
	}
	p := &port{id: id, cfg: pc, begin: true, lacpEnabled: true, partner: partnerAdmin}
	p.actor = r.adminBits(0)
	r.ports[id] = p
	r.ids = append(r.ids, id)
	slices.Sort(r.ids)
	r.step(now)
	return nil
}

// SetPortConfig changes a port's number, priority, key or MAC. A new key or
// number makes the port leave its aggregator and join again (6.4.14); the
// partner is told at once.
func (r *Runner) SetPortConfig(id int, pc PortConfig, now time.Duration) error {
	p, ok := r.ports[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownPort, id)
	}
	if err := r.checkPortConfig(id, pc); err != nil {
		return err
	}
	if p.cfg != pc {
		p.cfg = pc
		p.ntt = true
	}
	r.step(now)
	return nil
}

// RemovePort removes a port. Its traffic stops at once.
func (r *Runner) RemovePort(id int, now time.Duration) error {
	if _, ok := r.ports[id]; !ok {
		return fmt.Errorf("%w: %d", ErrUnknownPort, id)
	}
	delete(r.ports, id)
	r.ids = slices.DeleteFunc(r.ids, func(x int) bool { return x == id })
	r.step(now)
	return nil
}

// SetLink sets port_enabled: whether the port's link is up.
func (r *Runner) SetLink(id int, up bool, now time.Duration) error {
	p, ok := r.ports[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownPort, id)
	}
	p.enabled = up
	r.step(now)
	return nil
}

// Receive runs a received LACPDU through the machines. A nil pdu is
// ignored.
func (r *Runner) Receive(id int, pdu *lacpdu.PDU, now time.Duration) error {
	p, ok := r.ports[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownPort, id)
	}
	if pdu == nil {
		return nil
	}
	p.counters.RxLACPDU++
	if !p.enabled || !p.lacpEnabled {
		// The Receive machine only takes LACPDUs in EXPIRED, DEFAULTED
		// and CURRENT, which need an enabled port.
		p.counters.RxIgnored++
		return nil
	}
	c := *pdu
	p.pending = &c
	// port_moved (6.4.8): the partner port this LACPDU comes from was
	// last seen on one of our ports that is now disabled.
	for _, q := range r.ports {
		if q != p && q.rx.state == RxPortDisabled &&
			q.partner.System == pdu.Actor.System && q.partner.SystemPriority == pdu.Actor.SystemPriority &&
			q.partner.Port == pdu.Actor.Port && q.partner.PortPriority == pdu.Actor.PortPriority {
			q.moved = true
		}
	}
	r.step(now)
	return nil
}

// HandleFrame decodes a Slow Protocols Ethernet frame received on a port
// and runs it: a LACPDU through Receive, a Marker PDU through
// ReceiveMarker, whose response is queued in Output.Transmit. A frame that
// does not decode is counted and its lacpdu error returned; nothing else
// changes.
func (r *Runner) HandleFrame(id int, frame []byte, now time.Duration) error {
	p, ok := r.ports[id]
	if !ok {
		return fmt.Errorf("%w: %d", ErrUnknownPort, id)
	}
	f, err := lacpdu.ParseFrame(frame)
	if err != nil {
		p.counters.RxInvalid++
		return err
	}
	switch f.Subtype {
	case lacpdu.SubtypeLACP:
		var pdu lacpdu.PDU
		if err := pdu.UnmarshalBinary(f.Payload); err != nil {
			p.counters.RxInvalid++
			return err
		}
		return r.Receive(id, &pdu, now)
	case lacpdu.SubtypeMarker:
		var m lacpdu.Marker
		if err := m.UnmarshalBinary(f.Payload); err != nil {
			p.counters.RxInvalid++
			return err
		}
		resp, err := r.ReceiveMarker(id, &m, now)
		if resp != nil {
			r.out.Transmit = append(r.out.Transmit, Transmit{Port: id, Src: p.cfg.MAC, Marker: resp})
		}
		return err
	}
	p.counters.RxInvalid++
	return fmt.Errorf("%w: slow protocol subtype %#02x", lacpdu.ErrBadSubtype, f.Subtype)
}

// Tick runs the timers due at now.
func (r *Runner) Tick(now time.Duration) { r.step(now) }

// NextDeadline returns when the next timer is due, if any is running; call
// Tick then. Timers of ports with the link down are not running.
func (r *Runner) NextDeadline() (time.Duration, bool) {
	var at time.Duration
	found := false
	add := func(t time.Duration, ok bool) {
		if ok && (!found || t < at) {
			at, found = t, true
		}
	}
	now := r.now
	for _, p := range r.ports {
		if !p.enabled {
			continue
		}
		if s := p.rx.state; s == RxCurrent || s == RxExpired {
			add(p.rx.currentWhile.pending(now))
		}
		if s := p.periodic.state; s == FastPeriodic || s == SlowPeriodic {
			add(p.periodic.periodic.pending(now))
		}
		if p.mux.state == MuxWaiting {
			add(p.mux.waitWhile.pending(now))
		}
		if p.actorChurn.state == ChurnMonitor {
			add(p.actorChurn.churn.pending(now))
		}
		if p.partnerChurn.state == ChurnMonitor {
			add(p.partnerChurn.churn.pending(now))
		}
		if p.ntt && p.periodic.state != NoPeriodic {
			if t := p.tx.nextAllowed(); t > now {
				add(t, true)
			}
		}
	}
	return at, found
}

// Drain returns and forgets the Output gathered since the last Drain.
func (r *Runner) Drain() Output {
	o := r.out
	r.out = Output{}
	return o
}

// Distributing returns the ids of the ports that collect and distribute,
// in ascending order.
func (r *Runner) Distributing() []int {
	var ids []int
	for _, id := range r.ids {
		if r.ports[id].actor.Has(lacpdu.Distributing) {
			ids = append(ids, id)
		}
	}
	return ids
}

// Ports returns the ids of all ports, in ascending order.
func (r *Runner) Ports() []int { return slices.Clone(r.ids) }

// Status returns a port's state.
func (r *Runner) Status(id int) (Status, bool) {
	p, ok := r.ports[id]
	if !ok {
		return Status{}, false
	}
	s := Status{
		Port:         id,
		Link:         p.enabled,
		Actor:        r.actorInfo(p),
		Partner:      p.partner,
		Receive:      p.rx.state,
		Periodic:     p.periodic.state,
		Mux:          p.mux.state,
		Selected:     p.selected,
		Collecting:   p.actor.Has(lacpdu.Collecting),
		Distributing: p.actor.Has(lacpdu.Distributing),
		ActorChurn:   p.actorChurn.state == Churn,
		PartnerChurn: p.partnerChurn.state == Churn,
		Aggregator:   -1,
		Counters:     p.counters,
	}
	if p.selected != Unselected {
		for _, qid := range r.ids { // ascending, so the first is the lowest
			q := r.ports[qid]
			if q.selected != Unselected && q.agg == p.agg {
				s.Aggregator = qid
				break
			}
		}
	}
	return s, true
}

func (r *Runner) actorInfo(p *port) lacpdu.PortInfo {
	return lacpdu.PortInfo{
		SystemPriority: r.cfg.SystemPriority,
		System:         r.cfg.SystemMAC,
		Key:            p.cfg.Key,
		PortPriority:   p.cfg.Priority,
		Port:           p.cfg.Number,
		State:          p.actor,
	}
}

// snapshot is what step compares to report Events.
type snapshot struct {
	rx       RxState
	periodic PeriodicState
	mux      MuxState
	selected Selection
	aChurn   ChurnState
	pChurn   ChurnState
	begin    bool
}

// step runs every machine of every port at now, in the order of the
// standard's data flow: Receive, then Selection Logic, Periodic and Mux
// until they settle, then Churn Detection and Transmit.
func (r *Runner) step(now time.Duration) {
	now = max(now, r.now)
	r.now = now

	before := make(map[int]snapshot, len(r.ports))
	for id, p := range r.ports {
		before[id] = snapshot{p.rx.state, p.periodic.state, p.mux.state, p.selected,
			p.actorChurn.state, p.partnerChurn.state, p.begin}
	}

	for _, id := range r.ids {
		p := r.ports[id]
		var out rxOut
		p.rx, out = p.rx.step(rxIn{
			begin:        p.begin,
			portEnabled:  p.enabled,
			lacpEnabled:  p.lacpEnabled,
			portMoved:    p.moved,
			pdu:          p.pending,
			actor:        r.actorInfo(p),
			partner:      p.partner,
			partnerAdmin: partnerAdmin,
		}, now)
		if p.pending != nil && !out.used {
			p.counters.RxIgnored++
		}
		p.pending = nil
		p.actor, p.partner, p.moved = out.actorState, out.partner, out.portMoved
		if out.unselect {
			p.selected = Unselected
		}
		p.ntt = p.ntt || out.ntt
	}

	// Selection and Mux feed each other (a port is given a new aggregator
	// only once detached; Ready depends on the other ports), so run them
	// until nothing moves. Three rounds cover detach, reselect, wait.
	for range 4 {
		changed := r.selection()
		for _, id := range r.ids {
			p := r.ports[id]
			var ntt bool
			p.periodic, ntt = p.periodic.step(periodicIn{
				begin:               p.begin,
				portEnabled:         p.enabled,
				lacpEnabled:         p.lacpEnabled,
				actorActive:         p.actor.Has(lacpdu.Activity),
				partnerActive:       p.partner.State.Has(lacpdu.Activity),
				partnerShortTimeout: p.partner.State.Has(lacpdu.Timeout),
			}, now)
			p.ntt = p.ntt || ntt

			old := p.mux.state
			p.mux, p.actor, ntt = p.mux.step(muxIn{
				begin:       p.begin,
				selected:    p.selected,
				othersReady: r.othersReady(p, now),
				partnerSync: p.partner.State.Has(lacpdu.Synchronization),
				actorState:  p.actor,
				wait:        r.wait,
			}, now)
			p.ntt = p.ntt || ntt
			changed = changed || p.mux.state != old || p.begin
			p.begin = false
		}
		if !changed {
			break
		}
	}

	for _, id := range r.ids {
		p := r.ports[id]
		begin := before[id].begin
		p.actorChurn = p.actorChurn.step(begin, p.enabled, p.actor.Has(lacpdu.Synchronization), now)
		p.partnerChurn = p.partnerChurn.step(begin, p.enabled, p.partner.State.Has(lacpdu.Synchronization), now)

		var send bool
		p.tx, send = p.tx.step(txIn{
			ntt:         p.ntt,
			portEnabled: p.enabled,
			lacpEnabled: p.lacpEnabled,
			periodic:    p.periodic.state != NoPeriodic,
		}, now)
		if send {
			p.ntt = false
			p.counters.TxLACPDU++
			r.out.Transmit = append(r.out.Transmit, Transmit{Port: id, Src: p.cfg.MAC, PDU: &lacpdu.PDU{
				Actor:   r.actorInfo(p),
				Partner: p.partner,
			}})
		}
	}

	r.events(now, before)
	if dist := r.Distributing(); !slices.Equal(dist, r.dist) {
		r.dist = dist
		r.out.DistributingChanged = true
	}
}

// selection runs the Selection Logic over all ports and reports whether a
// port's Selected value or group changed.
func (r *Runner) selection() bool {
	in := make([]selPort, len(r.ids))
	for i, id := range r.ids {
		p := r.ports[id]
		actor := r.actorInfo(p)
		loopback := p.partner.System == r.cfg.SystemMAC && p.partner.SystemPriority == r.cfg.SystemPriority
		in[i] = selPort{
			// EXPIRED right after INITIALIZE still holds the default
			// partner (Defaulted set): that port has heard nobody.
			eligible: p.enabled && (p.rx.state == RxCurrent || p.rx.state == RxExpired) &&
				!p.actor.Has(lacpdu.Defaulted) && !loopback,
			lag:      makeLAGID(&actor, &p.partner),
			priority: p.cfg.Priority,
			number:   p.cfg.Number,
			selected: p.selected,
			agg:      p.agg,
			detached: p.mux.state == MuxDetached,
		}
	}
	out := selectAggregators(in, r.cfg.minPorts())
	changed := false
	for i, id := range r.ids {
		p := r.ports[id]
		if p.selected != out[i].selected || p.agg != out[i].agg {
			changed = true
			p.selected, p.agg = out[i].selected, out[i].agg
		}
	}
	return changed
}

// othersReady computes Ready (6.4.8) as seen by p: every other port
// SELECTED for p's aggregator and WAITING has waited its wait.
func (r *Runner) othersReady(p *port, now time.Duration) bool {
	for _, q := range r.ports {
		if q != p && q.selected == Selected && q.agg == p.agg &&
			q.mux.state == MuxWaiting && !q.mux.readyN(now) {
			return false
		}
	}
	return true
}

func (r *Runner) events(now time.Duration, before map[int]snapshot) {
	for _, id := range r.ids {
		p := r.ports[id]
		b, ok := before[id]
		if !ok {
			continue
		}
		add := func(m Machine, from, to fmt.Stringer) {
			if from != to {
				r.out.Events = append(r.out.Events, Event{At: now, Port: id, Machine: m,
					From: from.String(), To: to.String(), Actor: p.actor, Partner: p.partner.State})
			}
		}
		add(MachineReceive, b.rx, p.rx.state)
		add(MachineSelection, b.selected, p.selected)
		add(MachineMux, b.mux, p.mux.state)
		add(MachinePeriodic, b.periodic, p.periodic.state)
		add(MachineActorChurn, b.aChurn, p.actorChurn.state)
		add(MachinePartnerChurn, b.pChurn, p.partnerChurn.state)
	}
}
