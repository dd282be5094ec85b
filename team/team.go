// Package team wires members, vnics, a balancer and a teaming mode into a
// running team with a small virtual switch on top (docs/contract.md §1).
//
// The data path is one goroutine per port: a vnic's goroutine reads a batch
// from the vnic, switches each frame to another vnic or picks a member for
// it, and writes one batch per destination; a member's goroutine delivers
// received frames to the vnics that own their destination MACs. Everything
// the data path needs is an immutable snapshot behind an atomic pointer;
// the control path (link events, reloads, the control socket, LACP) runs
// on one control goroutine (loop.go), which builds a new snapshot at the
// end of each operation and swaps it in, so forwarding a frame takes no
// lock. The control operations are in operations.go.
package team

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	// watchOK is the link watcher's verdict beyond carrier (arp_ping,
	// nsna_ping);
	// always true with the carrier watcher. Control path.
	watchOK bool
	// hold delays what carrier and the watcher say by delay_up and
	// delay_down; hold.used is what the team goes by. Control path.
	hold linkHold
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
	// vlan is the vnic's VLAN membership (nil: transparent), published
	// in the snapshot. Control path.
	vlan *vlanPolicy
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
	ndAnswered             atomic.Uint64
	vnicMoves              atomic.Uint64
	linkChangesHeld        atomic.Uint64
	lacpFallbacks          atomic.Uint64
	lacpFallbacksEnded     atomic.Uint64
	reloadsOK              atomic.Uint64
	reloadsFailed          atomic.Uint64
	vnicDroppedVLAN        atomic.Uint64
	vnicDroppedUntagged    atomic.Uint64
	rxDroppedVLAN          atomic.Uint64
	vlanPushed             atomic.Uint64
	vlanPopped             atomic.Uint64
	// rxSlowDropped counts Slow Protocols frames dropped because the
	// control goroutine's queue was full.
	rxSlowDropped atomic.Uint64
}

// snapshot is everything the data path reads. It is immutable once
// published.
type snapshot struct {
	// gen numbers the snapshots a team publishes, from 1.
	gen     uint64
	mode    mode
	bal     lb.Balancer
	rewrite rewritePolicy
	hyperv  bool
	view    lb.View
	members [lb.MaxMembers]*member
	// macs are the members' own MACs, used as rewritten sources.
	macs  [lb.MaxMembers]frame.MAC
	vnics []*vnic
	// vlans are the vnics' VLAN policies by id (nil: transparent);
	// transparent counts the transparent vnics and vlanUsed holds the
	// VLANs the others are on.
	vlans       []*vlanPolicy
	transparent int
	vlanUsed    vlanSet
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
	// pingw is the arp_ping or nsna_ping watcher, nil when members are watched by
	// carrier only.
	pingw *pingWatch
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

	// Read by the data path.
	snap atomic.Pointer[snapshot]
	fdb  *fdb
	// bcast keeps two members from delivering one broadcast.
	bcast *bcastFilter
	c     counters
	// slowRx queues Slow Protocols frames from members to the control
	// goroutine (LACP).
	slowRx chan slowFrame
	// wg counts the ports' reader goroutines.
	wg sync.WaitGroup
	// spinMax bounds the readers' spin windows (busy_poll, ns; 0: off);
	// spinners counts the readers spinning now, at most spinSlots
	// (spin.go).
	spinMax   atomic.Int64
	spinners  atomic.Int32
	spinSlots int32

	ops      chan op
	loopDone chan struct{} // closed when the control goroutine ends

	// Everything below belongs to the control goroutine (loop.go).

	// cfg is the running configuration but for its members and vnics,
	// which are those of members and vnicOrder (see running).
	cfg       *config.Config
	mode      mode
	bal       lb.Balancer
	members   []*member // config order
	vnics     []*vnic   // by id (nil holes)
	vnicOrder []*vnic   // config order
	active    int       // active-backup's active member, -1 none
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
	// pingw is the arp_ping or nsna_ping link watcher, nil with carrier.
	pingw *pingWatch
	// xlat is rx_translation's table, nil when it is off.
	xlat *xlat
	// dirty is why the current operation must publish ("" nothing);
	// reopened, that it must even if it fails (openPorts).
	dirty    string
	reopened bool
	closing  []closingPort
	later    []deferred
}

