package team

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// fakeHost hands out dataplanetest ports.
type fakeHost struct {
	mu    sync.Mutex
	ports map[string]*dataplanetest.Port
	links map[string]Link
	fail  map[string]error
	// queues script the transmit queue of ports opened later (TxQueued).
	queues map[string]func() int
}

func newFakeHost() *fakeHost {
	return &fakeHost{ports: map[string]*dataplanetest.Port{}, links: map[string]Link{}, fail: map[string]error{}}
}

func (h *fakeHost) open(name string) (dataplane.Port, Link, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.fail[name]; err != nil {
		return nil, Link{}, err
	}
	p := dataplanetest.NewPort(name)
	if q := h.queues[name]; q != nil {
		p.SetTxQueue(q)
	}
	h.ports[name] = p
	l, ok := h.links[name]
	if !ok {
		l = Link{MAC: macFor(name), Carrier: true}
	}
	return p, l, nil
}

func (h *fakeHost) OpenMember(name string) (dataplane.Port, Link, error) { return h.open(name) }
func (h *fakeHost) OpenVNIC(v config.VNIC) (dataplane.Port, Link, error) {
	p, l, err := h.open(v.Name)
	if !v.TAP {
		l.MAC = frame.MAC{}
	}
	return p, l, err
}

func (h *fakeHost) port(name string) *dataplanetest.Port {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ports[name]
}

func macFor(name string) frame.MAC {
	m := frame.MAC{0x02, 0xee}
	copy(m[2:], fmt.Sprintf("%-4s", name))
	return m
}

var (
	vm1MAC  = frame.MAC{0x02, 0, 0, 0, 0, 0x01}
	vm2MAC  = frame.MAC{0x02, 0, 0, 0, 0, 0x02}
	peerMAC = frame.MAC{0x02, 0, 0, 0, 0, 0xaa}
)

// udp builds an Ethernet/IPv4/UDP frame.
func udp(dst, src frame.MAC, sport, dport uint16) []byte {
	b := make([]byte, 14+20+8+18)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], frame.EtherTypeIPv4)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 20+8+18)
	ip[8] = 64
	ip[9] = frame.ProtoUDP
	copy(ip[12:16], []byte{10, 0, 0, src[5]})
	copy(ip[16:20], []byte{10, 0, 0, dst[5]})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	return b
}

func baseConfig(mode, balance string, members ...string) *config.Config {
	c := &config.Config{
		Team:             "team0",
		Mode:             mode,
		Balance:          balance,
		Hash:             []string{"eth", "ipv4", "ipv6", "l4"},
		FlowletGap:       500 * time.Microsecond,
		SourceMACRewrite: config.RewriteAuto,
		Backend:          config.BackendAFPacket,
		LACP: config.LACP{Active: config.DefaultLACPActive, Rate: config.DefaultLACPRate,
			SystemPriority: config.DefaultLACPSystemPriority, MinPorts: config.DefaultLACPMinPorts},
		LinkWatch:     config.LinkWatch{Name: config.DefaultLinkWatch},
		RxTranslation: config.RxTranslation{Learn: config.DefaultRxLearn, AgeTime: config.DefaultRxAgeTime},
	}
	for _, m := range members {
		c.Members = append(c.Members, config.Member{Name: m, LACPPrio: config.DefaultLACPPortPriority})
	}
	c.VNICs = []config.VNIC{{Name: "vm1"}, {Name: "vm2"}}
	return c
}

type testTeam struct {
	*Team
	h   *fakeHost
	now atomic.Int64 // virtual clock, nanoseconds
}

func startTeam(t *testing.T, cfg *config.Config) *testTeam {
	t.Helper()
	before := runtime.NumGoroutine()
	tt := &testTeam{h: newFakeHost()}
	tm, err := New(cfg, tt.h, Options{Now: tt.now.Load})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	tt.Team = tm
	t.Cleanup(func() {
		if err := tm.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		checkGoroutines(t, before)
		// The fake ports lend what they read, as AF_XDP does: a lent
		// frame changed after it was written to a port would have
		// been sent changed by an AF_XDP port sharing the UMEM.
		tt.h.mu.Lock()
		for name, p := range tt.h.ports {
			if n := p.ModifiedAfterWrite(); n != 0 {
				t.Errorf("%d frames read from %s were changed after a port was given them", n, name)
			}
		}
		tt.h.mu.Unlock()
	})
	return tt
}

