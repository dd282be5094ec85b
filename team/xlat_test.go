package team

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/team/config"
)

const vmIP = 0x0a000001 // 10.0.0.1

var (
	vmNewMAC = frame.MAC{0x02, 0, 0, 0, 0, 0x0d}
	peerIP   = [4]byte{10, 0, 0, 0xaa}
)

func xlatConfig(learn string) *config.Config {
	c := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2")
	c.VNICs = []config.VNIC{{Name: "vm1"}}
	c.RxTranslation = config.RxTranslation{Enabled: true, Learn: learn, AgeTime: 300 * time.Second}
	return c
}

// arpRequest builds a broadcast ARP request from (mac, ip) for target.
func arpRequest(mac frame.MAC, ip uint32, target [4]byte) []byte {
	return neigh.AppendRequest(nil, mac, ipv4(ip), target)
}

// toVM builds a UDP frame to dstMAC / 10.0.0.1 from the peer.
func toVM(dstMAC frame.MAC) []byte {
	b := udp(dstMAC, peerMAC, 80, 1000)
	binary.BigEndian.PutUint32(b[14+16:], vmIP)
	copy(b[14+12:], peerIP[:])
	return b
}

func (tt *testTeam) xlatMAC(t *testing.T) frame.MAC {
	t.Helper()
	st := tt.State()
	if st.RxTranslation == nil {
		t.Fatal("no rx_translation in state")
	}
	m, _ := frame.ParseMAC(st.RxTranslation.TeamMAC)
	return m
}

func (tt *testTeam) binding(ip string) string {
	for _, e := range tt.State().RxTranslation.Table {
		if e.IP == ip {
			return e.MAC
		}
	}
	return ""
}

// vmSpeaks makes the VM send an ARP request for the peer from mac.
func (tt *testTeam) vmSpeaks(t *testing.T, mac frame.MAC) []byte {
	t.Helper()
	return tt.vmSendsOut(t, arpRequest(mac, vmIP, peerIP), "the VM's ARP request", func(f []byte) bool {
		return binary.BigEndian.Uint16(f[12:]) == frame.EtherTypeARP && binary.BigEndian.Uint16(f[20:]) == 1
	})
}

// vmSendsOut injects fr on vm1 and returns the last frame sent on eth1
// that is, by leftAs, what it became (what names it in the error).
func (tt *testTeam) vmSendsOut(t *testing.T, fr []byte, what string, leftAs func([]byte) bool) []byte {
	t.Helper()
	tt.h.port("vm1").Inject(fr)
	var out []byte
	waitFor(t, func() error {
		for _, f := range tt.h.port("eth1").Sent() {
			if leftAs(f) {
				out = f
			}
		}
		if out == nil {
			return fmt.Errorf("%s did not leave on eth1", what)
		}
		return nil
	})
	return out
}

func TestXlatTransmitRewrites(t *testing.T) {
	tt := startTeam(t, xlatConfig(config.LearnContinuous))
	team := tt.xlatMAC(t)
	if team != macFor("eth1") {
		t.Fatalf("team MAC %v, want the first member's %v", team, macFor("eth1"))
	}
	req := tt.vmSpeaks(t, vm1MAC)
	if frame.MAC(req[6:12]) != team || frame.MAC(req[22:28]) != team {
		t.Errorf("VM's ARP left with source %x / sender %x, want the team MAC %v", req[6:12], req[22:28], team)
	}
	if got := tt.binding("10.0.0.1"); got != vm1MAC.String() {
		t.Errorf("binding 10.0.0.1 -> %q, want %v", got, vm1MAC)
	}
	if tt.State().Counters.Announcements == 0 {
		t.Error("a new VM IP was not announced")
	}
}

func TestXlatReceive(t *testing.T) {
	tt := startTeam(t, xlatConfig(config.LearnContinuous))
	team := tt.xlatMAC(t)
	tt.vmSpeaks(t, vm1MAC)
	tt.h.port("vm1").Sent()
	// The peer asks who has 10.0.0.1: the team answers with its MAC and
	// the VM never sees the request.
	tt.h.port("eth1").Inject(arpRequest(peerMAC, binary.BigEndian.Uint32(peerIP[:]), [4]byte{10, 0, 0, 1}))
	if err := tt.h.port("eth1").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	rep := tt.h.port("eth1").Sent()[0]
	if binary.BigEndian.Uint16(rep[20:]) != 2 || frame.MAC(rep[22:28]) != team || [4]byte(rep[28:32]) != [4]byte{10, 0, 0, 1} || frame.MAC(rep[0:6]) != peerMAC {
		t.Errorf("ARP reply %x", rep[:42])
	}
	// A frame for the team MAC reaches the VM, readdressed.
	tt.reachesVM(t, toVM(team), vm1MAC)
	if c := tt.State().Counters; c.ARPAnswered != 1 || c.RxTranslated != 1 {
		t.Errorf("counters %+v", c)
	}
}

// reachesVM injects fr on eth1 and checks that vm1 gets it, once,
// addressed to mac.
func (tt *testTeam) reachesVM(t *testing.T, fr []byte, mac frame.MAC) {
	t.Helper()
	tt.h.port("eth1").Inject(fr)
	if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	if got := tt.h.port("vm1").Sent(); len(got) != 1 || frame.MAC(got[0][0:6]) != mac {
		t.Errorf("VM got %x, want one frame to %s", got, mac)
	}
}

