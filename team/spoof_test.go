package team

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// sendAndFence injects frames on a vnic, then a marker frame from
// markerSrc to the peer, and waits until the marker left on a member:
// the vnic's goroutine has handled every frame before it. It returns
// the IPv4 frames the members were given, marker excluded, and what
// the other vnics were given.
func (tt *testTeam) sendAndFence(t *testing.T, vnicName string, markerSrc frame.MAC, frames ...[]byte) (toMembers, toVNICs [][]byte) {
	t.Helper()
	p := tt.h.port(vnicName)
	for _, f := range frames {
		p.Inject(f)
	}
	marker := udp(peerMAC, markerSrc, 9999, 9999)
	p.Inject(marker)
	var got [][]byte
	waitFor(t, func() error {
		for _, m := range []string{"eth1", "eth2"} {
			got = append(got, tt.h.port(m).Sent()...)
		}
		for _, f := range got {
			if bytes.Equal(f, marker) {
				return nil
			}
		}
		return errors.New("marker frame not sent")
	})
	for _, f := range got {
		// Announcements after a move are not what the vnic sent.
		if !bytes.Equal(f, marker) && binary.BigEndian.Uint16(f[12:]) == frame.EtherTypeIPv4 {
			toMembers = append(toMembers, f)
		}
	}
	for _, v := range []string{"vm1", "vm2"} {
		if v != vnicName {
			toVNICs = append(toVNICs, tt.h.port(v).Sent()...)
		}
	}
	return toMembers, toVNICs
}

// claim makes vnic the owner of mac by a unicast frame to the peer and
// waits until it left; nothing of it stays in any port's Sent.
func (tt *testTeam) claim(t *testing.T, vnic string, mac frame.MAC) {
	t.Helper()
	tt.sendAndFence(t, vnic, mac)
	if o := tt.owner(mac); o != vnic {
		t.Fatalf("%s owned by %q, want %s", mac, o, vnic)
	}
}

func (tt *testTeam) vnicState(name string) VNICState {
	for _, v := range tt.State().VNICs {
		if v.Name == name {
			return v
		}
	}
	return VNICState{}
}

func (tt *testTeam) owner(mac frame.MAC) string {
	if o := tt.fdb.lookup(fdbKey{0, mac}); o >= 0 {
		return tt.vnics[o].name
	}
	return ""
}

// TestMACNotStolen: a VM sending from another VM's MAC takes nothing:
// its frames go nowhere (counted per vnic), the owner keeps the MAC and
// receives what is sent to it.
func TestMACNotStolen(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.claim(t, "vm1", vm1MAC)
	attackerMAC := frame.MAC{0x02, 0, 0, 0, 0, 0x66}
	tt.claim(t, "vm2", attackerMAC)

	var spoofed [][]byte
	for i := range 50 {
		spoofed = append(spoofed, udp(peerMAC, vm1MAC, uint16(i), 80), udp(frame.Broadcast, vm1MAC, uint16(i), 67))
	}
	out, local := tt.sendAndFence(t, "vm2", attackerMAC, spoofed...)
	if len(out) != 0 || len(local) != 0 {
		t.Errorf("spoofed frames left vm2: %d to members, %d to other vnics", len(out), len(local))
	}
	if o := tt.owner(vm1MAC); o != "vm1" {
		t.Errorf("vm1's MAC is owned by %q after the attack", o)
	}
	if v := tt.vnicState("vm2"); v.DroppedSpoofed != 100 {
		t.Errorf("vm2 dropped_spoofed = %d, want 100", v.DroppedSpoofed)
	}
	if v := tt.vnicState("vm1"); v.DroppedSpoofed != 0 {
		t.Errorf("the victim counts %d spoofed frames", v.DroppedSpoofed)
	}
	// The victim still gets its traffic, on its home member.
	home := tt.vnicState("vm1").Home
	tt.h.port(home).Inject(udp(vm1MAC, peerMAC, 80, 1))
	if err := tt.h.port("vm1").WaitSent(1, wait); err != nil {
		t.Fatal(err)
	}
	if got := tt.h.port("vm2").Sent(); len(got) != 0 {
		t.Errorf("the attacker received %d frames for the victim", len(got))
	}
}