func (tt *testTeam) advance(d time.Duration) { tt.now.Add(int64(d)) }

// sync runs an empty operation on the control goroutine: what it does
// after every operation (LACP timers up to now) has been done.
func (tt *testTeam) sync() { _ = tt.do(func() error { return nil }) }

// vnicRx is the rx_packets of the vnic called name.
func (tt *testTeam) vnicRx(name string) uint64 {
	for _, v := range tt.State().VNICs {
		if v.Name == name {
			return v.RxPackets
		}
	}
	return 0
}

// checkGoroutines fails if goroutines started by the team outlive Close.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutine leak: %d before, %d after Close\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const wait = 5 * time.Second

// learn makes the team learn vm's MAC on vnic by sending a broadcast,
// and forgets what the broadcast caused to be sent.
func (tt *testTeam) learn(t *testing.T, vnic string, mac frame.MAC) {
	t.Helper()
	before := tt.vnicRx(vnic)
	b := udp(frame.Broadcast, mac, 1, 1)
	for _, vc := range tt.Config().VNICs {
		if vl := vc.VLAN; vc.Name == vnic && vl.Trunk != nil && vl.Native == 0 {
			// A trunk without native VLAN takes only tagged frames.
			b = append(b[:12:12], append([]byte{0x81, 0, 0, byte(vl.Trunk[0])}, b[12:]...)...)
		}
	}
	tt.h.port(vnic).Inject(b)
	waitFor(t, func() error {
		// rx_packets counts a batch once it is forwarded: after this,
		// the broadcast's copies have all been written.
		if len(tt.fdb.entries(mac)) == 0 || tt.vnicRx(vnic) == before {
			return errors.New("not learned")
		}
		return nil
	})
	for _, p := range tt.h.ports {
		p.Sent()
	}
}

func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestVNICToTeamHyperVPort(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.learn(t, "vm1", vm1MAC)
	tt.learn(t, "vm2", vm2MAC)
	st := tt.State()
	if st.VNICs[0].Home != "eth1" || st.VNICs[1].Home != "eth2" {
		t.Fatalf("homes = %q, %q; want round-robin eth1, eth2", st.VNICs[0].Home, st.VNICs[1].Home)
	}
	for i := 0; i < 20; i++ {
		tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, uint16(1000+i), 80))
		tt.h.port("vm2").Inject(udp(peerMAC, vm2MAC, uint16(1000+i), 80))
	}
	for _, tc := range []struct {
		member string
		src    frame.MAC
	}{{"eth1", vm1MAC}, {"eth2", vm2MAC}} {
		p := tt.h.port(tc.member)
		if err := p.WaitSent(20, wait); err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Sent() {
			if !bytes.Equal(f[6:12], tc.src[:]) {
				t.Errorf("%s sent source %x, want %v (hyperv-port never rewrites)", tc.member, f[6:12], tc.src)
			}
		}
	}
	if n := tt.State().Counters.TxSourceMACRewritten; n != 0 {
		t.Errorf("tx_source_mac_rewritten = %d, want 0", n)
	}
}

