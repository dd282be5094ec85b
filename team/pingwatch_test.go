package team

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/team/config"
)

var arpTarget = [4]byte{10, 0, 0, 254}

var arpSource = [4]byte{10, 0, 0, 9}

// arpReplyTo builds the target's reply to member's probe.
func arpReplyTo(member frame.MAC) []byte {
	return neigh.AppendFrame(nil, member, peerMAC, &neigh.Packet{Op: neigh.OpReply,
		SenderMAC: peerMAC, SenderIP: arpTarget, TargetMAC: member, TargetIP: arpSource})
}

// TestARPWatchReply: only the target's answer to this member's probe
// counts as a reply; every other ARP frame goes on to the vnics.
func TestARPWatchReply(t *testing.T) {
	w := newPingWatch(config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Second, MissedMax: 3,
		SourceHost: "10.0.0.9", TargetHost: "10.0.0.254"})
	me := macFor("eth1")
	good := neigh.Packet{Op: neigh.OpReply, SenderMAC: peerMAC, SenderIP: arpTarget, TargetMAC: me, TargetIP: arpSource}
	for _, tt := range []struct {
		name string
		eth  []byte
		want bool
	}{
		{"the reply", arpReplyTo(me), true},
		{"to another member", arpReplyTo(macFor("eth2")), false},
		{"a request", func() []byte { p := good; p.Op = neigh.OpRequest; return neigh.AppendFrame(nil, me, peerMAC, &p) }(), false},
		{"from another host", func() []byte {
			p := good
			p.SenderIP = [4]byte{10, 0, 0, 1}
			return neigh.AppendFrame(nil, me, peerMAC, &p)
		}(), false},
		{"to another address", func() []byte {
			p := good
			p.TargetIP = [4]byte{10, 0, 0, 8}
			return neigh.AppendFrame(nil, me, peerMAC, &p)
		}(), false},
		{"for another MAC", func() []byte { p := good; p.TargetMAC = vm1MAC; return neigh.AppendFrame(nil, me, peerMAC, &p) }(), false},
		{"broadcast", neigh.AppendFrame(nil, neigh.Broadcast, peerMAC, &good), false},
		{"tagged", func() []byte {
			b := arpReplyTo(me)
			return append(b[:12:12], append([]byte{0x81, 0, 0, 5}, b[12:]...)...)
		}(), false},
		{"truncated", arpReplyTo(me)[:14+neigh.ARPLen-1], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f frame.Frame
			if err := frame.Parse(tt.eth, &f); err != nil {
				t.Fatal(err)
			}
			if got := f.ARP && w.isReply(me, &f, tt.eth); got != tt.want {
				t.Errorf("isReply %v, want %v", got, tt.want)
			}
		})
	}
}

// nsnaTarget is nsna_ping's target_host.
var nsnaTarget = netip.MustParseAddr("2001:db8::fe")

// naTo builds the target's solicited advertisement answering member's
// neighbour solicitation.
func naTo(member frame.MAC) []byte {
	ns := neigh.AppendNS(nil, member, neigh.LinkLocal(member), nsnaTarget.As16())
	return neigh.AppendNA(nil, peerMAC, neigh.ND(ns[neigh.EthernetLen:]), member, neigh.FlagOverride)
}

// TestNSNAWatchReply: only the target's solicited advertisement to this
// member's link-local address and MAC counts as an answer.
func TestNSNAWatchReply(t *testing.T) {
	w := newPingWatch(config.LinkWatch{Name: config.LinkWatchNSNAPing, Interval: time.Second, MissedMax: 3,
		TargetHost: nsnaTarget.String()})
	me := macFor("eth1")
	good := neigh.NDPacket{Type: neigh.TypeNeighborAdvertisement, Flags: neigh.FlagSolicited | neigh.FlagOverride,
		Src: nsnaTarget.As16(), Dst: neigh.LinkLocal(me), Target: nsnaTarget.As16(), TargetLinkAddr: peerMAC, HasTargetLinkAddr: true}
	na := func(edit func(p *neigh.NDPacket)) []byte {
		p := good
		edit(&p)
		return neigh.AppendNDFrame(nil, me, peerMAC, &p)
	}
	for _, tt := range []struct {
		name string
		eth  []byte
		want bool
	}{
		{"the answer", naTo(me), true},
		{"built as the answer", na(func(p *neigh.NDPacket) {}), true},
		{"to another member", naTo(macFor("eth2")), false},
		{"to another member's address at this MAC", na(func(p *neigh.NDPacket) { p.Dst = neigh.LinkLocal(macFor("eth2")) }), false},
		{"unsolicited", neigh.AppendUnsolicitedNA(nil, peerMAC, nsnaTarget.As16(), neigh.FlagOverride), false},
		{"unsolicited, unicast", na(func(p *neigh.NDPacket) { p.Flags = neigh.FlagOverride }), false},
		{"for another target", na(func(p *neigh.NDPacket) { p.Target[15]++ }), false},
		{"a solicitation", neigh.AppendNS(nil, peerMAC, nsnaTarget.As16(), neigh.LinkLocal(me)), false},
		{"an ARP reply", arpReplyTo(me), false},
		{"bad checksum", func() []byte { b := naTo(me); b[neigh.EthernetLen+neigh.IPv6Len+2] ^= 1; return b }(), false},
		{"tagged", func() []byte {
			b := naTo(me)
			return append(b[:12:12], append([]byte{0x81, 0, 0, 5}, b[12:]...)...)
		}(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var f frame.Frame
			if err := frame.Parse(tt.eth, &f); err != nil {
				t.Fatal(err)
			}
			if got := (f.ARP || f.ND) && w.isReply(me, &f, tt.eth); got != tt.want {
				t.Errorf("isReply %v, want %v (ND %v)", got, tt.want, f.ND)
			}
		})
	}
}

