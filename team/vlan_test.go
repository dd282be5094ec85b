package team

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// tag returns eth with an 802.1Q tag of TCI tci after its MACs.
func tag(eth []byte, tci uint16) []byte {
	out := append([]byte{}, eth[:12]...)
	out = binary.BigEndian.AppendUint16(out, frame.EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, eth[12:]...)
}

// vlanTeam is a switch-independent team on eth1 and eth2 with vnics of
// the given names and vlan settings.
func vlanTeam(t *testing.T, balance string, vnics ...config.VNIC) *testTeam {
	t.Helper()
	cfg := baseConfig(config.ModeSwitchIndependent, balance, "eth1", "eth2")
	cfg.VNICs = vnics
	if err := config.Validate(cfg); err != nil {
		t.Fatal(err)
	}
	return startTeam(t, cfg)
}

// send injects eth on port and waits until its reader has handled it.
func (tt *testTeam) send(t *testing.T, port string, eth []byte) {
	t.Helper()
	p := tt.h.port(port)
	p.Inject(eth)
	if err := p.WaitIdle(wait); err != nil {
		t.Fatal(err)
	}
}

// got describes what each port sent since the last call: per frame its
// source MAC's last byte and its VLAN tag ("01/10", "01" untagged).
func (tt *testTeam) got(ports ...string) map[string][]string {
	out := map[string][]string{}
	for _, p := range ports {
		for _, f := range tt.h.port(p).Sent() {
			if isAnnouncement(f) {
				continue
			}
			s := fmt.Sprintf("%02x", f[11])
			if vid, ok := frame.VLANTag(f); ok {
				s += fmt.Sprintf("/%d", vid)
			}
			out[p] = append(out[p], s)
		}
	}
	return out
}

var (
	access10  = config.VLAN{Access: 10}
	access20  = config.VLAN{Access: 20}
	trunk1020 = config.VLAN{Trunk: []int{10, 20}, Native: 1}
)

// TestVLANSameMACOnTwoVLANs: two VMs with the same MAC on VLAN 10 and 20
// are two entries of the table, neither spoofs the other, and frames
// from the switch reach the VM of their VLAN only.
func TestVLANSameMACOnTwoVLANs(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort, config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2", VLAN: access20})
	all := []string{"vm1", "vm2", "eth1", "eth2"}
	tt.send(t, "vm1", udp(peerMAC, vm1MAC, 1, 1))
	tt.send(t, "vm2", udp(peerMAC, vm1MAC, 2, 2)) // the same MAC, on VLAN 20
	if diff := cmp.Diff(map[string][]string{"eth1": {"01/10"}, "eth2": {"01/20"}}, tt.got(all...)); diff != "" {
		t.Errorf("frames of the two VMs (-want +got):\n%s", diff)
	}
	st := tt.State()
	want := []FDBEntry{{VLAN: 10, MAC: vm1MAC.String(), VNIC: "vm1"}, {VLAN: 20, MAC: vm1MAC.String(), VNIC: "vm2"}}
	if diff := cmp.Diff(want, st.FDB, ignoreFDBAddrs); diff != "" {
		t.Errorf("fdb (-want +got):\n%s", diff)
	}
	if st.VNICs[0].DroppedSpoofed+st.VNICs[1].DroppedSpoofed != 0 {
		t.Errorf("spoofed drops: %d, %d; want none (other VLANs)", st.VNICs[0].DroppedSpoofed, st.VNICs[1].DroppedSpoofed)
	}
	if got := st.VNICs[1].FDB; len(got) != 1 || got[0].VLAN != 20 {
		t.Errorf("vm2's fdb = %+v, want the entry on VLAN 20", got)
	}
	// From the switch: each VLAN's copy to its own VM, untagged.
	tt.send(t, "eth1", tag(udp(vm1MAC, peerMAC, 3, 3), 10))
	tt.send(t, "eth2", tag(udp(vm1MAC, peerMAC, 4, 4), 20))
	tt.send(t, "eth1", udp(vm1MAC, peerMAC, 5, 5)) // untagged: no vnic takes them
	tt.send(t, "eth1", tag(udp(vm1MAC, peerMAC, 6, 6), 30))
	if diff := cmp.Diff(map[string][]string{"vm1": {"aa"}, "vm2": {"aa"}}, tt.got(all...)); diff != "" {
		t.Errorf("frames from the switch (-want +got):\n%s", diff)
	}
	c := tt.State().Counters
	if c.RxDroppedVLAN != 2 || c.VLANTagsPushed != 2 || c.VLANTagsPopped != 2 {
		t.Errorf("rx_dropped_vlan %d, pushed %d, popped %d; want 2, 2, 2", c.RxDroppedVLAN, c.VLANTagsPushed, c.VLANTagsPopped)
	}
}

