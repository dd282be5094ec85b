// Package team wires members, vnics, a balancer and a teaming mode into a
// running team with a small virtual switch on top (docs/contract.md §1).
//
// The data path is one goroutine per port: a vnic's goroutine reads a batch
// from the vnic, switches each frame to another vnic or picks a member for
// it, and writes one batch per destination; a member's goroutine delivers
// received frames to the vnics that own their destination MACs. Everything
// the data path needs is an immutable snapshot behind an atomic pointer;
// the control path (link events, reloads, the control socket, LACP) builds
// a new snapshot and swaps it, so forwarding a frame takes no lock.
package team

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
)

// Errors returned by the control API.
var (
	// ErrClosed is returned by calls on a team that was closed.
	ErrClosed = errors.New("team closed")
	// ErrNoSuchPort means a named member or vnic is not in the team.
	ErrNoSuchPort = errors.New("no such port")
	// ErrPortExists means a member or vnic of that name is already there.
	ErrPortExists = errors.New("port already in the team")
)

type mode int

const (
	modeSwitchIndependent mode = iota
	modeStatic
	modeLACP
)

func parseMode(s string) (mode, error) {
	switch s {
	case config.ModeSwitchIndependent, "":
		return modeSwitchIndependent, nil
	case config.ModeStatic:
		return modeStatic, nil
	case config.ModeLACP:
		return modeLACP, nil
	}
	return 0, fmt.Errorf("mode: unknown mode %q", s)
}

type rewritePolicy int

const (
	rewriteAuto rewritePolicy = iota
	rewriteAlways
	rewriteNever
)

// portStats are a port's counters, written by the data path. Directions
// are the port's own: rx is what the port's goroutine read from it (from
// the physical switch on a member, from the VM on a vnic), tx what was
// written to it.
type portStats struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	txErrors           atomic.Uint64
	txDropped          atomic.Uint64
}

// port is what members and vnics share: a dataplane port whose writers
// (several data-path goroutines) take txMu once per batch.
type port struct {
	name  string
	dp    dataplane.Port
	stats portStats

	txMu   sync.Mutex
	closed bool // under txMu
	done   chan struct{}
}

// write sends a batch, counting what was sent and what was not.
func (p *port) write(frames [][]byte) {
	p.txMu.Lock()
	if p.closed {
		p.txMu.Unlock()
		p.stats.txDropped.Add(uint64(len(frames)))
		return
	}
	n, err := p.dp.Write(frames)
	p.txMu.Unlock()
	p.account(frames, n, err)
}

// account counts a written batch of which n frames were sent.
func (p *port) account(frames [][]byte, n int, err error) {
	var bytes uint64
	for _, f := range frames[:n] {
		bytes += uint64(len(f) - dataplane.VnetHdrLen)
	}
	p.stats.txPackets.Add(uint64(n))
	p.stats.txBytes.Add(bytes)
	if n < len(frames) || err != nil {
		p.stats.txErrors.Add(uint64(len(frames) - n))
	}
}

// write sends a batch on the member and measures the delay of its frames
// (lb.QueueMeter, published in lb.Delays for dynamic's automatic gap):
// the socket's transmit queue occupancy is read just before and just
// after the write, so per batch the measurement costs two ioctls
// (SIOCOUTQ, about a microsecond together) and two clock reads, against a
// sendmmsg of up to dataplane.BatchSize frames; nothing is allocated. A
// port that cannot tell its queue (an error other than closing) is not
// asked again and its delay stays unknown (0). Only a balancer that reads
// the delays (dynamic with flowlet_gap: auto) makes writes measure.
func (m *member) write(frames [][]byte) {
	m.txMu.Lock()
	if m.closed {
		m.txMu.Unlock()
		m.stats.txDropped.Add(uint64(len(frames)))
		return
	}
	if m.txq == nil || !m.measure.Load() {
		n, err := m.dp.Write(frames)
		m.txMu.Unlock()
		m.account(frames, n, err)
		return
	}
	t0 := m.clock()
	before, qerr := m.txq.TxQueued()
	n, err := m.dp.Write(frames)
	after, qerr2 := m.txq.TxQueued()
	if qerr == nil && qerr2 == nil {
		now := m.clock()
		m.delays.Publish(m.id, now, m.meter.Observe(t0, before, now, after))
	} else if !errors.Is(qerr, dataplane.ErrClosed) && !errors.Is(qerr2, dataplane.ErrClosed) {
		m.txq = nil
	}
	m.txMu.Unlock()
	m.account(frames, n, err)
}