func TestRewriteAuto(t *testing.T) {
	tests := []struct {
		name, mode, balance, rewrite string
		wantRewrite                  bool
	}{
		{"si address-hash auto", config.ModeSwitchIndependent, config.BalanceAddressHash, config.RewriteAuto, true},
		{"si address-hash never", config.ModeSwitchIndependent, config.BalanceAddressHash, config.RewriteNever, false},
		{"static address-hash auto", config.ModeStatic, config.BalanceAddressHash, config.RewriteAuto, false},
		{"static address-hash always", config.ModeStatic, config.BalanceAddressHash, config.RewriteAlways, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(tc.mode, tc.balance, "eth1", "eth2")
			cfg.SourceMACRewrite = tc.rewrite
			tt := startTeam(t, cfg)
			tt.learn(t, "vm1", vm1MAC)
			const n = 64
			for i := 0; i < n; i++ {
				tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, uint16(2000+i), 80))
			}
			waitFor(t, func() error {
				if s := tt.State(); s.Members[0].TxPackets+s.Members[1].TxPackets < n {
					return fmt.Errorf("sent %d", s.Members[0].TxPackets+s.Members[1].TxPackets)
				}
				return nil
			})
			home := tt.State().VNICs[0].Home
			onOther := 0
			for _, m := range []string{"eth1", "eth2"} {
				frames := tt.h.port(m).Sent()
				if m != home {
					onOther = len(frames)
				}
				for _, f := range frames {
					src := frame.MAC(f[6:12])
					switch {
					case m == home && src != vm1MAC:
						t.Errorf("home %s sent source %v, want the VM's %v", m, src, vm1MAC)
					case m != home && tc.wantRewrite && src != macFor(m):
						t.Errorf("%s sent source %v, want its own %v", m, src, macFor(m))
					case m != home && !tc.wantRewrite && src != vm1MAC:
						t.Errorf("%s sent source %v, want the VM's %v", m, src, vm1MAC)
					}
				}
			}
			st := tt.State()
			if onOther == 0 {
				t.Fatal("no flow hashed to the non-home member; the test needs both members used")
			}
			if got := st.Counters.TxSourceMACRewritten; tc.wantRewrite != (got > 0) || (tc.wantRewrite && got != uint64(onOther)) {
				t.Errorf("tx_source_mac_rewritten = %d, frames on non-home member = %d, want rewrite %v", got, onOther, tc.wantRewrite)
			}
		})
	}
}

func TestReceiveDelivery(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.learn(t, "vm1", vm1MAC)
	tt.learn(t, "vm2", vm2MAC)
	eth1, eth2 := tt.h.port("eth1"), tt.h.port("eth2")

	// Unicast to vm1 on its home member reaches vm1 only.
	eth1.Inject(udp(vm1MAC, peerMAC, 80, 1000))
	if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	// To a MAC nobody owns (eth2's own MAC, as in the auto-last-hop bug): dropped, counted.
	eth2.Inject(udp(macFor("eth2"), peerMAC, 80, 1000))
	// vm1 on the wrong member (a flood): dropped.
	eth2.Inject(udp(vm1MAC, peerMAC, 80, 1000))
	// Broadcast on the broadcast member: every vnic once; on the other: dropped.
	eth1.Inject(udp(frame.Broadcast, peerMAC, 67, 68))
	eth2.Inject(udp(frame.Broadcast, peerMAC, 67, 68))
	waitFor(t, func() error {
		c := tt.State().Counters
		if c.RxDroppedNotOwned != 1 || c.RxDroppedWrongMember != 1 || c.RxDroppedDupBroadcast != 1 {
			return fmt.Errorf("counters %+v", c)
		}
		return nil
	})
	if err := tt.h.port("vm2").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if got := len(tt.h.port("vm1").Sent()); got != 2 {
		t.Errorf("vm1 got %d frames, want 2 (its unicast and one broadcast)", got)
	}
	if got := len(tt.h.port("vm2").Sent()); got != 1 {
		t.Errorf("vm2 got %d frames, want 1 (one broadcast)", got)
	}
	if got := len(eth1.Sent()) + len(eth2.Sent()); got != 0 {
		t.Errorf("members transmitted %d frames; nothing may go member to member", got)
	}
}

func TestLocalSwitching(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.learn(t, "vm1", vm1MAC)
	tt.learn(t, "vm2", vm2MAC)
	tt.h.port("vm1").Inject(udp(vm2MAC, vm1MAC, 1, 2))
	if err := tt.h.port("vm2").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if got := len(tt.h.port("eth1").Sent()) + len(tt.h.port("eth2").Sent()); got != 0 {
		t.Errorf("vnic-to-vnic frame left the team %d times", got)
	}
}

