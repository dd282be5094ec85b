package team

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// decisionCounters are the counters that record a decision on one frame.
var decisionCounters = []string{
	"rx_dropped_not_owned", "rx_dropped_wrong_member", "rx_dropped_not_collecting",
	"rx_dropped_duplicate_broadcast", "rx_malformed", "rx_slow_protocol",
	"tx_dropped_no_member", "vnic_dropped_slow_protocol", "vnic_dropped_malformed",
	"arp_answered", "rx_translation_miss", "tx_source_mac_rewritten",
	"vnic_dropped_vlan", "vnic_dropped_untagged", "rx_dropped_vlan",
}

func (tt *testTeam) counters(t *testing.T) map[string]uint64 {
	b, err := json.Marshal(tt.State().Counters)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]uint64
	_ = json.Unmarshal(b, &m)
	out := map[string]uint64{}
	for _, k := range decisionCounters {
		out[k] = m[k]
	}
	return out
}

// isAnnouncement reports whether a frame a member sent is one of the
// team's own announcements (RARP, gratuitous ARP) rather than a frame
// the test injected.
func isAnnouncement(f []byte) bool {
	if _, tagged := frame.VLANTag(f); tagged {
		f = append(f[:12:12], f[16:]...) // announced on a VLAN
	}
	et := binary.BigEndian.Uint16(f[12:])
	return et == frame.EtherTypeRARP || et == frame.EtherTypeARP && len(f) >= 42 && [4]byte(f[28:32]) == [4]byte(f[38:42])
}

// outcome is what the data path did with one frame: the ports that got a
// copy (with the source MAC of the copy) and the counters that moved.
type outcome struct {
	Ports    map[string]string
	Counters map[string]uint64
}

// TestExplainAgreesWithDataPath replays random frames, one at a time,
// through Explain and then through the data path (fake ports), in every
// mode and balancer, while members go down and up and virtual time runs,
// and compares every decision: delivered to which vnics, sent on which
// member with which source MAC, dropped under which counter.
func TestExplainAgreesWithDataPath(t *testing.T) {
	lacp := baseConfig(config.ModeLACP, config.BalanceAddressHash, "eth1", "eth2")
	lacp.LACP = config.LACP{Active: true, Rate: config.LACPRateFast, SystemPriority: 65535, MinPorts: 1}
	rr := baseConfig(config.ModeStatic, config.BalanceRoundRobin, "eth1", "eth2")
	never := baseConfig(config.ModeSwitchIndependent, config.BalanceAddressHash, "eth1", "eth2")
	never.SourceMACRewrite = config.RewriteNever
	xl := xlatConfig(config.LearnInit)
	xl.VNICs = []config.VNIC{{Name: "vm1"}, {Name: "vm2"}}
	xlc := xlatConfig(config.LearnContinuous)
	xlc.VNICs = xl.VNICs
	xlv := xlatConfig(config.LearnContinuous)
	xlv.VNICs = []config.VNIC{{Name: "vm1", VLAN: config.VLAN{Access: 10}}, {Name: "vm2", VLAN: config.VLAN{Trunk: []int{10, 20}, Native: 1}}}
	cases := map[string]*config.Config{
		"si hyperv-port":       baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"),
		"si address-hash":      baseConfig(config.ModeSwitchIndependent, config.BalanceAddressHash, "eth1", "eth2"),
		"si address-hash kept": never,
		"si dynamic":           baseConfig(config.ModeSwitchIndependent, config.BalanceDynamic, "eth1", "eth2", "eth3"),
		"si active-backup":     baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2"),
		"static round-robin":   rr,
		"lacp no partner":      lacp,
		"rx_translation init":  xl,
		"rx_translation cont":  xlc,
		"vlans access trunk":   vlanConfig(config.BalanceHyperVPort, config.VLAN{Access: 10}, config.VLAN{Trunk: []int{10, 20}, Native: 1}),
		"vlans transparent":    vlanConfig(config.BalanceAddressHash, config.VLAN{Access: 10}, config.VLAN{}),
		"vlans rx_translation": xlv,
		"vlans no native":      vlanConfig(config.BalanceDynamic, config.VLAN{Trunk: []int{20}}, config.VLAN{Access: 20}),
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) { replay(t, cfg) })
	}
}