// shut stops writers and closes the socket, unblocking the reader.
func (p *port) shut() error {
	p.txMu.Lock()
	p.closed = true
	p.txMu.Unlock()
	return p.dp.Close()
}

type member struct {
	port
	// txq, meter, delays and clock measure the member's transmit delay
	// (see write); txq is nil when the port cannot tell its queue, and
	// txq and meter are used under txMu.
	txq     dataplane.TxQueuer
	meter   lb.QueueMeter
	delays  *lb.Delays
	clock   func() int64
	measure *atomic.Bool // the team's: whether the balancer reads delays

	id      int
	cfg     config.Member
	mac     frame.MAC
	carrier bool // control path
	// watchOK is the link watcher's verdict beyond carrier (arp_ping);
	// always true with the carrier watcher. Control path.
	watchOK bool
	// downs counts the times carrier or the link watcher's verdict went
	// from up to down. Control path.
	downs uint64
}

type vnic struct {
	port
	id  int
	cfg config.VNIC
	mac frame.MAC // the TAP's own MAC (zero for attached interfaces)
	// fwd is the vnic goroutine's forwarding state (explain peeks at
	// its Picker).
	fwd *vnicForwarder
	src sourcePolicy
}

// counters are the team's own counters (docs/contract.md §4 "counters").
type counters struct {
	rxDroppedNotOwned      atomic.Uint64
	rxDroppedWrongMember   atomic.Uint64
	rxDroppedNotCollecting atomic.Uint64
	rxDroppedDupBroadcast  atomic.Uint64
	rxMalformed            atomic.Uint64
	rxSlowProtocol         atomic.Uint64
	rxSlowMalformed        atomic.Uint64
	txSourceMACRewritten   atomic.Uint64
	txDroppedNoMember      atomic.Uint64
	vnicDroppedSlowProto   atomic.Uint64
	vnicDroppedMalformed   atomic.Uint64
	announcements          atomic.Uint64
	rxTranslated           atomic.Uint64
	rxTranslationMiss      atomic.Uint64
	txTranslated           atomic.Uint64
	arpAnswered            atomic.Uint64
	vnicMoves              atomic.Uint64
	reloadsOK              atomic.Uint64
	reloadsFailed          atomic.Uint64
}

// snapshot is everything the data path reads. It is immutable once
// published.
type snapshot struct {
	mode    mode
	bal     lb.Balancer
	rewrite rewritePolicy
	hyperv  bool
	view    lb.View
	members [lb.MaxMembers]*member
	// macs are the members' own MACs, used as rewritten sources.
	macs  [lb.MaxMembers]frame.MAC
	vnics []*vnic
	// collecting marks members whose received frames are accepted.
	collecting [lb.MaxMembers]bool
	// bcastRx is the member on which broadcasts and multicasts are
	// accepted in switch-independent mode; -1 accepts them anywhere.
	bcastRx int
	// bcastUntil (by member) is until when a former bcastRx still
	// delivers broadcasts, through the team's bcastFilter.
	bcastUntil [lb.MaxMembers]int64
	// xlat is rx_translation, nil when off.
	xlat *xlat
	// arpw is the arp_ping watcher, nil when members are watched by
	// carrier only.
	arpw *arpWatch
	// prevHome and movedAt (by vnic) let a vnic's previous home keep
	// delivering to it for homeGrace after a move: frames the switch
	// sent before it learned the move, some still in the ring.
	prevHome []int
	movedAt  []int64
}

// homeGrace is how long a vnic's previous home still delivers to it.
const homeGrace = int64(500 * time.Millisecond)

type homeMove struct {
	from int
	at   int64
}

// acceptsOnPrevHome reports whether member m was vnic v's home until less
// than homeGrace ago.
func (s *snapshot) acceptsOnPrevHome(v, m int, now int64) bool {
	return v < len(s.prevHome) && s.prevHome[v] == m && now-s.movedAt[v] < homeGrace
}

func (s *snapshot) home(v int) int {
	if v < len(s.view.Home) {
		return s.view.Home[v]
	}
	return -1
}

// Options configure a Team beyond its config file.
type Options struct {
	Logger *slog.Logger
	// Now returns monotonic nanoseconds; nil uses the real clock.
	Now func() int64
	// AgeTime is how long a learned MAC lives without frames (default 300 s).
	AgeTime time.Duration
}

