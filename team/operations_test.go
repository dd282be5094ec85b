package team

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// The concurrency test of the control path: random reloads (valid and
// not), port operations, link events and host events, with state reads,
// config reads and traffic going on at the same time, under -race. After
// each step State and Config must be what a model of the team says: the
// last accepted configuration plus the link events since.

var (
	memberPool = []string{"eth1", "eth2", "eth3", "eth4"}
	vnicPool   = []string{"vm1", "vm2", "vm3"}
)

// model is what the team must look like.
type model struct {
	cfg     *config.Config    // the last accepted configuration
	carrier map[string]bool   // the host's carrier per interface (default up)
	mac     map[string]string // MACs changed by MAC events
	gone    map[string]bool   // interfaces deleted from the host
	active  string            // active-backup's active member
	ok, bad uint64            // reloads accepted, rejected
}

func (m *model) up(name string) bool {
	c, ok := m.carrier[name]
	return c || !ok
}

// eligible is who may carry traffic: members with carrier, standby ones
// only when no other is up; in mode lacp nobody (there is no partner).
func (m *model) eligible() []config.Member {
	if m.cfg.Mode == config.ModeLACP {
		return nil
	}
	var up, standby []config.Member
	for _, mc := range m.cfg.Members {
		switch {
		case !m.up(mc.Name):
		case mc.Standby:
			standby = append(standby, mc)
		default:
			up = append(up, mc)
		}
	}
	if len(up) == 0 {
		return standby
	}
	return up
}

// settle updates the active member as teamd's rule says: a better
// eligible member takes over unless the active one is sticky.
func (m *model) settle() {
	if m.cfg.Balance != config.BalanceActiveBackup {
		m.active = ""
		return
	}
	elig := m.eligible()
	if len(elig) == 0 {
		m.active = ""
		return
	}
	better := func(a, b config.Member) bool {
		if a.Primary != b.Primary {
			return a.Primary
		}
		return a.Prio > b.Prio
	}
	best := elig[0]
	for _, mc := range elig[1:] {
		if better(mc, best) {
			best = mc
		}
	}
	for _, mc := range elig {
		if mc.Name == m.active && (mc.Sticky || !better(best, mc)) {
			return
		}
	}
	m.active = best.Name
}

// opens reports whether the host can open every port of c.
func (m *model) opens(c *config.Config) bool {
	for _, mc := range c.Members {
		if mc.Name == "nope" || m.gone[mc.Name] {
			return false
		}
	}
	for _, v := range c.VNICs {
		if m.gone[v.Name] {
			return false
		}
	}
	return true
}