func TestSlowProtocolFromVNICDropped(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeStatic, config.BalanceAddressHash, "eth1", "eth2"))
	lacp := udp(frame.MAC{0x01, 0x80, 0xc2, 0, 0, 2}, vm1MAC, 0, 0)
	binary.BigEndian.PutUint16(lacp[12:], frame.EtherTypeSlowProtocol)
	tt.h.port("vm1").Inject(lacp)
	waitFor(t, func() error {
		if tt.State().Counters.VNICDroppedSlowProto != 1 {
			return errors.New("slow protocol frame not counted")
		}
		return nil
	})
	if got := len(tt.h.port("eth1").Sent()) + len(tt.h.port("eth2").Sent()); got != 0 {
		t.Errorf("a VM's LACPDU reached the physical switch %d times", got)
	}
}

func TestFailover(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.learn(t, "vm1", vm1MAC)
	// Teach the team vm1's IPv4 address (ARP from 10.0.0.1).
	arp := gratuitousARP(vm1MAC, 0x0a000001)[dataplane.VnetHdrLen:]
	tt.h.port("vm1").Inject(arp)
	waitFor(t, func() error {
		if e := tt.fdb.entry(fdbKey{0, vm1MAC}); e == nil || e.ipv4.Load() != 0x0a000001 {
			return errors.New("IPv4 not learned")
		}
		return nil
	})
	tt.h.port("eth1").Sent()
	tt.h.port("eth2").Sent()

	tt.LinkChanged("eth1", false)
	if h := tt.State().VNICs[0].Home; h != "eth2" {
		t.Fatalf("after eth1 down vm1 home = %q, want eth2", h)
	}
	frames := tt.h.port("eth2").Sent()
	var rarp, garp bool
	for _, f := range frames {
		et := binary.BigEndian.Uint16(f[12:])
		if frame.MAC(f[6:12]) != vm1MAC {
			continue
		}
		rarp = rarp || et == frame.EtherTypeRARP
		garp = garp || (et == frame.EtherTypeARP && binary.BigEndian.Uint32(f[28:]) == 0x0a000001)
	}
	if !rarp || !garp {
		t.Errorf("announcement on eth2: rarp %v, garp %v; frames %x", rarp, garp, frames)
	}
	if got := tt.State().VNICs[1].Home; got != "eth2" {
		t.Errorf("vm2 home = %q, want eth2 (unchanged)", got)
	}
	// Traffic continues on eth2.
	tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, 5, 6))
	if err := tt.h.port("eth2").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	// Carrier returns: vm1 goes home again, announced from eth1.
	tt.LinkChanged("eth1", true)
	if h := tt.State().VNICs[0].Home; h != "eth1" {
		t.Fatalf("after eth1 up vm1 home = %q, want eth1", h)
	}
	if err := tt.h.port("eth1").WaitSent(1, wait); err != nil {
		t.Fatalf("no announcement on eth1: %v", err)
	}
	// All members down: frames are dropped and counted.
	tt.LinkChanged("eth1", false)
	tt.LinkChanged("eth2", false)
	tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, 5, 6))
	waitFor(t, func() error {
		if tt.State().Counters.TxDroppedNoMember == 0 {
			return errors.New("no tx_dropped_no_member")
		}
		return nil
	})
}

func TestActiveBackup(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2", "eth3")
	cfg.Members[2].Standby = true
	cfg.Members[1].Prio = 10
	tt := startTeam(t, cfg)
	if a := tt.State().Active; a != "eth2" {
		t.Fatalf("active = %q, want eth2 (highest prio)", a)
	}
	tt.LinkChanged("eth2", false)
	if a := tt.State().Active; a != "eth1" {
		t.Fatalf("active = %q, want eth1", a)
	}
	tt.LinkChanged("eth1", false)
	if a := tt.State().Active; a != "eth3" {
		t.Fatalf("active = %q, want standby eth3 once nothing else is up", a)
	}
	tt.LinkChanged("eth2", true)
	if a := tt.State().Active; a != "eth2" {
		t.Fatalf("active = %q, want eth2 back", a)
	}
}