// TestXlatStaleMAC is the stale-mac bug (docs/bugs.md) in a unit test: the VM
// comes back with a new MAC. learn: init keeps addressing the old one
// (dropped: no vnic owns it) until the team is toggled; continuous follows at
// once. Over IPv4 (the VM announces itself by ARP) and IPv6 (by a
// neighbour solicitation).
func TestXlatStaleMAC(t *testing.T) {
	families := []struct {
		name   string
		ip     string
		speaks func(*testTeam, *testing.T, frame.MAC)
		toVM   func(team frame.MAC) []byte
	}{
		{"ipv4", "10.0.0.1", func(tt *testTeam, t *testing.T, m frame.MAC) { tt.vmSpeaks(t, m) }, toVM},
		{"ipv6", "2001:db8::1", func(tt *testTeam, t *testing.T, m frame.MAC) { tt.vmSolicits(t, m) },
			func(team frame.MAC) []byte { return udp6(team, peerMAC, vmIP6, peerIP6, 1000, 80) }},
	}
	for _, fam := range families {
		for _, tc := range []struct {
			learn      string
			wantBroken bool
		}{{config.LearnInit, true}, {config.LearnContinuous, false}} {
			t.Run(fam.name+"/"+tc.learn, func(t *testing.T) {
				tt := startTeam(t, xlatConfig(tc.learn))
				team := tt.xlatMAC(t)
				fam.speaks(tt, t, vm1MAC)
				// Restart: link down (the switch forgets the VM), new MAC, up,
				// and the new OS announces itself.
				tt.LinkChanged("vm1", false)
				tt.LinkChanged("vm1", true)
				fam.speaks(tt, t, vmNewMAC)
				tt.h.port("vm1").Sent()
				before := tt.State().Counters.RxDroppedNotOwned
				tt.h.port("eth1").Inject(fam.toVM(team))
				if tc.wantBroken {
					waitFor(t, func() error {
						if tt.State().Counters.RxDroppedNotOwned == before {
							return errors.New("frame for the stale MAC not dropped")
						}
						return nil
					})
					if got := tt.binding(fam.ip); got != vm1MAC.String() {
						t.Fatalf("init binding %q, want the stale %v", got, vm1MAC)
					}
					// Toggling the team re-reads the table: fixed.
					if err := tt.Toggle(); err != nil {
						t.Fatal(err)
					}
					tt.h.port("eth1").Inject(fam.toVM(team))
				}
				if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
					t.Fatal(err)
				}
				if got := tt.h.port("vm1").Sent(); frame.MAC(got[0][0:6]) != vmNewMAC {
					t.Errorf("VM got a frame for %x, want its new MAC %v", got[0][0:6], vmNewMAC)
				}
				if got := tt.binding(fam.ip); got != vmNewMAC.String() {
					t.Errorf("binding %q, want %v", got, vmNewMAC)
				}
			})
		}
	}
}

func TestXlatAging(t *testing.T) {
	tt := startTeam(t, xlatConfig(config.LearnContinuous))
	tt.vmSpeaks(t, vm1MAC)
	tt.advance(301 * time.Second)
	tt.Tick()
	if got := tt.binding("10.0.0.1"); got != "" {
		t.Fatalf("binding survived its age: %q", got)
	}
	ti := startTeam(t, xlatConfig(config.LearnInit))
	ti.vmSpeaks(t, vm1MAC)
	ti.advance(301 * time.Second)
	ti.Tick()
	if got := ti.binding("10.0.0.1"); got == "" {
		t.Fatal("learn: init aged a binding out; it keeps them until toggled")
	}
}

func TestXlatMembersDownUpToggles(t *testing.T) {
	tt := startTeam(t, xlatConfig(config.LearnInit))
	tt.vmSpeaks(t, vm1MAC)
	tt.LinkChanged("vm1", false)
	tt.LinkChanged("vm1", true)
	tt.vmSpeaks(t, vmNewMAC)
	if got := tt.binding("10.0.0.1"); got != vm1MAC.String() {
		t.Fatalf("init binding %q before the toggle, want %v", got, vm1MAC)
	}
	tt.LinkChanged("eth1", false)
	tt.LinkChanged("eth2", false)
	tt.LinkChanged("eth1", true)
	if got := tt.binding("10.0.0.1"); got != vmNewMAC.String() {
		t.Fatalf("after all members down and up: binding %q, want %v", got, vmNewMAC)
	}
}

func TestXlatForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	cfg := xlatConfig(config.LearnContinuous)
	tm, err := New(cfg, nullHost{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	s := tm.snap.Load()
	fw := &vnicForwarder{t: tm, v: s.vnics[0]}
	rc := &memberReceiver{t: tm, m: s.members[s.view.Members[0]]}
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte { return udp(peerMAC, vm1MAC, uint16(i), 80) })
	fw.batch(bufs, sizes)
	tm.fdb.add(fdbKey{0, vm1MAC}, 0, false, 0)
	rbufs, rsizes := newBatch()
	fill(rbufs, rsizes, func(i int) []byte { return toVM(s.xlat.teamMAC) })
	if n := testing.AllocsPerRun(50, func() {
		for _, b := range bufs { // the team rewrote the source: put the VM's back
			copy(b[dataplane.VnetHdrLen+6:], vm1MAC[:])
		}
		fw.batch(bufs, sizes)
	}); n != 0 {
		t.Errorf("vnic->team with translation: %v allocations per batch", n)
	}
	if n := testing.AllocsPerRun(50, func() { rc.batch(rbufs, rsizes) }); n != 0 {
		t.Errorf("team->vnic with translation: %v allocations per batch", n)
	}
}