// check compares the team with the model.
func (m *model) check(t *testing.T, tt *testTeam, step string) {
	t.Helper()
	got := tt.Config()
	if diff := cmp.Diff(m.cfg, &got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("%s: running config (-model +team):\n%s", step, diff)
	}
	st := tt.State()
	elig := m.eligible()
	type mstate struct {
		Name, MAC, Link, LinkWatch string
		Carrier, Active, LACP      bool
	}
	var want, have []mstate
	for _, mc := range m.cfg.Members {
		link, watch := "down", "carrier"
		if m.up(mc.Name) {
			link = "up"
		}
		if n := m.cfg.LinkWatch.Name; n == config.LinkWatchARPPing || n == config.LinkWatchNSNAPing {
			watch = n + " ok"
		}
		mac := macFor(mc.Name).String()
		if s, ok := m.mac[mc.Name]; ok {
			mac = s
		}
		// Active: may carry traffic; in active-backup, is the active member.
		active := slices.ContainsFunc(elig, func(e config.Member) bool { return e.Name == mc.Name }) &&
			(m.cfg.Balance != config.BalanceActiveBackup || mc.Name == m.active)
		want = append(want, mstate{mc.Name, mac, link, watch, m.up(mc.Name), active, m.cfg.Mode == config.ModeLACP})
	}
	for _, ms := range st.Members {
		have = append(have, mstate{ms.Name, ms.MAC, ms.Link, ms.LinkWatch, ms.Carrier, ms.Active, ms.LACP != nil})
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Fatalf("%s: members (-model +team):\n%s", step, diff)
	}
	var wantV, haveV []string
	for _, v := range m.cfg.VNICs {
		wantV = append(wantV, fmt.Sprintf("%s %+v", v.Name, v.VLAN))
	}
	for _, v := range st.VNICs {
		var vl config.VLAN
		if s := v.VLAN; s != nil {
			vl = config.VLAN{Access: s.Access, Trunk: s.Trunk, Native: s.Native}
		}
		haveV = append(haveV, fmt.Sprintf("%s %+v", v.Name, vl))
		if v.Home != "" && !slices.ContainsFunc(elig, func(e config.Member) bool { return e.Name == v.Home }) {
			t.Fatalf("%s: vnic %s is homed on %s, which may not carry traffic", step, v.Name, v.Home)
		}
	}
	if diff := cmp.Diff(wantV, haveV, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("%s: vnics (-model +team):\n%s", step, diff)
	}
	if st.Mode != m.cfg.Mode || st.Balance != m.cfg.Balance || st.Active != m.active ||
		st.Counters.ReloadsOK != m.ok || st.Counters.ReloadsFailed != m.bad {
		t.Fatalf("%s: mode %q balance %q active %q reloads %d/%d; model %q %q %q %d/%d", step,
			st.Mode, st.Balance, st.Active, st.Counters.ReloadsOK, st.Counters.ReloadsFailed,
			m.cfg.Mode, m.cfg.Balance, m.active, m.ok, m.bad)
	}
	if (st.RxTranslation != nil) != m.cfg.RxTranslation.Enabled {
		t.Fatalf("%s: rx_translation in state %v, in config %v", step, st.RxTranslation != nil, m.cfg.RxTranslation.Enabled)
	}
}

// randMember returns a member setting of name.
func randMember(r *rand.Rand, name string) config.Member {
	return config.Member{Name: name, Primary: r.IntN(6) == 0, Standby: r.IntN(6) == 0, Prio: r.IntN(3),
		Sticky: r.IntN(5) == 0, LACPPrio: config.DefaultLACPPortPriority - r.IntN(2)}
}

// randConfig returns a configuration, mostly valid: some fail validation,
// some cannot be applied (a member that cannot be opened, a key that needs
// a restart).
func randConfig(r *rand.Rand) *config.Config {
	modes := []string{config.ModeSwitchIndependent, config.ModeStatic, config.ModeLACP}
	c := baseConfig(modes[r.IntN(len(modes))], "", pick(r, memberPool, 1)...)
	balances := []string{config.BalanceHyperVPort, config.BalanceAddressHash, config.BalanceDynamic, config.BalanceActiveBackup}
	if c.Mode != config.ModeSwitchIndependent {
		balances = append(balances, config.BalanceRoundRobin)
	}
	c.Balance = balances[r.IntN(len(balances))]
	for i := range c.Members {
		c.Members[i] = randMember(r, c.Members[i].Name)
	}
	c.VNICs = nil
	for i, n := range pick(r, vnicPool, 0) {
		v := config.VNIC{Name: n, TAP: r.IntN(4) == 0}
		if r.IntN(3) == 0 {
			// Pinned MACs: a change of only these is applied in place.
			v.MACs = []string{fmt.Sprintf("02:00:00:00:0%d:0%d", i, r.IntN(2))}
			v.MACSpoofing = r.IntN(2) == 0
		}
		switch r.IntN(4) {
		case 0:
			// A VLAN change is applied in place too.
			v.VLAN = config.VLAN{Access: 10 + 10*r.IntN(2)}
		case 1:
			v.VLAN = config.VLAN{Trunk: []int{10, 20 + 10*r.IntN(2)}, Native: r.IntN(2)}
		}
		c.VNICs = append(c.VNICs, v)
	}
	c.SourceMACRewrite = []string{config.RewriteAuto, config.RewriteAlways, config.RewriteNever}[r.IntN(3)]
	c.Hash = pick(r, []string{"eth", "ipv4", "ipv6", "l4"}, 1)
	c.FlowletGap = time.Duration(1+r.IntN(1000)) * time.Microsecond
	c.LACP.Rate = []string{config.LACPRateFast, config.LACPRateSlow}[r.IntN(2)]
	c.LACP.SystemPriority = 1 + r.IntN(65535)
	switch r.IntN(4) {
	case 0:
		c.LinkWatch = config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Hour, MissedMax: 3,
			SourceHost: "0.0.0.0", TargetHost: "10.0.0.254"}
	case 1:
		c.LinkWatch = config.LinkWatch{Name: config.LinkWatchNSNAPing, Interval: time.Hour, MissedMax: 3,
			TargetHost: "fe80::1"}
	}
	c.RxTranslation.Enabled = r.IntN(4) == 0
	switch r.IntN(12) {
	case 0:
		c.Balance = "bogus" // fails validation
	case 1:
		c.Members = append(c.Members, config.Member{Name: "nope", LACPPrio: 1}) // cannot be opened
	case 2:
		c.Team = "team1" // restart needed
	}
	return c
}