// TestPingWatch runs arp_ping and nsna_ping in virtual time: every
// round each member sends its probe from its own MAC; the member whose
// answers stop is down after missed_max rounds although it has carrier,
// and up again with its next answer.
func TestPingWatch(t *testing.T) {
	for _, tc := range []struct {
		lw config.LinkWatch
		// isProbe checks what member sent in a round.
		isProbe func(member frame.MAC, eth []byte) bool
		answer  func(member frame.MAC) []byte
		missed  func(ms MemberState) int
	}{
		{config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Hour, MissedMax: 3, SourceHost: "10.0.0.9", TargetHost: "10.0.0.254"},
			func(member frame.MAC, eth []byte) bool {
				return binary.BigEndian.Uint16(eth[12:]) == frame.EtherTypeARP &&
					[4]byte(eth[38:42]) == arpTarget && [4]byte(eth[28:32]) == arpSource && frame.MAC(eth[6:12]) == member
			},
			arpReplyTo, func(ms MemberState) int { return ms.ARPMissed }},
		{config.LinkWatch{Name: config.LinkWatchNSNAPing, Interval: time.Hour, MissedMax: 3, TargetHost: nsnaTarget.String()},
			func(member frame.MAC, eth []byte) bool {
				var f frame.Frame
				if frame.Parse(eth, &f) != nil || !f.ND {
					return false
				}
				n := neigh.ND(eth[f.L3:])
				sll, ok := n.SourceLinkAddr()
				return f.Src == member && f.Dst == frame.MAC(neigh.MulticastMAC(neigh.SolicitedNode(nsnaTarget.As16()))) &&
					n.Type() == neigh.TypeNeighborSolicitation && n.Target() == nsnaTarget.As16() &&
					n.Src() == neigh.LinkLocal(member) && ok && sll == member
			},
			naTo, func(ms MemberState) int { return ms.NSNAMissed }},
	} {
		t.Run(tc.lw.Name, func(t *testing.T) {
			cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2")
			// A long interval keeps the watcher's own ticker out of the
			// way: the test drives it in virtual time.
			cfg.LinkWatch = tc.lw
			tt := startTeam(t, cfg)
			tick := func() {
				_ = tt.do(func() error { tt.pingWatchTick(); return nil })
			}
			// answer has the target answer member (ID id) now, then
			// runs a round.
			answer := func(member string, id int) {
				tt.h.port(member).Inject(tc.answer(macFor(member)))
				waitFor(t, func() error {
					if tt.pingw.replied[id].Load() != tt.now.Load() {
						return fmt.Errorf("answer on %s not seen", member)
					}
					return nil
				})
				tick()
			}
			tick()
			for _, m := range []string{"eth1", "eth2"} {
				sent := tt.h.port(m).Sent()
				if len(sent) != 1 || !tc.isProbe(macFor(m), sent[0]) {
					t.Fatalf("%s sent %x, want one probe for the target from its own MAC", m, sent)
				}
			}
			if a := tt.State().Active; a != "eth1" {
				t.Fatalf("active %q, want eth1", a)
			}
			// Explain says what the data path does with an answer: the
			// watcher takes it.
			if e, err := tt.Explain(Receive, "eth2", tc.answer(macFor("eth2"))); err != nil || e.Verdict != VerdictConsumed ||
				!strings.Contains(strings.Join(e.Steps, "\n"), tc.lw.Name) {
				t.Errorf("Explain of an answer: %+v, %v", e, err)
			}
			// Only eth2 hears from the target; after missed_max intervals
			// eth1 is down although it has carrier, and eth2 takes over.
			for i := 0; i < 4; i++ {
				tt.advance(time.Hour)
				answer("eth2", 1)
			}
			st := tt.State()
			if st.Active != "eth2" || st.Members[0].Link != "down" || !st.Members[0].Carrier ||
				st.Members[0].LinkWatch != tc.lw.Name+" failed" || tc.missed(st.Members[0]) != 4 ||
				st.Members[1].LinkWatch != tc.lw.Name+" ok" || tc.missed(st.Members[1]) != 0 || st.Members[0].LinkDownCount != 1 {
				t.Fatalf("after eth1's answers stopped: active %q, eth1 %+v, eth2 %+v", st.Active, st.Members[0], st.Members[1])
			}
			if st.Counters.RxDroppedNotOwned != 0 {
				t.Errorf("answers counted as not owned: %d", st.Counters.RxDroppedNotOwned)
			}
			if n := len(tt.h.port("eth1").Sent()); n != 4 {
				t.Errorf("eth1 sent %d probes in the last 4 rounds, want 4: a member down by the watcher keeps asking", n)
			}
			// eth1 answers again: it is up again.
			answer("eth1", 0)
			if st := tt.State(); st.Members[0].Link != "up" || st.Members[0].LinkWatch != tc.lw.Name+" ok" {
				t.Fatalf("eth1 after it answered again: %+v", st.Members[0])
			}
		})
	}
}