// TestVLANFloodDomains: broadcasts reach only the vnics on their VLAN,
// each in its own form; vnic-to-vnic switching stays in the VLAN.
func TestVLANFloodDomains(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort,
		config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2", VLAN: access20},
		config.VNIC{Name: "vm3", VLAN: trunk1020}, config.VNIC{Name: "vm4"})
	vm3MAC, vm4MAC := frame.MAC{2, 0, 0, 0, 0, 3}, frame.MAC{2, 0, 0, 0, 0, 4}
	all := []string{"vm1", "vm2", "vm3", "vm4", "eth1", "eth2"}
	home := func(v int) string { return tt.State().VNICs[v].Home }
	for _, tc := range []struct {
		name string
		port string
		eth  []byte
		want map[string][]string
	}{
		{"from the switch on VLAN 10", "eth1", tag(udp(frame.Broadcast, peerMAC, 1, 1), 10),
			map[string][]string{"vm1": {"aa"}, "vm3": {"aa/10"}, "vm4": {"aa/10"}}},
		{"from the switch on VLAN 1 (vm3's native)", "eth1", tag(udp(frame.Broadcast, peerMAC, 1, 1), 1),
			map[string][]string{"vm3": {"aa"}, "vm4": {"aa/1"}}},
		{"from the switch untagged", "eth1", udp(frame.Broadcast, peerMAC, 1, 1),
			map[string][]string{"vm4": {"aa"}}},
		{"from the access vnic", "vm1", udp(frame.Broadcast, vm1MAC, 1, 1),
			map[string][]string{"vm3": {"01/10"}, "vm4": {"01/10"}, home(0): {"01/10"}}},
		{"from the trunk on VLAN 20", "vm3", tag(udp(frame.Broadcast, vm3MAC, 1, 1), 20),
			map[string][]string{"vm2": {"03"}, "vm4": {"03/20"}, home(2): {"03/20"}}},
		{"from the trunk untagged: its native VLAN", "vm3", udp(frame.Broadcast, vm3MAC, 1, 1),
			map[string][]string{"vm4": {"03/1"}, home(2): {"03/1"}}},
		{"from the transparent vnic untagged", "vm4", udp(frame.Broadcast, vm4MAC, 1, 1),
			map[string][]string{home(3): {"04"}}},
		{"from the transparent vnic on VLAN 20", "vm4", tag(udp(frame.Broadcast, vm4MAC, 1, 1), 20),
			map[string][]string{"vm2": {"04"}, "vm3": {"04/20"}, home(3): {"04/20"}}},
		// vm2's MAC is learned on VLAN 20 only: from VLAN 10 it is unknown.
		{"vm1 to vm2's MAC", "vm1", udp(vm2MAC, vm1MAC, 1, 1), map[string][]string{home(0): {"01/10"}}},
		{"vm3 on VLAN 20 to vm2", "vm3", tag(udp(vm2MAC, vm3MAC, 1, 1), 20), map[string][]string{"vm2": {"03"}}},
		{"vm2 to vm3 on VLAN 20", "vm2", udp(vm3MAC, vm2MAC, 1, 1), map[string][]string{"vm3": {"02/20"}}},
	} {
		if tc.name == "vm3 on VLAN 20 to vm2" {
			tt.send(t, "vm2", udp(frame.Broadcast, vm2MAC, 1, 1)) // vm2 learned on 20
			tt.got(all...)
		}
		tt.send(t, tc.port, tc.eth)
		if diff := cmp.Diff(tc.want, tt.got(all...)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestVLANDrops: frames of a VLAN a vnic is not on are dropped and
// counted, team-wide and per vnic; a priority tag counts as untagged and
// keeps its priority.
func TestVLANDrops(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort,
		config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2", VLAN: config.VLAN{Trunk: []int{20}}})
	all := []string{"vm1", "vm2", "eth1", "eth2"}
	tt.send(t, "vm1", tag(udp(peerMAC, vm1MAC, 1, 1), 10)) // tagged on an access vnic
	tt.send(t, "vm2", tag(udp(peerMAC, vm2MAC, 1, 1), 30)) // a VLAN the trunk does not list
	tt.send(t, "vm2", udp(peerMAC, vm2MAC, 1, 1))          // untagged, no native
	tt.send(t, "vm2", tag(udp(peerMAC, vm2MAC, 1, 1), 0))  // priority-tagged: untagged too
	if got := tt.got(all...); len(got) != 0 {
		t.Errorf("dropped frames went out: %v", got)
	}
	st := tt.State()
	if c := st.Counters; c.VNICDroppedVLAN != 2 || c.VNICDroppedUntagged != 2 {
		t.Errorf("vnic_dropped_vlan %d, vnic_dropped_untagged %d; want 2, 2", c.VNICDroppedVLAN, c.VNICDroppedUntagged)
	}
	if st.VNICs[0].DroppedVLAN != 1 || st.VNICs[1].DroppedVLAN != 3 {
		t.Errorf("dropped_vlan: vm1 %d, vm2 %d; want 1, 3", st.VNICs[0].DroppedVLAN, st.VNICs[1].DroppedVLAN)
	}
	if len(st.FDB) != 0 {
		t.Errorf("dropped frames were learned: %+v", st.FDB)
	}
	// A priority tag (PCP 5) from the access vnic: VLAN 10, priority kept.
	tt.send(t, "vm1", tag(udp(peerMAC, vm1MAC, 1, 1), 5<<13))
	var out [][]byte
	for _, m := range []string{"eth1", "eth2"} {
		out = append(out, tt.h.port(m).Sent()...)
	}
	if len(out) != 1 || binary.BigEndian.Uint16(out[0][14:]) != 5<<13|10 {
		t.Errorf("priority-tagged frame from vm1 sent as %x, want one frame with TCI %#x", out, 5<<13|10)
	}
}

// TestVLANOffloadHeader: a TCP super-frame from an access vnic leaves
// tagged with its virtio-net offsets moved by the tag, and comes back
// to it popped with them moved back.
func TestVLANOffloadHeader(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort, config.VNIC{Name: "vm1", VLAN: access10})
	hdr := dataplane.VnetHdr{Flags: dataplane.VnetFlagNeedsCsum, GSOType: dataplane.VnetGSOTCPv4,
		HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	eth := udp(peerMAC, vm1MAC, 1, 1)
	raw := make([]byte, dataplane.VnetHdrLen+len(eth))
	hdr.Encode(raw)
	copy(raw[dataplane.VnetHdrLen:], eth)
	tt.h.port("vm1").InjectRaw(raw)
	if err := tt.h.port("vm1").WaitIdle(wait); err != nil {
		t.Fatal(err)
	}
	home := tt.State().VNICs[0].Home
	sent := tt.h.port(home).SentRaw()
	if len(sent) != 1 {
		t.Fatalf("%s sent %d frames, want 1", home, len(sent))
	}
	tagged := hdr
	tagged.HdrLen, tagged.CsumStart = 58, 38
	if got := dataplane.DecodeVnetHdr(sent[0]); got != tagged {
		t.Errorf("header on the member = %+v, want %+v", got, tagged)
	}
	if vid, ok := frame.VLANTag(sent[0][dataplane.VnetHdrLen:]); !ok || vid != 10 {
		t.Errorf("frame on the member: VLAN %d, tagged %v", vid, ok)
	}
	back := append([]byte{}, sent[0]...)
	copy(back[dataplane.VnetHdrLen:], udp(vm1MAC, peerMAC, 1, 1)[:12]) // the reply's MACs
	tt.h.port(home).InjectRaw(back)
	if err := tt.h.port(home).WaitIdle(wait); err != nil {
		t.Fatal(err)
	}
	got := tt.h.port("vm1").SentRaw()
	if len(got) != 1 || dataplane.DecodeVnetHdr(got[0]) != hdr || len(got[0]) != len(raw) {
		t.Fatalf("to vm1: %d frames, header %+v; want one, %+v, %d bytes", len(got), dataplane.DecodeVnetHdr(got[0]), hdr, len(raw))
	}
}

// TestVLANAnnouncementsTagged: after a failover each moved MAC is
// announced on its VLAN.
func TestVLANAnnouncementsTagged(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort, config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2"})
	tt.send(t, "vm1", gratuitousARP(vm1MAC, 0x0a000001)[dataplane.VnetHdrLen:])
	home := tt.State().VNICs[0].Home
	other := map[string]string{"eth1": "eth2", "eth2": "eth1"}[home]
	tt.h.port(home).Sent()
	tt.h.port(other).Sent()
	tt.LinkChanged(home, false)
	var rarp, garp int
	for _, f := range tt.h.port(other).Sent() {
		vid, ok := frame.VLANTag(f)
		if !ok || vid != 10 || frame.MAC(f[6:12]) != vm1MAC {
			t.Errorf("announcement not tagged 10 from vm1's MAC: %x", f)
			continue
		}
		switch binary.BigEndian.Uint16(f[16:]) {
		case frame.EtherTypeRARP:
			rarp++
		case frame.EtherTypeARP:
			garp++
		}
	}
	if rarp != 1 || garp != 1 {
		t.Errorf("announcements on %s: %d RARP, %d gratuitous ARP; want 1 and 1, tagged 10", other, rarp, garp)
	}
}

// TestVLANReloadRetags: a reload that changes one vnic's VLAN applies in
// place while frames for another vnic keep flowing, none lost.
func TestVLANReloadRetags(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort, config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2", VLAN: access20})
	tt.send(t, "vm1", udp(peerMAC, vm1MAC, 1, 1))
	tt.send(t, "vm2", udp(peerMAC, vm2MAC, 1, 1))
	home2 := tt.State().VNICs[1].Home
	vm1Port, vm2Port := tt.h.port("vm1"), tt.h.port("vm2")
	const n = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			tt.h.port(home2).Inject(tag(udp(vm2MAC, peerMAC, uint16(i), 1), 20))
		}
	}()
	next := tt.Config()
	next.VNICs[0].VLAN = config.VLAN{Access: 30}
	plan, err := tt.Plan(&next)
	if err != nil || len(plan.VNICsRetagged) != 1 || len(plan.VNICsChanged) != 0 {
		t.Fatalf("plan %+v, %v; want vm1 retagged in place", plan, err)
	}
	if err := tt.Apply(&next); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := tt.h.port(home2).WaitIdle(wait); err != nil {
		t.Fatal(err)
	}
	if got := len(vm2Port.Sent()); got != n {
		t.Errorf("vm2 got %d of %d frames across vm1's reload", got, n)
	}
	if vm1Port.Closed() {
		t.Error("vm1's port was reopened")
	}
	st := tt.State()
	if st.VNICs[0].VLAN == nil || st.VNICs[0].VLAN.Access != 30 {
		t.Errorf("vm1 vlan = %+v, want access 30", st.VNICs[0].VLAN)
	}
	if slices.ContainsFunc(st.FDB, func(e FDBEntry) bool { return e.VNIC == "vm1" }) {
		t.Errorf("vm1's entries on VLAN 10 survived the change: %+v", st.FDB)
	}
	// vm1 is on VLAN 30 now, not 10.
	tt.got("vm1", "vm2", "eth1", "eth2")
	tt.send(t, "vm1", udp(peerMAC, vm1MAC, 1, 1))
	home1 := tt.State().VNICs[0].Home
	if diff := cmp.Diff(map[string][]string{home1: {"01/30"}}, tt.got("vm1", "vm2", "eth1", "eth2")); diff != "" {
		t.Errorf("vm1 after the reload (-want +got):\n%s", diff)
	}
	tt.send(t, home1, tag(udp(vm1MAC, peerMAC, 1, 1), 10))
	if st := tt.State(); st.Counters.RxDroppedVLAN != 1 {
		t.Errorf("a frame for vm1 on VLAN 10 after the change: rx_dropped_vlan %d, want 1", st.Counters.RxDroppedVLAN)
	}
}