func TestPortGoneAndApply(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.PortGone("eth2")
	if st := tt.State(); len(st.Members) != 1 || st.Members[0].Name != "eth1" {
		t.Fatalf("members after eth2 vanished: %+v", st.Members)
	}
	if !tt.h.port("eth2").Closed() {
		t.Error("eth2's port was not closed")
	}
	cfg := tt.Config()
	cfg.Members = append(cfg.Members, config.Member{Name: "eth3"})
	cfg.Balance = config.BalanceAddressHash
	if err := tt.Apply(&cfg); err != nil {
		t.Fatal(err)
	}
	st := tt.State()
	if len(st.Members) != 2 || st.Balance != config.BalanceAddressHash || st.Counters.ReloadsOK != 1 {
		t.Fatalf("after apply: %+v", st)
	}
	if tt.h.port("eth1").Closed() {
		t.Error("eth1 was reopened or closed by a reload that kept it")
	}
	bad := tt.Config()
	bad.Members = append(bad.Members, config.Member{Name: "nope"})
	tt.h.mu.Lock()
	tt.h.fail["nope"] = errors.New("no such device")
	tt.h.mu.Unlock()
	if err := tt.Apply(&bad); err == nil {
		t.Fatal("apply with an unopenable member succeeded")
	}
	if st := tt.State(); len(st.Members) != 2 || st.Counters.ReloadsFailed != 1 {
		t.Fatalf("failed apply changed the team: %+v", st)
	}
}

func TestAging(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1"))
	tt.learn(t, "vm1", vm1MAC)
	tt.advance(301 * time.Second)
	tt.Tick()
	if tt.fdb.lookup(fdbKey{0, vm1MAC}) >= 0 {
		t.Fatal("vm1's MAC did not age out")
	}
}

// nullPort discards writes and blocks reads until closed; for allocation
// tests and benchmarks.
type nullPort struct {
	name   string
	closed chan struct{}
	once   sync.Once
}

func newNullPort(name string) *nullPort { return &nullPort{name: name, closed: make(chan struct{})} }

func (p *nullPort) Name() string { return p.name }
func (p *nullPort) Read([][]byte, []int) (int, error) {
	<-p.closed
	return 0, dataplane.ErrClosed
}
func (p *nullPort) Write(f [][]byte) (int, error) { return len(f), nil }
func (p *nullPort) TxQueued() (int, error)        { return 3000, nil } // measured on every write
func (p *nullPort) Close() error                  { p.once.Do(func() { close(p.closed) }); return nil }

type nullHost struct{}

func (nullHost) OpenMember(name string) (dataplane.Port, Link, error) {
	return newNullPort(name), Link{MAC: macFor(name), Carrier: true}, nil
}
func (nullHost) OpenVNIC(v config.VNIC) (dataplane.Port, Link, error) {
	return newNullPort(v.Name), Link{}, nil
}