// Team is a running team.
type Team struct {
	log     *slog.Logger
	host    Host
	now     func() int64
	ageTime time.Duration

	snap atomic.Pointer[snapshot]
	fdb  *fdb
	// bcast keeps two members from delivering one broadcast.
	bcast *bcastFilter
	c     counters
	// slowHandler receives slow-protocol frames from members (LACP).
	slowHandler atomic.Pointer[func(member int, eth []byte)]

	mu      sync.Mutex // control path
	cfg     *config.Config
	mode    mode
	bal     lb.Balancer
	members []*member // config order
	vnics   []*vnic   // by id (nil holes)
	active  int       // active-backup's active member, -1 none
	// forced is the member SetActivePort made active, -1 none; it
	// stays active while it is eligible (see SetActivePort).
	forced int
	homes  map[int]int
	moved  map[int]homeMove // last home move per vnic
	// bcastUntil is the snapshot's bcastUntil, kept across publishes.
	bcastUntil [lb.MaxMembers]int64
	closed     bool
	// lacp runs 802.1AX in mode lacp, nil otherwise.
	lacp *lacpMode
	// delays are the members' measured transmit delays, written by the
	// members' writers, read by dynamic with flowlet_gap: auto; measure
	// tells the writers whether anyone reads them.
	delays  lb.Delays
	measure atomic.Bool
	// balBase holds the counts of balancers replaced by reloads.
	balBase lb.Stats
	// arpw is the arp_ping link watcher, nil with carrier.
	arpw *arpWatch
	// xlat is rx_translation's table, nil when it is off.
	xlat    *xlat
	wg      sync.WaitGroup
	stop    chan struct{}
	timerWG sync.WaitGroup
}

// New opens every member and vnic of cfg and starts forwarding. On error
// everything opened so far is closed again.
func New(cfg *config.Config, host Host, o Options) (*Team, error) {
	t := &Team{
		log:     o.Logger,
		host:    host,
		now:     o.Now,
		ageTime: o.AgeTime,
		fdb:     newFDB(),
		bcast:   newBcastFilter(),
		active:  -1,
		forced:  -1,
		homes:   map[int]int{},
		moved:   map[int]homeMove{},
		stop:    make(chan struct{}),
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		start := time.Now()
		t.now = func() int64 { return int64(time.Since(start)) }
	}
	if t.ageTime <= 0 {
		t.ageTime = 300 * time.Second
	}
	t.log = t.log.With("team", cfg.Team)
	m, err := parseMode(cfg.Mode)
	if err != nil {
		return nil, err
	}
	bal, err := newBalancer(cfg, &t.delays)
	if err != nil {
		return nil, err
	}
	t.cfg, t.mode, t.bal = cfg, m, bal
	t.measure.Store(measuresDelays(cfg))

	t.mu.Lock()
	defer t.mu.Unlock()
	// The data path never sees a nil snapshot: ports start reading as
	// soon as they are opened.
	t.publishLocked("init")
	for _, mc := range cfg.Members {
		if err := t.addMemberLocked(mc); err != nil {
			t.closeLocked()
			return nil, err
		}
	}
	for _, vc := range cfg.VNICs {
		if err := t.addVNICLocked(vc); err != nil {
			t.closeLocked()
			return nil, err
		}
	}
	t.setXlatLocked(nil)
	t.startARPWatchLocked()
	if t.mode == modeLACP {
		if err := t.startLACPLocked(); err != nil {
			t.closeLocked()
			return nil, err
		}
	}
	t.publishLocked("start")
	t.timerWG.Add(1)
	go t.timers()
	t.log.Info("team started", "mode", cfg.Mode, "balance", cfg.Balance,
		"members", len(t.members), "vnics", len(cfg.VNICs))
	return t, nil
}

// measuresDelays reports whether cfg's balancer reads the members'
// measured delays: only then do member writes pay for measuring them.
func measuresDelays(cfg *config.Config) bool {
	return cfg.Balance == lb.Dynamic && cfg.FlowletGapAuto
}

// newBalancer makes cfg's balancer; with flowlet_gap: auto it reads the
// members' delays measured into d.
func newBalancer(cfg *config.Config, d *lb.Delays) (lb.Balancer, error) {
	h, err := lb.ParseHash(cfg.Hash)
	if err != nil {
		return nil, fmt.Errorf("hash: %w", err)
	}
	o := lb.Options{Hash: h, FlowletGap: cfg.FlowletGap}
	if cfg.FlowletGapAuto {
		o.Delays = d
	}
	b, err := lb.New(cfg.Balance, o)
	if err != nil {
		return nil, fmt.Errorf("balance: %w", err)
	}
	return b, nil
}