// TestVLANPinned: pinned MACs are pinned on each VLAN of their vnic; a
// locked transparent vnic may send from them tagged.
func TestVLANPinned(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort,
		config.VNIC{Name: "vm1", VLAN: trunk1020, MACs: []string{vm1MAC.String()}},
		config.VNIC{Name: "vm2", MACs: []string{vm2MAC.String()}})
	got := tt.State().FDB
	want := []FDBEntry{
		{VLAN: 0, MAC: vm2MAC.String(), VNIC: "vm2", Static: true},
		{VLAN: 1, MAC: vm1MAC.String(), VNIC: "vm1", Static: true},
		{VLAN: 10, MAC: vm1MAC.String(), VNIC: "vm1", Static: true},
		{VLAN: 20, MAC: vm1MAC.String(), VNIC: "vm1", Static: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pinned entries (-want +got):\n%s", diff)
	}
	tt.send(t, "vm2", tag(udp(peerMAC, vm2MAC, 1, 1), 20))
	tt.send(t, "vm2", tag(udp(peerMAC, vm1MAC, 1, 1), 20)) // vm1's, and not vm2's own
	if st := tt.State(); st.VNICs[1].DroppedSpoofed != 1 || !slices.ContainsFunc(st.FDB, func(e FDBEntry) bool {
		return cmp.Equal(e, FDBEntry{VLAN: 20, MAC: vm2MAC.String(), VNIC: "vm2"}, ignoreFDBAddrs)
	}) {
		t.Errorf("vm2 tagged from its pinned MAC: spoofed %d, fdb %+v; want 1 spoofed (vm1's MAC) and (20, vm2) learned", st.VNICs[1].DroppedSpoofed, st.FDB)
	}
}