// forwarders returns a vnic forwarder and a member receiver of a team on
// discarding ports, with vm1's MAC learned on vm1.
func forwarders(tb testing.TB, bal string) (*vnicForwarder, *memberReceiver, func()) {
	algo, auto := strings.CutSuffix(bal, "/auto") // flowlet_gap: auto
	cfg := baseConfig(config.ModeSwitchIndependent, algo, "eth1", "eth2")
	cfg.FlowletGapAuto = auto
	tm, err := New(cfg, nullHost{}, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	s := tm.snap.Load()
	tm.fdb.add(fdbKey{0, vm1MAC}, s.vnics[0].id, false, tm.now())
	home := s.home(s.vnics[0].id)
	return &vnicForwarder{t: tm, v: s.vnics[0]}, &memberReceiver{t: tm, m: s.members[home]}, func() { tm.Close() }
}

func fill(bufs [][]byte, sizes []int, mk func(i int) []byte) {
	for i := range bufs {
		sizes[i] = dataplane.VnetHdrLen + copy(bufs[i][dataplane.VnetHdrLen:], mk(i))
	}
}

func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector; `make test` also runs without it")
	}
	for _, bal := range []string{config.BalanceHyperVPort, config.BalanceAddressHash, config.BalanceDynamic, config.BalanceDynamic + "/auto", config.BalanceActiveBackup} {
		t.Run(bal, func(t *testing.T) {
			fw, rc, done := forwarders(t, bal)
			defer done()
			bufs, sizes := newBatch()
			fill(bufs, sizes, func(i int) []byte { return udp(peerMAC, vm1MAC, uint16(i), 80) })
			rbufs, rsizes := newBatch()
			fill(rbufs, rsizes, func(i int) []byte { return udp(vm1MAC, peerMAC, 80, uint16(i)) })
			fw.batch(bufs, sizes)
			rc.batch(rbufs, rsizes)
			if n := testing.AllocsPerRun(100, func() { fw.batch(bufs, sizes) }); n != 0 {
				t.Errorf("vnic->team: %v allocations per batch", n)
			}
			if n := testing.AllocsPerRun(100, func() { rc.batch(rbufs, rsizes) }); n != 0 {
				t.Errorf("team->vnic: %v allocations per batch", n)
			}
			st := fw.t.State()
			if st.Members[0].TxPackets+st.Members[1].TxPackets == 0 || st.VNICs[0].TxPackets == 0 {
				t.Errorf("nothing was forwarded: %+v", st)
			}
		})
	}
}

func BenchmarkForwardVNICToTeam(b *testing.B) {
	for _, bal := range []string{config.BalanceHyperVPort, config.BalanceAddressHash, config.BalanceDynamic} {
		b.Run(bal, func(b *testing.B) {
			fw, _, done := forwarders(b, bal)
			defer done()
			bufs, sizes := newBatch()
			fill(bufs, sizes, func(i int) []byte { return udp(peerMAC, vm1MAC, uint16(i), 80) })
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fw.batch(bufs, sizes)
			}
			b.ReportMetric(float64(b.N*len(bufs))/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

func BenchmarkForwardTeamToVNIC(b *testing.B) {
	_, rc, done := forwarders(b, config.BalanceHyperVPort)
	defer done()
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte { return udp(vm1MAC, peerMAC, 80, uint16(i)) })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rc.batch(bufs, sizes)
	}
	b.ReportMetric(float64(b.N*len(bufs))/b.Elapsed().Seconds(), "frames/s")
}

func TestActiveBackupSticky(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2")
	cfg.Members[0].Prio = 10
	cfg.Members[1].Sticky = true
	tt := startTeam(t, cfg)
	tt.LinkChanged("eth1", false)
	if a := tt.State().Active; a != "eth2" {
		t.Fatalf("active = %q, want eth2", a)
	}
	tt.LinkChanged("eth1", true)
	if a := tt.State().Active; a != "eth2" {
		t.Fatalf("active = %q, want sticky eth2 to stay although eth1 has a higher prio", a)
	}
}

// TestPreviousHomeGrace: after a vnic moves, frames the switch still sends
// to its previous home are delivered for a short grace, then dropped.
func TestPreviousHomeGrace(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2")
	tt := startTeam(t, cfg)
	tt.learn(t, "vm1", vm1MAC)
	tt.LinkChanged("eth1", false) // vm1 moves to eth2
	tt.LinkChanged("eth1", true)  // and back to eth1: eth2 is its previous home
	tt.h.port("eth2").Inject(udp(vm1MAC, peerMAC, 80, 1))
	if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
		t.Fatalf("frame on the previous home within the grace: %v", err)
	}
	tt.advance(time.Second)
	tt.h.port("eth2").Inject(udp(vm1MAC, peerMAC, 80, 2))
	waitFor(t, func() error {
		if tt.State().Counters.RxDroppedWrongMember != 1 {
			return errors.New("frame on the previous home after the grace was not dropped")
		}
		return nil
	})
}
