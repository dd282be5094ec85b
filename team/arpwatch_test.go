package team

import (
	"encoding/binary"
	"fmt"
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
	w := newARPWatch(config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Second, MissedMax: 3,
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

func TestARPWatch(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2")
	// A long interval keeps the watcher's own ticker out of the way: the
	// test drives it in virtual time.
	cfg.LinkWatch = config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Hour, MissedMax: 3,
		SourceHost: "10.0.0.9", TargetHost: "10.0.0.254"}
	tt := startTeam(t, cfg)
	tick := func() {
		_ = tt.do(func() error { tt.arpWatchTick(); return nil })
	}
	tick()
	for _, m := range []string{"eth1", "eth2"} {
		sent := tt.h.port(m).Sent()
		if len(sent) != 1 || binary.BigEndian.Uint16(sent[0][12:]) != frame.EtherTypeARP ||
			[4]byte(sent[0][38:42]) != arpTarget || [4]byte(sent[0][28:32]) != [4]byte{10, 0, 0, 9} ||
			frame.MAC(sent[0][6:12]) != macFor(m) {
			t.Fatalf("%s sent %x, want one ARP request for 10.0.0.254 from its own MAC", m, sent)
		}
	}
	if a := tt.State().Active; a != "eth1" {
		t.Fatalf("active %q, want eth1", a)
	}
	// Only eth2 hears from the target; after missed_max intervals eth1 is
	// down although it has carrier, and eth2 takes over.
	for i := 0; i < 4; i++ {
		tt.advance(time.Hour)
		tt.h.port("eth2").Inject(arpReplyTo(macFor("eth2")))
		waitFor(t, func() error {
			if tt.arpw.replied[1].Load() != tt.now.Load() {
				return fmt.Errorf("reply on eth2 not seen")
			}
			return nil
		})
		tick()
	}
	st := tt.State()
	if st.Active != "eth2" || st.Members[0].Link != "down" || !st.Members[0].Carrier || st.Members[0].LinkWatch != "arp_ping failed" {
		t.Fatalf("after eth1's replies stopped: active %q, eth1 %+v", st.Active, st.Members[0])
	}
	if st.Counters.RxDroppedNotOwned != 0 {
		t.Errorf("arp_ping replies counted as not owned: %d", st.Counters.RxDroppedNotOwned)
	}
	// eth1 answers again: it is up again.
	tt.h.port("eth1").Inject(arpReplyTo(macFor("eth1")))
	waitFor(t, func() error {
		if tt.arpw.replied[0].Load() != tt.now.Load() {
			return fmt.Errorf("reply on eth1 not seen")
		}
		return nil
	})
	tick()
	if st := tt.State(); st.Members[0].Link != "up" || st.Members[0].LinkWatch != "arp_ping ok" {
		t.Fatalf("eth1 after it answered again: %+v", st.Members[0])
	}
}