// pick returns a random subset of names in random order, at least min.
func pick(r *rand.Rand, names []string, min int) []string {
	out := slices.Clone(names)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min+r.IntN(len(out)-min+1)]
}

// step is one random control operation applied to the team and, if the
// team must accept it, to the model. It returns a description.
func step(t *testing.T, r *rand.Rand, tt *testTeam, m *model) string {
	t.Helper()
	// change runs an operation that edits the running configuration:
	// the team must accept it exactly when the edited configuration is
	// valid and its ports can be opened.
	change := func(what string, edit func(c *config.Config), do func() error, precond error) string {
		next := m.cfg.Clone()
		edit(next)
		want := precond
		if want == nil {
			want = config.Validate(next)
		}
		if want == nil && !m.opens(next) {
			want = errors.New("cannot open")
		}
		err := do()
		if (err == nil) != (want == nil) {
			t.Fatalf("%s: error %v, model expects %v", what, err, want)
		}
		if err == nil {
			m.cfg = next
		}
		return fmt.Sprintf("%s: %v", what, err)
	}
	member := memberPool[r.IntN(len(memberPool))]
	vnic := vnicPool[r.IntN(len(vnicPool))]
	hasMember := slices.ContainsFunc(m.cfg.Members, func(mc config.Member) bool { return mc.Name == member })
	hasVNIC := slices.ContainsFunc(m.cfg.VNICs, func(v config.VNIC) bool { return v.Name == vnic })
	noSuch := func(has bool) error {
		if has {
			return nil
		}
		return ErrNoSuchPort
	}
	switch k := r.IntN(14); {
	case k < 3:
		cfg := randConfig(r)
		if err := config.Validate(cfg); err != nil {
			tt.ReloadFailed() // as the daemon does with a file it rejects
			m.bad++
			return "reload: invalid"
		}
		err := tt.Apply(cfg)
		want := m.opens(cfg) && cfg.Team == m.cfg.Team
		if (err == nil) != want {
			t.Fatalf("reload of %+v: error %v, model expects success %v (gone %v)", cfg, err, want, m.gone)
		}
		if err != nil {
			m.bad++
			return fmt.Sprintf("reload: %v", err)
		}
		m.ok++
		m.cfg = cfg.Clone()
		return "reload"
	case k == 3:
		mc := randMember(r, member)
		return change("port add "+member, func(c *config.Config) { c.Members = append(c.Members, mc) },
			func() error { return tt.AddMember(mc) }, nil)
	case k == 4:
		return change("port remove "+member, func(c *config.Config) {
			c.Members = slices.DeleteFunc(c.Members, func(mc config.Member) bool { return mc.Name == member })
		}, func() error { return tt.RemoveMember(member) }, noSuch(hasMember))
	case k == 5:
		mc := randMember(r, member)
		return change("update "+member, func(c *config.Config) {
			for i := range c.Members {
				if c.Members[i].Name == member {
					c.Members[i] = mc
				}
			}
		}, func() error { return tt.UpdateMember(member, func(c *config.Member) { *c = mc }) }, noSuch(hasMember))
	case k == 6:
		vc := config.VNIC{Name: vnic}
		return change("vnic add "+vnic, func(c *config.Config) { c.VNICs = append(c.VNICs, vc) },
			func() error { return tt.AddVNIC(vc) }, nil)
	case k == 7:
		return change("vnic remove "+vnic, func(c *config.Config) {
			c.VNICs = slices.DeleteFunc(c.VNICs, func(v config.VNIC) bool { return v.Name == vnic })
		}, func() error { return tt.RemoveVNIC(vnic) }, noSuch(hasVNIC))
	case k == 8:
		o := randConfig(r)
		o.FlowletGapAuto = r.IntN(3) == 0
		return change("set balancer "+o.Balance, func(c *config.Config) {
			c.Balance, c.Hash, c.FlowletGap, c.SourceMACRewrite = o.Balance, o.Hash, o.FlowletGap, o.SourceMACRewrite
			c.FlowletGapAuto = o.FlowletGapAuto
		}, func() error {
			return tt.SetBalancer(Balancing{Balance: o.Balance, Hash: o.Hash, FlowletGap: o.FlowletGap,
				FlowletGapAuto: o.FlowletGapAuto, SourceMACRewrite: o.SourceMACRewrite})
		}, nil)
	case k == 9:
		o := randConfig(r)
		return change("set mode "+o.Mode, func(c *config.Config) { c.Mode = o.Mode },
			func() error { return tt.SetMode(o.Mode) }, nil)
	case k == 10:
		o := randConfig(r)
		return change("set link watch "+o.LinkWatch.Name, func(c *config.Config) { c.LinkWatch = o.LinkWatch },
			func() error { return tt.SetLinkWatch(o.LinkWatch) }, nil)
	case k == 11:
		up := r.IntN(2) == 0
		m.carrier[member] = up
		tt.h.setCarrier(member, up)
		tt.LinkChanged(member, up)
		return fmt.Sprintf("link %s %v", member, up)
	case k == 12:
		mac := frame.MAC{0x02, 0xcc, 0, 0, 0, byte(r.IntN(256))}
		m.mac[member] = mac.String()
		tt.h.setMAC(member, mac)
		tt.MACChanged(member, mac)
		return fmt.Sprintf("mac %s %v", member, mac)
	default:
		name := member
		if r.IntN(2) == 0 {
			name = vnic
		}
		if m.gone[name] {
			m.gone[name] = false // the interface is created again
			tt.h.setFail(name, nil)
			return "recreated " + name
		}
		m.gone[name] = true
		tt.h.setFail(name, errors.New("no such device"))
		tt.PortGone(name)
		m.cfg.Members = slices.DeleteFunc(m.cfg.Members, func(mc config.Member) bool { return mc.Name == name })
		m.cfg.VNICs = slices.DeleteFunc(m.cfg.VNICs, func(v config.VNIC) bool { return v.Name == name })
		return "gone " + name
	}
}