// TestVLANHashField: the vlan hash field sees the VLAN a frame leaves
// with, also for an access vnic's untagged frames.
func TestVLANHashField(t *testing.T) {
	p := newVLANPolicy(access10)
	vid, in := p.ingress(udp(peerMAC, vm1MAC, 1, 1))
	if vid != 10 || in != inBare {
		t.Fatalf("ingress = %d, %v", vid, in)
	}
	fw, _, done := vlanForwarders(t, access10)
	defer done()
	bufs, sizes := newBatch()
	fill(bufs[:1], sizes[:1], func(int) []byte { return udp(peerMAC, vm1MAC, 1, 1) })
	fw.batch(bufs[:1], sizes[:1])
	if fw.f.VLAN != 10 {
		t.Errorf("parsed frame's VLAN for the balancer = %d, want 10", fw.f.VLAN)
	}
	// A transparent vnic's frames hash as before: an S-tag (not a VLAN
	// to the switch) is still what the vlan field reads.
	tw, _, tdone := vlanForwarders(t, config.VLAN{})
	defer tdone()
	qinq := tag(udp(peerMAC, vm1MAC, 1, 1), 30)
	binary.BigEndian.PutUint16(qinq[12:], frame.EtherTypeQinQ)
	fill(bufs[:1], sizes[:1], func(int) []byte { return qinq })
	tw.batch(bufs[:1], sizes[:1])
	if tw.f.VLAN != 30 {
		t.Errorf("an S-tagged frame of a transparent vnic hashes VLAN %d, want 30 as before VLANs", tw.f.VLAN)
	}
}