func replay(t *testing.T, cfg *config.Config) {
	tt := startTeam(t, cfg)
	var members []string
	for _, m := range cfg.Members {
		members = append(members, m.Name)
	}
	vnics := []string{"vm1", "vm2"}
	macs := map[string]frame.MAC{"vm1": vm1MAC, "vm2": vm2MAC}
	tt.learn(t, "vm1", vm1MAC)
	tt.learn(t, "vm2", vm2MAC)
	var teamMAC frame.MAC
	if cfg.RxTranslation.Enabled {
		teamMAC = tt.xlatMAC(t)
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(cfg.Mode))))
	vlans := slices.ContainsFunc(cfg.VNICs, func(v config.VNIC) bool { return !v.VLAN.IsZero() })
	// maybeTag tags half the frames of a team with VLANs: VLAN 0 (a
	// priority tag), a native one, one some vnic is on, one none is.
	maybeTag := func(b []byte) []byte {
		if !vlans || len(b) < 14 || rng.IntN(2) == 0 {
			return b
		}
		vid := []uint16{0, 1, 10, 20, 30}[rng.IntN(5)]
		return append(b[:12:12], append([]byte{0x81, 0, byte(vid >> 8), byte(vid)}, b[12:]...)...)
	}
	txFrame := func(src frame.MAC) []byte {
		switch rng.IntN(9) {
		case 0:
			return udp(frame.Broadcast, src, uint16(rng.IntN(4)), 1)
		case 1:
			return udp(vm2MAC, src, uint16(rng.IntN(4)), 2) // local, or own
		case 2:
			b := udp(peerMAC, src, 0, 0)
			binary.BigEndian.PutUint16(b[12:], frame.EtherTypeSlowProtocol)
			return b
		case 3:
			return make([]byte, rng.IntN(14))
		case 4:
			return arpRequest(src, vmIP+uint32(src[5]), peerIP)
		}
		return udp(peerMAC, src, uint16(rng.IntN(64)), 80)
	}
	tx := func(src frame.MAC) []byte { return maybeTag(txFrame(src)) }
	rxFrame := func() []byte {
		switch rng.IntN(9) {
		case 0:
			return udp(frame.Broadcast, peerMAC, 1, 1)
		case 1:
			return udp(macFor(members[rng.IntN(len(members))]), peerMAC, 80, 7) // a reply to a rewritten source
		case 2:
			return udp(frame.MAC{0x02, 0xdd, 0, 0, 0, 1}, peerMAC, 80, 7)
		case 3:
			b := udp(vm1MAC, peerMAC, 0, 0)
			binary.BigEndian.PutUint16(b[12:], frame.EtherTypeSlowProtocol)
			return b
		case 4:
			return arpRequest(peerMAC, binary.BigEndian.Uint32(peerIP[:]), [4]byte{10, 0, 0, byte(1 + rng.IntN(3))})
		case 5:
			b := toVM(teamMAC)
			b[14+19] = byte(1 + rng.IntN(3)) // 10.0.0.1-3
			return b
		}
		return udp([]frame.MAC{vm1MAC, vm2MAC}[rng.IntN(2)], peerMAC, 80, uint16(rng.IntN(64)))
	}
	rx := func() []byte { return maybeTag(rxFrame()) }
	all := append(slices.Clone(members), vnics...)
	drain := func() {
		for _, p := range all {
			tt.h.port(p).Sent()
		}
	}
	collect := func(before map[string]uint64) outcome {
		o := outcome{Ports: map[string]string{}, Counters: map[string]uint64{}}
		for _, p := range all {
			for _, f := range tt.h.port(p).Sent() {
				if slices.Contains(members, p) && (isAnnouncement(f) || binary.BigEndian.Uint16(f[12:]) == frame.EtherTypeSlowProtocol) {
					continue // the team's own: announcements, LACPDUs
				}
				o.Ports[p] += frame.MAC(f[6:12]).String() + tagOf(f) + " "
			}
		}
		for k, v := range tt.counters(t) {
			if d := v - before[k]; d != 0 {
				o.Counters[k] = d
			}
		}
		return o
	}
	verdicts := map[string]int{}
	defer func() { t.Logf("verdicts: %v", verdicts) }()
	for i := range 400 {
		switch r := rng.IntN(40); {
		case r < 4:
			// Down once in four, up otherwise: members are mostly up.
			tt.LinkChanged(members[rng.IntN(len(members))], r > 0)
			time.Sleep(time.Millisecond)
			drain()
		case r == 4:
			tt.advance(time.Second)
		}
		tt.advance(time.Duration(rng.IntN(2000)) * time.Microsecond)
		var dir, port string
		var eth []byte
		if rng.IntN(2) == 0 {
			dir, port = Transmit, vnics[rng.IntN(2)]
			eth = tx(macs[vnics[rng.IntN(2)]])
		} else {
			dir, port = Receive, members[rng.IntN(len(members))]
			eth = rx()
		}
		before := tt.counters(t)
		rxBefore := tt.portRx(port)
		e, err := tt.Explain(dir, port, eth)
		if err != nil {
			t.Fatalf("frame %d: Explain: %v", i, err)
		}
		want := expected(e, eth)
		verdicts[e.Verdict+" "+e.Counter]++
		tt.h.port(port).Inject(eth)
		var got outcome
		deadline := time.Now().Add(wait)
		for {
			got = collectInto(got, collect(before))
			if tt.portRx(port) > rxBefore && cmp.Equal(want, got) || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("frame %d (%s on %s, % x): explain and data path disagree (-explain +data path):\n%s\nexplanation: %+v",
				i, dir, port, eth, diff, e)
		}
	}
	time.Sleep(10 * time.Millisecond)
	if o := collect(tt.counters(t)); len(o.Ports) != 0 {
		t.Fatalf("stray frames after the last one: %v", o.Ports)
	}
}