func (h *fakeHost) setCarrier(name string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.links[name]
	if !ok {
		l = Link{MAC: macFor(name)}
	}
	l.Carrier = up
	h.links[name] = l
}

func (h *fakeHost) setMAC(name string, mac frame.MAC) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.links[name]
	if !ok {
		l = Link{Carrier: true}
	}
	l.MAC = mac
	h.links[name] = l
}

func (h *fakeHost) setFail(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		delete(h.fail, name)
	} else {
		h.fail[name] = err
	}
}

// background runs, until stop is closed, what goes on while operations
// run: state and config reads and traffic on every port.
func background(tt *testTeam, stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	var reads atomic.Uint64
	loop := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
				runtime.Gosched()
			}
		}()
	}
	loop(func(int) {
		st := tt.State()
		c := tt.Config()
		_ = tt.MemberNames()
		reads.Add(uint64(len(st.Members) + len(c.Members)))
	})
	loop(func(i int) {
		for _, n := range vnicPool {
			if p := tt.h.port(n); p != nil {
				p.Inject(udp(peerMAC, frame.MAC{0x02, 0, 0, 0, 1, byte(i % 4)}, uint16(i), 80))
				p.Sent()
			}
		}
		for _, n := range memberPool {
			if p := tt.h.port(n); p != nil {
				p.Inject(udp(frame.Broadcast, peerMAC, uint16(i), 67))
				p.Sent()
			}
		}
		time.Sleep(100 * time.Microsecond)
	})
	return &wg
}

