package team

import (
	"fmt"
	"sync"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/lacp"
	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// lacpMode runs 802.1AX on the team's members (mode: lacp). The Runner is
// pure; this glue feeds it received Slow Protocols frames, link changes
// and time, sends what it asks for and republishes the team's snapshot
// when the set of distributing members changes.
//
// Locking: the control path holds t.mu and then mu; the LACP goroutine
// holds only mu while it drives the Runner and takes t.mu (without mu)
// to republish.
type lacpMode struct {
	t      *Team
	mu     sync.Mutex
	r      *lacp.Runner
	rx     chan slowFrame
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	frames [][]byte // reused by send

	rxDropped, rxMalformed uint64 // under mu
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

// startLACPLocked starts LACP on every member. The system MAC is the
// first member's MAC, as bonding and teamd take the team device's.
func (t *Team) startLACPLocked() error {
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
	l := &lacpMode{
		t:    t,
		r:    r,
		rx:   make(chan slowFrame, 256),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	now := t.monotonic()
	for _, m := range t.members {
		if err := r.AddPort(m.id, portConfig(m), now); err != nil {
			return fmt.Errorf("lacp port %q: %w", m.name, err)
		}
		_ = r.SetLink(m.id, m.carrier, now)
	}
	t.lacp = l
	h := l.receive
	t.slowHandler.Store(&h)
	go l.run()
	l.kick()
	t.log.Info("lacp started", "system", frame.MAC(sys), "system_priority", t.cfg.LACP.SystemPriority,
		"active", t.cfg.LACP.Active, "rate", t.cfg.LACP.Rate)
	return nil
}

// stopLACPLocked stops the LACP goroutine (mode changed by a reload, or
// the team closes).
func (t *Team) stopLACPLocked() {
	if t.lacp == nil {
		return
	}
	t.slowHandler.Store(nil)
	close(t.lacp.stop)
	t.mu.Unlock() // the goroutine may be waiting for t.mu to republish
	<-t.lacp.done
	t.mu.Lock()
	t.lacp = nil
}

// receive is called by member goroutines for each Slow Protocols frame.
// It must not block the data path: the frame is copied and queued.
func (l *lacpMode) receive(member int, eth []byte) {
	select {
	case l.rx <- slowFrame{member: member, eth: append([]byte(nil), eth...)}:
	default:
		l.mu.Lock()
		l.rxDropped++
		l.mu.Unlock()
	}
}

func (l *lacpMode) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run is the LACP goroutine: frames in, timers, PDUs out.
func (l *lacpMode) run() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-l.stop:
			return
		case f := <-l.rx:
			l.mu.Lock()
			if err := l.r.HandleFrame(f.member, f.eth, l.t.monotonic()); err != nil {
				l.rxMalformed++
				l.t.c.rxSlowMalformed.Add(1)
			}
			l.mu.Unlock()
		case <-timer.C:
			l.mu.Lock()
			l.r.Tick(l.t.monotonic())
			l.mu.Unlock()
		case <-l.wake:
			l.mu.Lock()
			l.r.Tick(l.t.monotonic())
			l.mu.Unlock()
		}
		changed := l.flush()
		if changed {
			l.t.mu.Lock()
			if !l.t.closed && l.t.lacp == l {
				l.t.publishLocked("lacp")
			}
			l.t.mu.Unlock()
		}
		l.mu.Lock()
		next, ok := l.r.NextDeadline()
		l.mu.Unlock()
		d := time.Hour
		if ok {
			d = max(next-l.t.monotonic(), 0)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d)
	}
}

// flush sends what the Runner asked for and logs its state changes. It
// reports whether the distributing set changed.
func (l *lacpMode) flush() bool {
	l.mu.Lock()
	out := l.r.Drain()
	l.mu.Unlock()
	s := l.t.snap.Load()
	for _, tx := range out.Transmit {
		if tx.Port < 0 || tx.Port >= lb.MaxMembers || s.members[tx.Port] == nil {
			continue
		}
		b := make([]byte, dataplane.VnetHdrLen, dataplane.VnetHdrLen+lacpdu.FrameLen)
		b, err := tx.AppendFrame(b)
		if err != nil {
			l.t.log.Error("lacp: encode PDU", "err", err)
			continue
		}
		l.frames = append(l.frames[:0], b)
		s.members[tx.Port].write(l.frames)
	}
	for _, e := range out.Events {
		name := ""
		if m := s.members[e.Port]; m != nil {
			name = m.name
		}
		l.t.log.Info("lacp state", "member", name, "machine", string(e.Machine), "from", e.From, "to", e.To,
			"actor", e.Actor.String(), "partner", e.Partner.String())
	}
	return out.DistributingChanged
}

// state is the lacp object of one member in docs/contract.md §4.
func (l *lacpMode) state(member int) *LACPState {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.r.Ports() {
		if st, ok := l.r.Status(id); ok && id >= 0 && id < lb.MaxMembers {
			collecting[id] = st.Collecting
			distributing[id] = st.Distributing
		}
	}
	return
}

// Control-path hooks, called under t.mu.

func (l *lacpMode) memberAdded(m *member) {
	l.mu.Lock()
	now := l.t.monotonic()
	if err := l.r.AddPort(m.id, portConfig(m), now); err != nil {
		l.t.log.Error("lacp: add port", "member", m.name, "err", err)
	}
	_ = l.r.SetLink(m.id, m.carrier, now)
	l.mu.Unlock()
	l.kick()
}

func (l *lacpMode) memberRemoved(id int) {
	l.mu.Lock()
	_ = l.r.RemovePort(id, l.t.monotonic())
	l.mu.Unlock()
	l.kick()
}

func (l *lacpMode) linkChanged(id int, up bool) {
	l.mu.Lock()
	_ = l.r.SetLink(id, up, l.t.monotonic())
	l.mu.Unlock()
	l.kick()
}

func (l *lacpMode) reconfigure(cfg *config.Config, members []*member) error {
	l.mu.Lock()
	defer l.kick()
	defer l.mu.Unlock()
	now := l.t.monotonic()
	if err := l.r.Reconfigure(lacpConfig(cfg, l.r.Config().SystemMAC), now); err != nil {
		return err
	}
	for _, m := range members {
		if err := l.r.SetPortConfig(m.id, portConfig(m), now); err != nil {
			return err
		}
	}
	return nil
}