// TestMACMovesWhenFree: the cases where a MAC may change vnic.
func TestMACMovesWhenFree(t *testing.T) {
	steps := []struct {
		name string
		free func(tt *testTeam)
	}{
		{"owner's link down (live migration)", func(tt *testTeam) { tt.LinkChanged("vm1", false) }},
		{"owner removed", func(tt *testTeam) {
			if err := tt.RemoveVNIC("vm1"); err != nil {
				t.Fatal(err)
			}
		}},
		{"aged out", func(tt *testTeam) { tt.advance(301 * time.Second); tt.Tick() }},
		{"operator", func(tt *testTeam) {
			if err := tt.ForgetMAC(vm1MAC); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
			tt.claim(t, "vm1", vm1MAC)
			tt.claim(t, "vm2", vm2MAC)
			out, _ := tt.sendAndFence(t, "vm2", vm2MAC, udp(peerMAC, vm1MAC, 1, 80))
			if len(out) != 0 || tt.owner(vm1MAC) != "vm1" {
				t.Fatalf("before: %d frames sent, owner %q", len(out), tt.owner(vm1MAC))
			}
			s.free(tt)
			out, _ = tt.sendAndFence(t, "vm2", vm2MAC, udp(peerMAC, vm1MAC, 2, 80))
			if len(out) != 1 || tt.owner(vm1MAC) != "vm2" {
				t.Errorf("after: %d frames sent, want 1; owner %q, want vm2", len(out), tt.owner(vm1MAC))
			}
		})
	}
}

// TestPinnedMACs: vnics[].macs pins; without mac_spoofing nothing else
// leaves the vnic, with it other sources are learned; a pinned MAC does
// not move even when its owner's link is down; a reload repins without
// reopening the port.
func TestPinnedMACs(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2")
	cfg.VNICs[0].MACs = []string{vm1MAC.String()}
	tt := startTeam(t, cfg)
	if o := tt.owner(vm1MAC); o != "vm1" {
		t.Fatalf("pinned MAC owned by %q before any frame", o)
	}
	other := frame.MAC{0x02, 0, 0, 0, 0, 0x11}
	out, _ := tt.sendAndFence(t, "vm1", vm1MAC, udp(peerMAC, other, 1, 80), udp(peerMAC, vm1MAC, 2, 80))
	if len(out) != 1 || tt.vnicState("vm1").DroppedSpoofed != 1 || tt.owner(other) != "" {
		t.Errorf("locked vnic: %d frames sent (want 1), dropped_spoofed %d (want 1), other MAC owned by %q",
			len(out), tt.vnicState("vm1").DroppedSpoofed, tt.owner(other))
	}
	tt.LinkChanged("vm1", false)
	tt.claim(t, "vm2", vm2MAC)
	out, _ = tt.sendAndFence(t, "vm2", vm2MAC, udp(peerMAC, vm1MAC, 3, 80))
	if len(out) != 0 || tt.owner(vm1MAC) != "vm1" {
		t.Errorf("pinned MAC of a vnic whose link is down: %d frames sent, owner %q", len(out), tt.owner(vm1MAC))
	}
	if err := tt.ForgetMAC(vm1MAC); !errors.Is(err, ErrMACPinned) {
		t.Errorf("ForgetMAC of a pinned MAC: %v, want ErrMACPinned", err)
	}

	port := tt.h.port("vm1")
	c := tt.Config()
	c.VNICs[0].MACSpoofing = true
	if err := tt.Apply(&c); err != nil {
		t.Fatal(err)
	}
	if tt.h.port("vm1") != port || port.Closed() {
		t.Fatal("changing mac_spoofing reopened the vnic's port")
	}
	out, _ = tt.sendAndFence(t, "vm1", vm1MAC, udp(peerMAC, other, 4, 80))
	if len(out) != 1 || tt.owner(other) != "vm1" {
		t.Errorf("mac_spoofing: true: %d frames sent (want 1), other MAC owned by %q", len(out), tt.owner(other))
	}
	// Pinning vm2's MAC on vm1 by config moves it (the operator's word).
	c2 := tt.Config()
	c2.VNICs[0].MACs = []string{vm1MAC.String(), vm2MAC.String()}
	if err := tt.Apply(&c2); err != nil {
		t.Fatal(err)
	}
	if o := tt.owner(vm2MAC); o != "vm1" {
		t.Errorf("MAC pinned by a reload owned by %q, want vm1", o)
	}
	if v := tt.vnicState("vm1"); fmt.Sprint(v.Pinned) != fmt.Sprint([]string{vm1MAC.String(), vm2MAC.String()}) || !v.MACSpoofing {
		t.Errorf("state: pinned %v, mac_spoofing %v", v.Pinned, v.MACSpoofing)
	}
}