// collectInto adds the frames of o to acc, and takes o's counters.
func collectInto(acc, o outcome) outcome {
	if acc.Ports == nil {
		acc.Ports = map[string]string{}
	}
	for p, s := range o.Ports {
		acc.Ports[p] += s
	}
	acc.Counters = o.Counters
	return acc
}

func (tt *testTeam) portRx(name string) uint64 {
	st := tt.State()
	for _, m := range st.Members {
		if m.Name == name {
			return m.RxPackets
		}
	}
	for _, v := range st.VNICs {
		if v.Name == name {
			return v.RxPackets
		}
	}
	return 0
}

// tagOf is "/N" for a frame tagged with VLAN N (not 0), else "".
func tagOf(eth []byte) string {
	if vid, ok := frame.VLANTag(eth); ok && vid != 0 {
		return fmt.Sprintf("/%d", vid)
	}
	return ""
}

// vlanConfig is a team whose vm1 and vm2 have the given vlan settings.
func vlanConfig(balance string, vm1, vm2 config.VLAN) *config.Config {
	c := baseConfig(config.ModeSwitchIndependent, balance, "eth1", "eth2")
	c.VNICs[0].VLAN, c.VNICs[1].VLAN = vm1, vm2
	return c
}

// expected is the outcome an Explanation predicts.
func expected(e *Explanation, eth []byte) outcome {
	o := outcome{Ports: map[string]string{}, Counters: map[string]uint64{}}
	if e.Counter != "" && slices.Contains(decisionCounters, e.Counter) {
		o.Counters[e.Counter] = 1
	}
	src := ""
	if len(eth) >= 14 {
		src = frame.MAC(eth[6:12]).String() + " "
	}
	tag := func(port string) string {
		if e.VLAN == nil || e.VLAN.ID == 0 || slices.Contains(e.VLAN.Untagged, port) {
			return ""
		}
		return fmt.Sprintf("/%d", e.VLAN.ID)
	}
	for _, v := range e.VNICs {
		o.Ports[v] = strings.TrimSuffix(src, " ") + tag(v) + " "
	}
	if e.Verdict == VerdictAnswered {
		o.Ports[e.Port] = e.RxTranslation.TeamMAC + tag(e.Port) + " "
	}
	if e.Verdict == VerdictSent {
		s := src
		if r := e.SourceMAC; r != nil && r.Rewritten {
			s = r.To + " "
			if e.RxTranslation == nil {
				o.Counters["tx_source_mac_rewritten"] = 1
			}
		}
		o.Ports[e.Member] = strings.TrimSuffix(s, " ") + tag(e.Member) + " "
	}
	return o
}