// New opens every member and vnic of cfg and starts forwarding. On error
// everything opened so far is closed again.
func New(cfg *config.Config, host Host, o Options) (*Team, error) {
	t := &Team{
		log:      o.Logger,
		host:     host,
		now:      o.Now,
		ageTime:  o.AgeTime,
		fdb:      newFDB(),
		bcast:    newBcastFilter(),
		slowRx:   make(chan slowFrame, 256),
		ops:      make(chan op),
		loopDone: make(chan struct{}),
		active:   -1,
		forced:   -1,
		homes:    map[int]int{},
		moved:    map[int]homeMove{},
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.now == nil {
		start := time.Now()
		t.now = func() int64 { return int64(time.Since(start)) }
	}
	t.spinSlots = spinLimit()
	t.spinMax.Store(int64(cfg.BusyPoll))
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
	t.cfg, t.mode, t.bal = cfg.Clone(), m, bal
	t.cfg.Members, t.cfg.VNICs = nil, nil
	t.measure.Store(measuresDelays(cfg))
	// The data path never sees a nil snapshot: ports start reading as
	// soon as they are opened.
	t.publish("init")
	go t.loop()
	if err := t.do(func() error { return t.start(cfg) }); err != nil {
		_ = t.Close()
		return nil, err
	}
	t.log.Info("team started", "mode", cfg.Mode, "balance", cfg.Balance,
		"members", len(cfg.Members), "vnics", len(cfg.VNICs))
	return t, nil
}

// start opens the ports of cfg and starts what its mode and link watcher
// need (control goroutine).
func (t *Team) start(cfg *config.Config) error {
	for _, mc := range cfg.Members {
		if err := t.addMember(mc); err != nil {
			return err
		}
	}
	for _, vc := range cfg.VNICs {
		if err := t.addVNIC(vc); err != nil {
			return err
		}
	}
	if cfg.RxTranslation.Enabled {
		t.setRxTranslation(cfg.RxTranslation)
	}
	t.setLinkWatch(cfg.LinkWatch)
	if t.mode == modeLACP {
		if err := t.startLACP(); err != nil {
			return err
		}
	}
	t.changed("start")
	return nil
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

// running is the running configuration (control goroutine): the
// team-wide keys of cfg with the members and vnics as they are.
func (t *Team) running() *config.Config {
	c := t.cfg.Clone()
	c.Members = make([]config.Member, len(t.members))
	for i, m := range t.members {
		c.Members[i] = m.cfg
	}
	c.VNICs = make([]config.VNIC, len(t.vnicOrder))
	for i, v := range t.vnicOrder {
		c.VNICs[i] = v.cfg
	}
	return c
}

// addMember opens a member and adds it to the team (control goroutine;
// published at the end of the operation).
func (t *Team) addMember(mc config.Member) error {
	if t.memberNamed(mc.Name) != nil {
		return fmt.Errorf("member %q: %w", mc.Name, ErrPortExists)
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
		delays: &t.delays, clock: t.now, measure: &t.measure,
		hold: newLinkHold(l.Carrier, int64(mc.DelayUp), int64(mc.DelayDown))}
	m.txq, _ = dp.(dataplane.TxQueuer)
	t.delays.Forget(id) // the ID's previous member's estimate

	if t.pingw != nil {
		t.pingw.replied[id].Store(t.now())
	}
	m.port = port{name: mc.Name, dp: dp, done: make(chan struct{})}
	t.members = append(t.members, m)
	if t.lacp != nil {
		t.lacp.memberAdded(m)
	}
	t.readMember(m)
	t.changed("member " + mc.Name + " added")
	t.log.Info("member added", "member", mc.Name, "mac", l.MAC, "carrier", l.Carrier)
	return nil
}

// removeMember takes a member out of the team; its port is closed once
// the operation has published.
func (t *Team) removeMember(name string) error {
	i := slices.IndexFunc(t.members, func(m *member) bool { return m.name == name })
	if i < 0 {
		return fmt.Errorf("member %q: %w", name, ErrNoSuchPort)
	}
	m := t.members[i]
	t.members = slices.Delete(t.members, i, i+1)
	if t.lacp != nil {
		t.lacp.memberRemoved(m.id)
	}
	t.closeLater(&m.port, "member")
	t.changed("member " + name + " removed")
	t.log.Info("member removed", "member", name)
	return nil
}

// updateMember gives a member new settings (same name).
func (t *Team) updateMember(mc config.Member) error {
	m := t.memberNamed(mc.Name)
	if m == nil {
		return fmt.Errorf("member %q: %w", mc.Name, ErrNoSuchPort)
	}
	m.cfg = mc
	m.hold.setDelays(int64(mc.DelayUp), int64(mc.DelayDown))
	t.observeLink(m)
	if t.lacp != nil {
		t.lacp.memberChanged(m)
	}
	t.changed("member " + mc.Name + " changed")
	return nil
}

func (t *Team) memberNamed(name string) *member {
	for _, m := range t.members {
		if m.name == name {
			return m
		}
	}
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

// addVNIC opens a vnic and attaches it to the switch.
func (t *Team) addVNIC(vc config.VNIC) error {
	if t.vnicNamed(vc.Name) != nil {
		return fmt.Errorf("vnic %q: %w", vc.Name, ErrPortExists)
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
	v := &vnic{id: id, cfg: vc, mac: l.MAC, vlan: newVLANPolicy(vc.VLAN)}
	v.port = port{name: vc.Name, dp: dp, done: make(chan struct{})}
	v.fwd = &vnicForwarder{t: t, v: v}
	if id == len(t.vnics) {
		t.vnics = append(t.vnics, v)
	} else {
		t.vnics[id] = v
	}
	t.vnicOrder = append(t.vnicOrder, v)
	t.pin(v)
	t.readVNIC(v)
	t.changed("vnic " + vc.Name + " added")
	t.log.Info("vnic added", "vnic", vc.Name, "tap", vc.TAP)
	return nil
}

// removeVNIC detaches a vnic; its port is closed once the operation has
// published, or at once with now (a vnic reopened under its name).
func (t *Team) removeVNIC(name string, now bool) error {
	v := t.vnicNamed(name)
	if v == nil {
		return fmt.Errorf("vnic %q: %w", name, ErrNoSuchPort)
	}
	t.vnics[v.id] = nil
	t.vnicOrder = slices.DeleteFunc(t.vnicOrder, func(o *vnic) bool { return o == v })
	t.fdb.forget(v.id)
	if t.xlat != nil {
		t.xlat.drop(func(e *xlatEntry) bool { return e.vnic == v.id })
	}
	delete(t.homes, v.id)
	delete(t.moved, v.id)
	t.changed("vnic " + name + " removed")
	t.log.Info("vnic removed", "vnic", name)
	if !now {
		t.closeLater(&v.port, "vnic")
		return nil
	}
	err := v.shut()
	<-v.done
	if err != nil {
		return fmt.Errorf("close vnic %q: %w", name, err)
	}
	return nil
}

func (t *Team) vnicNamed(name string) *vnic {
	for _, v := range t.vnicOrder {
		if v.name == name {
			return v
		}
	}
	return nil
}

// Close stops forwarding and gives every port back. It waits for the data
// path goroutines to end. Closing a closed team does nothing.
func (t *Team) Close() error {
	err := t.do(t.shutdown)
	if errors.Is(err, ErrClosed) {
		return nil
	}
	<-t.loopDone
	t.log.Info("team stopped")
	return err
}

// shutdown is Close on the control goroutine, which ends after it.
func (t *Team) shutdown() error {
	t.closed = true
	t.stopLACP()
	t.stopPingWatch()
	t.later = nil
	var errs []error
	for _, m := range t.members {
		if err := m.shut(); err != nil {
			errs = append(errs, fmt.Errorf("close member %q: %w", m.name, err))
		}
	}
	for _, v := range t.vnicOrder {
		if err := v.shut(); err != nil {
			errs = append(errs, fmt.Errorf("close vnic %q: %w", v.name, err))
		}
	}
	t.wg.Wait()
	t.dirty = ""
	return errors.Join(errs...)
}

// age drops learned MACs and rx_translation bindings not refreshed for
// their age time (control goroutine, every agingInterval).
func (t *Team) age() {
	now := t.now()
	if gone := t.fdb.age(now - int64(t.ageTime)); len(gone) > 0 {
		t.log.Debug("MACs aged out", "count", len(gone))
	}
	if x := t.xlat; x != nil && x.continuous {
		cutoff := now - int64(x.ageTime)
		if n := x.drop(func(e *xlatEntry) bool { return e.lastSeen.Load() < cutoff }); n > 0 {
			t.log.Info("rx_translation bindings aged out", "count", n)
		}
	}
}

// Tick ages MACs and bindings at the team's current time now instead of
// at the next second: tests call it with a virtual clock.
func (t *Team) Tick() {
	_ = t.do(func() error { t.age(); return nil })
}