// vlanForwarders is forwarders with vm1 on vlan vl.
func vlanForwarders(tb testing.TB, vl config.VLAN) (*vnicForwarder, *memberReceiver, func()) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceAddressHash, "eth1", "eth2")
	cfg.Hash = []string{"eth", "vlan", "ipv4", "l4"}
	cfg.VNICs[0].VLAN = vl
	tm, err := New(cfg, nullHost{}, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	s := tm.snap.Load()
	vid := uint16(vl.Access)
	tm.fdb.add(fdbKey{vid, vm1MAC}, s.vnics[0].id, false, tm.now())
	home := s.home(s.vnics[0].id)
	if home < 0 {
		home = s.view.Members[0]
	}
	return &vnicForwarder{t: tm, v: s.vnics[0]}, &memberReceiver{t: tm, m: s.members[home]}, func() { tm.Close() }
}

// TestVLANForwardAllocs: the tagged paths (push towards the members, pop
// towards an access vnic, a flood in both forms) allocate nothing.
func TestVLANForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector; `make test` also runs without it")
	}
	fw, rc, done := vlanForwarders(t, access10)
	defer done()
	tx := make([][]byte, dataplane.BatchSize)
	rx := make([][]byte, dataplane.BatchSize)
	for i := range tx {
		dst := peerMAC
		if i%8 == 0 {
			dst = frame.Broadcast // a flood: vm2 (transparent) and the members get it tagged
		}
		tx[i] = udp(dst, vm1MAC, uint16(i), 80)
		rx[i] = tag(udp(vm1MAC, peerMAC, 80, uint16(i)), 10)
	}
	bufs, sizes := newBatch()
	rbufs, rsizes := newBatch()
	refill := func(b [][]byte, s []int, from [][]byte) {
		for i := range b {
			s[i] = dataplane.VnetHdrLen + copy(b[i][dataplane.VnetHdrLen:], from[i]) // tags change the buffers
		}
	}
	refill(bufs, sizes, tx)
	fw.batch(bufs, sizes)
	refill(rbufs, rsizes, rx)
	rc.batch(rbufs, rsizes)
	if n := testing.AllocsPerRun(100, func() { refill(bufs, sizes, tx); fw.batch(bufs, sizes) }); n != 0 {
		t.Errorf("access vnic -> team: %v allocations per batch", n)
	}
	if n := testing.AllocsPerRun(100, func() { refill(rbufs, rsizes, rx); rc.batch(rbufs, rsizes) }); n != 0 {
		t.Errorf("team -> access vnic: %v allocations per batch", n)
	}
	st := fw.t.State()
	if st.Counters.VLANTagsPushed == 0 || st.Counters.VLANTagsPopped == 0 || st.VNICs[0].TxPackets == 0 || st.Counters.VNICDroppedVLAN != 0 {
		t.Errorf("the tagged paths were not taken: %+v", st.Counters)
	}
}