func parseRewrite(s string) rewritePolicy {
	switch s {
	case config.RewriteAlways:
		return rewriteAlways
	case config.RewriteNever:
		return rewriteNever
	}
	return rewriteAuto
}

func (t *Team) addMemberLocked(mc config.Member) error {
	for _, m := range t.members {
		if m.name == mc.Name {
			return fmt.Errorf("member %q: %w", mc.Name, ErrPortExists)
		}
	}
	id := t.freeMemberID()
	if id < 0 {
		return fmt.Errorf("member %q: team has %d members already", mc.Name, lb.MaxMembers)
	}
	dp, l, err := t.host.OpenMember(mc.Name)
	if err != nil {
		return fmt.Errorf("open member %q: %w", mc.Name, err)
	}
	m := &member{id: id, cfg: mc, mac: l.MAC, carrier: l.Carrier, watchOK: true,
		delays: &t.delays, clock: t.now, measure: &t.measure}
	m.txq, _ = dp.(dataplane.TxQueuer)
	t.delays.Forget(id) // the ID's previous member's estimate

	if t.arpw != nil {
		t.arpw.replied[id].Store(t.now())
	}
	m.port = port{name: mc.Name, dp: dp, done: make(chan struct{})}
	t.members = append(t.members, m)
	if t.lacp != nil {
		t.lacp.memberAdded(m)
	}
	t.readMember(m)
	t.log.Info("member added", "member", mc.Name, "mac", l.MAC, "carrier", l.Carrier)
	return nil
}

func (t *Team) freeMemberID() int {
	var used [lb.MaxMembers]bool
	for _, m := range t.members {
		used[m.id] = true
	}
	for i, u := range used {
		if !u {
			return i
		}
	}
	return -1
}

func (t *Team) addVNICLocked(vc config.VNIC) error {
	for _, v := range t.vnics {
		if v != nil && v.name == vc.Name {
			return fmt.Errorf("vnic %q: %w", vc.Name, ErrPortExists)
		}
	}
	dp, l, err := t.host.OpenVNIC(vc)
	if err != nil {
		return fmt.Errorf("open vnic %q: %w", vc.Name, err)
	}
	id := len(t.vnics)
	for i, v := range t.vnics {
		if v == nil {
			id = i
			break
		}
	}
	v := &vnic{id: id, cfg: vc, mac: l.MAC}
	v.port = port{name: vc.Name, dp: dp, done: make(chan struct{})}
	v.fwd = &vnicForwarder{t: t, v: v}
	if id == len(t.vnics) {
		t.vnics = append(t.vnics, v)
	} else {
		t.vnics[id] = v
	}
	t.pinLocked(v)
	t.readVNIC(v)
	t.log.Info("vnic added", "vnic", vc.Name, "tap", vc.TAP)
	return nil
}

// Close stops forwarding and gives every port back. It waits for the data
// path goroutines to end.
func (t *Team) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	close(t.stop)
	t.closed = true
	t.stopARPWatchLocked()
	t.stopLACPLocked()
	err := t.closeLocked()
	t.mu.Unlock()
	t.timerWG.Wait()
	t.log.Info("team stopped")
	return err
}

func (t *Team) closeLocked() error {
	t.closed = true
	var errs []error
	for _, m := range t.members {
		if err := m.shut(); err != nil {
			errs = append(errs, fmt.Errorf("close member %q: %w", m.name, err))
		}
	}
	for _, v := range t.vnics {
		if v == nil {
			continue
		}
		if err := v.shut(); err != nil {
			errs = append(errs, fmt.Errorf("close vnic %q: %w", v.name, err))
		}
	}
	t.wg.Wait()
	return errors.Join(errs...)
}

// timers runs the team's periodic housekeeping: MAC aging.
func (t *Team) timers() {
	defer t.timerWG.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.Tick()
		}
	}
}

// Tick runs periodic work at the team's current time: MAC aging. The
// daemon calls it every second; tests call it with a virtual clock.
func (t *Team) Tick() {
	now := t.now()
	if gone := t.fdb.age(now - int64(t.ageTime)); len(gone) > 0 {
		t.log.Debug("MACs aged out", "count", len(gone))
	}
	if x := t.snap.Load().xlat; x != nil && x.continuous {
		cutoff := now - int64(x.ageTime)
		if n := x.drop(func(e *xlatEntry) bool { return e.lastSeen.Load() < cutoff }); n > 0 {
			t.log.Info("rx_translation bindings aged out", "count", n)
		}
	}
}