// testSeed is the seed of a random test: $TEAM_TEST_SEED to replay a
// failure, else the clock.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TEAM_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("TEAM_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (TEAM_TEST_SEED=%d replays it)", seed, seed)
	return seed
}

func TestControlRandomOperations(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2")
	tt := startTeam(t, cfg)
	tt.h.setFail("nope", errors.New("no such device"))
	m := &model{cfg: cfg.Clone(), carrier: map[string]bool{}, mac: map[string]string{}, gone: map[string]bool{}}
	m.check(t, tt, "start")
	stop := make(chan struct{})
	wg := background(tt, stop)
	defer func() { close(stop); wg.Wait() }()
	steps := 400
	if testing.Short() {
		steps = 100
	}
	var hist []string
	for i := range steps {
		what := step(t, r, tt, m)
		hist = append(hist, what)
		m.settle()
		if t.Failed() {
			return
		}
		m.check(t, tt, fmt.Sprintf("step %d (%s; before: %q)", i, what, hist[max(0, len(hist)-6):len(hist)-1]))
	}
}

// TestControlConcurrentOperations runs random operations from several
// goroutines at once (no model can say in which order the team takes
// them), then checks that the team agrees with itself and with the host,
// and that Close racing Apply is safe.
func TestControlConcurrentOperations(t *testing.T) {
	seed := testSeed(t)
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2")
	tt := startTeam(t, cfg)
	tt.h.setFail("nope", errors.New("no such device"))
	stop := make(chan struct{})
	bg := background(tt, stop)
	// Link events come from one link monitor: the host's carrier and the
	// event telling the team are one step, serialized.
	var linkMu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(g)))
			for range 60 {
				member := memberPool[r.IntN(len(memberPool))]
				switch r.IntN(6) {
				case 0, 1:
					if c := randConfig(r); config.Validate(c) == nil {
						_ = tt.Apply(c)
					}
				case 2:
					_ = tt.AddMember(randMember(r, member))
				case 3:
					_ = tt.RemoveMember(member)
				case 4:
					_ = tt.SetMode([]string{config.ModeSwitchIndependent, config.ModeStatic, config.ModeLACP}[r.IntN(3)])
				default:
					// Only the link events change carriers here: the
					// host is told first and the team after.
					up := r.IntN(2) == 0
					linkMu.Lock()
					tt.h.setCarrier(member, up)
					tt.LinkChanged(member, up)
					linkMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()

	// The team agrees with itself and with the host: State lists the
	// running configuration's members in its order, with the host's
	// carrier.
	c := tt.Config()
	st := tt.State()
	if len(st.Members) != len(c.Members) {
		t.Fatalf("state has %d members, config %d", len(st.Members), len(c.Members))
	}
	for i, ms := range st.Members {
		tt.h.mu.Lock()
		l, ok := tt.h.links[ms.Name]
		tt.h.mu.Unlock()
		if ms.Name != c.Members[i].Name || ms.Carrier != (l.Carrier || !ok) {
			t.Errorf("member %d: state %s carrier %v, config %s, host carrier %v", i, ms.Name, ms.Carrier, c.Members[i].Name, l.Carrier || !ok)
		}
	}
	if err := config.Validate(&c); err != nil {
		t.Errorf("running configuration is not valid: %v", err)
	}

	// Close racing Apply: every Apply either ran before Close or
	// reports ErrClosed; Close runs once; nothing is closed twice.
	next := tt.Config()
	var applied, refused atomic.Int64
	var racers sync.WaitGroup
	for range 3 {
		racers.Add(1)
		go func() {
			defer racers.Done()
			for range 50 {
				switch err := tt.Apply(&next); {
				case err == nil:
					applied.Add(1)
				case errors.Is(err, ErrClosed):
					refused.Add(1)
				default:
					t.Errorf("Apply during Close: %v", err)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := tt.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	racers.Wait()
	if err := tt.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tt.Apply(&next); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if err := tt.AddMember(config.Member{Name: "eth9"}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddMember after Close: %v, want ErrClosed", err)
	}
	for _, n := range memberPool {
		if p := tt.h.port(n); p != nil && !p.Closed() {
			t.Errorf("port %s still open after Close", n)
		}
	}
	t.Logf("during Close: %d applies ran, %d refused", applied.Load(), refused.Load())
}

// TestStartStopNoLeak starts and stops teams with every goroutine-owning
// feature on (LACP, arp_ping, rx_translation, repeated announcements) and
// checks that no goroutine outlives Close.
func TestStartStopNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for i, mode := range []string{config.ModeSwitchIndependent, config.ModeLACP, config.ModeStatic} {
		cfg := baseConfig(mode, config.BalanceAddressHash, "eth1", "eth2")
		cfg.LinkWatch = config.LinkWatch{Name: config.LinkWatchARPPing, Interval: 10 * time.Millisecond, MissedMax: 3,
			SourceHost: "0.0.0.0", TargetHost: "10.0.0.254"}
		cfg.RxTranslation.Enabled = mode == config.ModeSwitchIndependent
		h := newFakeHost()
		tm, err := New(cfg, h, Options{})
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		h.port("vm1").Inject(udp(frame.Broadcast, vm1MAC, 1, 1))
		tm.LinkChanged("eth1", false) // a move, announced twice
		time.Sleep(20 * time.Millisecond)
		if i%2 == 0 {
			// Close while operations queue up.
			go tm.LinkChanged("eth1", true)
		}
		if err := tm.Close(); err != nil {
			t.Fatalf("%s: Close: %v", mode, err)
		}
	}
	checkGoroutines(t, before)
}

// TestOneSnapshotPerOperation: a reload that changes everything at once
// publishes one snapshot; a rejected one publishes none; a state read
// publishes nothing.
func TestOneSnapshotPerOperation(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.h.setFail("nope", errors.New("no such device"))
	gen := func() uint64 { return tt.snap.Load().gen }
	g := gen()
	_ = tt.State()
	_ = tt.Config()
	if gen() != g {
		t.Fatalf("reads published %d snapshots", gen()-g)
	}
	next := baseConfig(config.ModeLACP, config.BalanceAddressHash, "eth3", "eth2", "eth4")
	next.VNICs = []config.VNIC{{Name: "vm3"}, {Name: "vm1", TAP: true}}
	next.LinkWatch = config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Hour, MissedMax: 3,
		SourceHost: "0.0.0.0", TargetHost: "10.0.0.254"}
	bad := next.Clone()
	bad.Members = append(bad.Members, config.Member{Name: "nope", LACPPrio: 1})
	if err := tt.Apply(bad); err == nil {
		t.Fatal("a reload with a member that cannot be opened succeeded")
	}
	if gen() != g {
		t.Fatalf("a rejected reload published %d snapshots", gen()-g)
	}
	if err := tt.Apply(next); err != nil {
		t.Fatal(err)
	}
	if gen() != g+1 {
		t.Fatalf("a reload published %d snapshots, want 1", gen()-g)
	}
	if st := tt.State(); st.Mode != config.ModeLACP || len(st.Members) != 3 || len(st.VNICs) != 2 {
		t.Fatalf("after the reload: %+v", st)
	}
}

// TestRejectedReloadReopenedVNIC: a reload that reopened a vnic (its tap
// flag changed) and then failed puts the vnic back as it was, on a new
// port, and the data path delivers to that port.
func TestRejectedReloadReopenedVNIC(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeStatic, config.BalanceAddressHash, "eth1", "eth2"))
	tt.h.setFail("vm9", errors.New("no such device"))
	old := tt.h.port("vm1")
	next := tt.Config()
	next.VNICs = []config.VNIC{{Name: "vm1", TAP: true}, {Name: "vm2"}, {Name: "vm9"}}
	if err := tt.Apply(&next); err == nil {
		t.Fatal("a reload with a vnic that cannot be opened succeeded")
	}
	if !old.Closed() || tt.h.port("vm1") == old {
		t.Fatal("vm1 was not reopened")
	}
	if c := tt.Config(); len(c.VNICs) != 2 || c.VNICs[0].Name != "vm1" || c.VNICs[0].TAP {
		t.Fatalf("vnics after the rejected reload: %+v", c.VNICs)
	}
	tt.h.port("eth1").Inject(udp(frame.Broadcast, peerMAC, 67, 68))
	if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
		t.Fatalf("vm1's new port: %v", err)
	}
}
