package team

import (
	"fmt"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/lacp"
	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// lacpMode runs 802.1AX on the team's members (mode: lacp). The Runner is
// pure; this glue, run by the team's control goroutine, feeds it received
// Slow Protocols frames, link changes and time, sends what it asks for and
// has the team republish when the set of distributing members changes.
// Member goroutines only queue frames (Team.slowProtocol).
type lacpMode struct {
	t      *Team
	r      *lacp.Runner
	frames [][]byte // reused by flush
	fb     lacpFallback
}

type slowFrame struct {
	member int
	eth    []byte
}

// lacpConfig maps the team's config onto the Runner's.
func lacpConfig(cfg *config.Config, sysMAC frame.MAC) lacp.Config {
	return lacp.Config{
		SystemPriority: uint16(cfg.LACP.SystemPriority),
		SystemMAC:      sysMAC,
		Active:         cfg.LACP.Active,
		Fast:           cfg.LACP.Rate != config.LACPRateSlow,
		MinPorts:       cfg.LACP.MinPorts,
	}
}

func portConfig(m *member) lacp.PortConfig {
	return lacp.PortConfig{
		Number:   uint16(m.id + 1),
		Priority: uint16(m.cfg.LACPPrio),
		Key:      uint16(m.cfg.LACPKey),
		MAC:      m.mac,
	}
}

func (t *Team) monotonic() time.Duration { return time.Duration(t.now()) }

// startLACP starts LACP on every member. The system MAC is the first
// member's MAC, as bonding and teamd take the team device's.
func (t *Team) startLACP() error {
	var sys frame.MAC
	if len(t.members) > 0 {
		sys = t.members[0].mac
	}
	if sys.IsZero() {
		sys = frame.MAC{0x02, 0x7e, 0xa3, 0, 0, 1}
	}
	r, err := lacp.New(lacpConfig(t.cfg, sys))
	if err != nil {
		return fmt.Errorf("lacp: %w", err)
	}
	now := t.monotonic()
	for _, m := range t.members {
		if err := r.AddPort(m.id, portConfig(m), now); err != nil {
			return fmt.Errorf("lacp port %q: %w", m.name, err)
		}
		_ = r.SetLink(m.id, m.carrier, now)
	}
	t.lacp = &lacpMode{t: t, r: r, fb: newLACPFallback(t.cfg.LACP.Fallback, int64(t.cfg.LACP.FallbackAfter), t.now())}
	t.log.Info("lacp started", "system", frame.MAC(sys), "system_priority", t.cfg.LACP.SystemPriority,
		"active", t.cfg.LACP.Active, "rate", t.cfg.LACP.Rate)
	return nil
}

// stopLACP stops LACP (mode changed, or the team closes). Frames still
// queued are dropped by lacpFrame.
func (t *Team) stopLACP() { t.lacp = nil }

// slowProtocol is called by member goroutines for each Slow Protocols
// frame. It must not block the data path: in mode lacp the frame is
// copied and queued for the control goroutine, else it is dropped (it
// never reaches a vnic).
func (t *Team) slowProtocol(m *member, eth []byte) {
	if t.snap.Load().mode != modeLACP {
		return
	}
	select {
	case t.slowRx <- slowFrame{member: m.id, eth: append([]byte(nil), eth...)}:
	default:
		t.c.rxSlowDropped.Add(1)
	}
}

// lacpFrame hands a received frame to the Runner (control goroutine).
func (t *Team) lacpFrame(f slowFrame) {
	if t.lacp == nil {
		return
	}
	if err := t.lacp.r.HandleFrame(f.member, f.eth, t.monotonic()); err != nil {
		t.c.rxSlowMalformed.Add(1)
		return
	}
	if len(f.eth) > 14 && f.eth[14] == 1 { // a LACPDU: a partner speaks
		t.lacp.fb.heardPDU(t.now())
	}
}

// lacpRun runs the Runner's timers up to now, sends what it asks for and
// logs its state changes; the team republishes when the distributing set
// changed. The control goroutine calls it after every operation and
// event, and when the Runner's next deadline is due.
func (t *Team) lacpRun() {
	l := t.lacp
	l.r.Tick(t.monotonic())
	out := l.r.Drain()
	for _, tx := range out.Transmit {
		m := t.memberByID(tx.Port)
		if m == nil {
			continue
		}
		b := make([]byte, dataplane.VnetHdrLen, dataplane.VnetHdrLen+lacpdu.FrameLen)
		b, err := tx.AppendFrame(b)
		if err != nil {
			t.log.Error("lacp: encode PDU", "err", err)
			continue
		}
		l.frames = append(l.frames[:0], b)
		m.write(l.frames)
	}
	for _, e := range out.Events {
		t.log.Info("lacp state", "member", t.memberName(e.Port), "machine", string(e.Machine), "from", e.From,
			"to", e.To, "actor", e.Actor.String(), "partner", e.Partner.String())
	}
	if out.DistributingChanged {
		t.changed("lacp")
	}
}

// state is the lacp object of one member in docs/contract.md §4.
func (l *lacpMode) state(member int) *LACPState {
	st, ok := l.r.Status(member)
	if !ok {
		return nil
	}
	return &LACPState{
		ActorState:     st.Actor.State.String(),
		PartnerState:   st.Partner.State.String(),
		PartnerSystem:  frame.MAC(st.Partner.System).String(),
		PartnerSysPrio: int(st.Partner.SystemPriority),
		PartnerKey:     int(st.Partner.Key),
		PartnerPort:    int(st.Partner.Port),
		Selected:       st.Selected.String() == "SELECTED",
		Collecting:     st.Collecting,
		Distributing:   st.Distributing,
		ReceiveState:   st.Receive.String(),
		MuxState:       st.Mux.String(),
		Aggregator:     st.Aggregator,
		PDUsRx:         st.Counters.RxLACPDU,
		PDUsTx:         st.Counters.TxLACPDU,
		PDUsMalformed:  st.Counters.RxInvalid,
		MarkerReplies:  st.Counters.TxMarker,
		ActorKey:       int(st.Actor.Key),
		ActorPortPrio:  int(st.Actor.PortPriority),
		ActorPortNum:   int(st.Actor.Port),

		ActorSystem:     frame.MAC(st.Actor.System).String(),
		ActorSysPrio:    int(st.Actor.SystemPriority),
		PartnerPortPrio: int(st.Partner.PortPriority),
	}
}

// collectingDistributing reports which members the Runner lets collect
// and which it lets distribute.
func (l *lacpMode) collectingDistributing() (collecting, distributing [lb.MaxMembers]bool) {
	for _, id := range l.r.Ports() {
		if st, ok := l.r.Status(id); ok && id >= 0 && id < lb.MaxMembers {
			collecting[id] = st.Collecting
			distributing[id] = st.Distributing
		}
	}
	return
}

// Control-goroutine hooks; lacpRun runs after each of them.

func (l *lacpMode) memberAdded(m *member) {
	now := l.t.monotonic()
	if err := l.r.AddPort(m.id, portConfig(m), now); err != nil {
		l.t.log.Error("lacp: add port", "member", m.name, "err", err)
	}
	_ = l.r.SetLink(m.id, m.carrier, now)
}

func (l *lacpMode) memberRemoved(id int) {
	_ = l.r.RemovePort(id, l.t.monotonic())
}

func (l *lacpMode) memberChanged(m *member) {
	if err := l.r.SetPortConfig(m.id, portConfig(m), l.t.monotonic()); err != nil {
		l.t.log.Error("lacp: port settings", "member", m.name, "err", err)
	}
}

func (l *lacpMode) linkChanged(id int, up bool) {
	_ = l.r.SetLink(id, up, l.t.monotonic())
}

// reconfigure applies new team-wide LACP parameters (the system MAC
// stays).
func (l *lacpMode) reconfigure(cfg *config.Config) error {
	return l.r.Reconfigure(lacpConfig(cfg, l.r.Config().SystemMAC), l.t.monotonic())
}