// TestVLANXlat: rx_translation binds per VLAN: the same IPv4 address on
// VLAN 10 and 20 is two VMs; ARP is answered on the request's VLAN
// (tagged) and frames for the team MAC go to the VM of their VLAN.
func TestVLANXlat(t *testing.T) {
	cfg := xlatConfig(config.LearnContinuous)
	cfg.VNICs = []config.VNIC{{Name: "vm1", VLAN: access10}, {Name: "vm2", VLAN: access20}}
	tt := startTeam(t, cfg)
	teamMAC := tt.xlatMAC(t)
	active := tt.State().Active
	all := []string{"vm1", "vm2", "eth1", "eth2"}
	// Both VMs are 10.0.0.1 (vmIP), each on its VLAN.
	tt.send(t, "vm1", arpRequest(vm1MAC, vmIP, peerIP))
	tt.send(t, "vm2", arpRequest(vm2MAC, vmIP, peerIP))
	for _, f := range tt.h.port(active).Sent() {
		if vid, _ := frame.VLANTag(f); frame.MAC(f[6:12]) != teamMAC || (vid != 10 && vid != 20) {
			t.Errorf("sent on %s: source %v VLAN %d; want the team MAC, tagged 10 or 20", active, frame.MAC(f[6:12]), vid)
		}
	}
	tt.got(all...)
	st := tt.State().RxTranslation
	want := []XlatEntry{{VLAN: 10, IP: "10.0.0.1", MAC: vm1MAC.String(), VNIC: "vm1"}, {VLAN: 20, IP: "10.0.0.1", MAC: vm2MAC.String(), VNIC: "vm2"}}
	for i := range st.Table {
		st.Table[i].Age = ""
	}
	if diff := cmp.Diff(want, st.Table); diff != "" {
		t.Fatalf("bindings (-want +got):\n%s", diff)
	}
	// An ARP request for 10.0.0.1 on VLAN 20: answered tagged 20.
	tt.send(t, active, tag(arpRequest(peerMAC, binary.BigEndian.Uint32(peerIP[:]), ipv4(vmIP)), 20))
	sent := tt.h.port(active).Sent()
	if len(sent) != 1 {
		t.Fatalf("answers to the ARP request: %d frames, want 1", len(sent))
	}
	if vid, ok := frame.VLANTag(sent[0]); !ok || vid != 20 || frame.MAC(sent[0][6:12]) != teamMAC || binary.BigEndian.Uint16(sent[0][16:]) != frame.EtherTypeARP {
		t.Errorf("ARP answer %x: want an ARP reply from the team MAC tagged 20", sent[0])
	}
	// Frames for the team MAC: each VLAN's to its VM, untagged.
	tt.send(t, active, tag(toVM(teamMAC), 10))
	tt.send(t, active, tag(toVM(teamMAC), 20))
	tt.send(t, active, tag(toVM(teamMAC), 30))
	got := map[string]int{}
	for _, p := range []string{"vm1", "vm2"} {
		for _, f := range tt.h.port(p).Sent() {
			if _, tagged := frame.VLANTag(f); tagged || frame.MAC(f[0:6]) != map[string]frame.MAC{"vm1": vm1MAC, "vm2": vm2MAC}[p] {
				t.Errorf("to %s: %x; want untagged, to its MAC", p, f)
			}
			got[p]++
		}
	}
	if got["vm1"] != 1 || got["vm2"] != 1 {
		t.Errorf("frames for the team MAC delivered %v, want one to each VM", got)
	}
	if c := tt.State().Counters; c.RxTranslationMiss != 1 {
		t.Errorf("rx_translation_miss %d, want 1 (VLAN 30 has no binding)", c.RxTranslationMiss)
	}
}