// TestMACFloodRefusesOwnMAC: a VM that floods source MACs fills its share
// of the table; its own new MAC is then refused (counted, forwarded but
// not learned) until the flood ages out. The other VM is unaffected.
func TestMACFloodRefusesOwnMAC(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	tt.claim(t, "vm1", vm1MAC)
	var flood [][]byte
	for i := range fdbMaxPerVNIC + 44 {
		flood = append(flood, udp(peerMAC, frame.MAC{0x02, 0xf1, 0, 0, byte(i >> 8), byte(i)}, 1, 1))
	}
	tt.sendAndFence(t, "vm2", frame.MAC{0x02, 0xf1, 0, 0, 0, 0}, flood...)
	own := frame.MAC{0x02, 0, 0, 0, 0, 0x22}
	out, _ := tt.sendAndFence(t, "vm2", frame.MAC{0x02, 0xf1, 0, 0, 0, 0}, udp(peerMAC, own, 1, 1))
	v := tt.vnicState("vm2")
	if len(out) != 1 || tt.owner(own) != "" || v.LearnRefused != 45 || len(v.MACs) != fdbMaxPerVNIC {
		t.Errorf("after the flood: %d frames sent (want 1), own MAC owned by %q (want nobody), learn_refused %d (want 45), %d MACs (want %d)",
			len(out), tt.owner(own), v.LearnRefused, len(v.MACs), fdbMaxPerVNIC)
	}
	tt.claim(t, "vm1", frame.MAC{0x02, 0, 0, 0, 0, 0x12}) // vm1 still learns
	tt.advance(301 * time.Second)
	tt.Tick()
	tt.sendAndFence(t, "vm2", own, udp(peerMAC, own, 2, 2))
	if o := tt.owner(own); o != "vm2" {
		t.Errorf("after the flood aged out, vm2's MAC is owned by %q", o)
	}
}

// TestSpoofedAllocs: dropping spoofed frames allocates nothing (the log
// line is rate-limited).
func TestSpoofedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector; `make test` also runs without it")
	}
	fw, _, done := forwarders(t, config.BalanceHyperVPort)
	defer done()
	tm := fw.t
	other := tm.snap.Load().vnics[1]
	tm.fdb.add(fdbKey{0, vm2MAC}, other.id, false, tm.now())
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte { return udp(peerMAC, vm2MAC, uint16(i), 80) })
	fw.batch(bufs, sizes) // logs once
	if n := testing.AllocsPerRun(100, func() { fw.batch(bufs, sizes) }); n != 0 {
		t.Errorf("spoofed frames: %v allocations per batch", n)
	}
	if got, want := fw.v.src.spoofed.Load(), uint64(101*len(bufs)+len(bufs)); got != want {
		t.Errorf("dropped_spoofed = %d, want %d", got, want)
	}
}