// TestExplainVLAN: ctl explain says which VLAN a frame is on, that a
// tag is pushed or popped, and why a frame is dropped for its VLAN.
func TestExplainVLAN(t *testing.T) {
	tt := vlanTeam(t, config.BalanceHyperVPort, config.VNIC{Name: "vm1", VLAN: access10}, config.VNIC{Name: "vm2", VLAN: trunk1020})
	tt.learn(t, "vm1", vm1MAC)
	has := func(e *Explanation, words string) bool {
		return slices.ContainsFunc(e.Steps, func(s string) bool { return strings.Contains(s, words) })
	}
	e, err := tt.Explain(Transmit, "vm1", udp(peerMAC, vm1MAC, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if e.Verdict != VerdictSent || e.VLAN == nil || e.VLAN.ID != 10 || !e.VLAN.Pushed ||
		!has(e, "vlan: untagged from vm1 (access VLAN 10): VLAN 10") || !has(e, "tag 10 pushed") {
		t.Errorf("untagged from the access vnic: %+v %+v", e, e.VLAN)
	}
	if e, _ = tt.Explain(Transmit, "vm1", tag(udp(peerMAC, vm1MAC, 1, 1), 10)); e.Verdict != VerdictDropped || e.Counter != "vnic_dropped_vlan" {
		t.Errorf("tagged from the access vnic: %s %s, want dropped vnic_dropped_vlan", e.Verdict, e.Counter)
	}
	if e, _ = tt.Explain(Transmit, "vm2", tag(udp(peerMAC, vm2MAC, 1, 1), 30)); e.Verdict != VerdictDropped || e.Counter != "vnic_dropped_vlan" {
		t.Errorf("VLAN 30 from the trunk: %s %s, want dropped vnic_dropped_vlan", e.Verdict, e.Counter)
	}
	if e, _ = tt.Explain(Transmit, "vm2", udp(frame.Broadcast, vm2MAC, 1, 1)); e.VLAN.ID != 1 || !e.VLAN.Pushed || len(e.VNICs) != 0 {
		t.Errorf("untagged broadcast from the trunk: VLAN %+v to %v; want native VLAN 1, pushed, no vnic", e.VLAN, e.VNICs)
	}
	home := tt.State().VNICs[0].Home
	e, _ = tt.Explain(Receive, home, tag(udp(frame.Broadcast, peerMAC, 1, 1), 10))
	if e.Verdict != VerdictDelivered || !slices.Equal(e.VNICs, []string{"vm1", "vm2"}) || !e.VLAN.Popped ||
		!slices.Equal(e.VLAN.Untagged, []string{"vm1"}) || !has(e, "tag 10 popped for [vm1]") {
		t.Errorf("broadcast on VLAN 10 from the switch: %+v %+v", e, e.VLAN)
	}
	if e, _ = tt.Explain(Receive, home, tag(udp(vm1MAC, peerMAC, 1, 1), 30)); e.Verdict != VerdictDropped || e.Counter != "rx_dropped_vlan" {
		t.Errorf("VLAN 30 from the switch: %s %s, want dropped rx_dropped_vlan", e.Verdict, e.Counter)
	}
}

// BenchmarkForwardVLAN measures the cost of VLAN handling: the same
// frames through a VLAN-transparent vnic (untagged), an access vnic (a
// tag pushed towards the members, popped towards the vnic) and a trunk
// (tagged both ways, passed as they are). Each batch is refilled, as
// the tag operations change the buffers.
func BenchmarkForwardVLAN(b *testing.B) {
	for _, tc := range []struct {
		name string
		vlan config.VLAN
		tx   func(i int) []byte
		rx   func(i int) []byte
	}{
		{"transparent", config.VLAN{},
			func(i int) []byte { return udp(peerMAC, vm1MAC, uint16(i), 80) },
			func(i int) []byte { return udp(vm1MAC, peerMAC, 80, uint16(i)) }},
		{"access", access10,
			func(i int) []byte { return udp(peerMAC, vm1MAC, uint16(i), 80) },
			func(i int) []byte { return tag(udp(vm1MAC, peerMAC, 80, uint16(i)), 10) }},
		{"trunk", config.VLAN{Trunk: []int{10}},
			func(i int) []byte { return tag(udp(peerMAC, vm1MAC, uint16(i), 80), 10) },
			func(i int) []byte { return tag(udp(vm1MAC, peerMAC, 80, uint16(i)), 10) }},
	} {
		for _, dir := range []string{"vnic-to-team", "team-to-vnic"} {
			b.Run(tc.name+"/"+dir, func(b *testing.B) {
				vl := tc.vlan
				fw, rc, done := vlanForwarders(b, vl)
				defer done()
				if vl.Trunk != nil {
					fw.t.fdb.add(fdbKey{10, vm1MAC}, fw.v.id, false, fw.t.now())
				}
				mk, run := tc.tx, fw.batch
				if dir == "team-to-vnic" {
					mk, run = tc.rx, rc.batch
				}
				from := make([][]byte, dataplane.BatchSize)
				for i := range from {
					from[i] = mk(i)
				}
				bufs, sizes := newBatch()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					for j := range bufs {
						sizes[j] = dataplane.VnetHdrLen + copy(bufs[j][dataplane.VnetHdrLen:], from[j])
					}
					run(bufs, sizes)
				}
				b.ReportMetric(float64(b.N*len(bufs))/b.Elapsed().Seconds(), "frames/s")
			})
		}
	}
}
