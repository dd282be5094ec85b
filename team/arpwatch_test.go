package team

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

var arpTarget = [4]byte{10, 0, 0, 254}

// arpReplyTo builds the target's reply to member's probe.
func arpReplyTo(member frame.MAC) []byte {
	b := gratuitousARP(peerMAC, binary.BigEndian.Uint32(arpTarget[:]))[10:]
	copy(b[0:6], member[:])
	binary.BigEndian.PutUint16(b[20:], 2)
	copy(b[32:38], member[:])
	copy(b[38:42], []byte{10, 0, 0, 9})
	return b
}

func TestARPWatch(t *testing.T) {
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceActiveBackup, "eth1", "eth2")
	// A long interval keeps the watcher's own ticker out of the way: the
	// test drives it in virtual time.
	cfg.LinkWatch = config.LinkWatch{Name: config.LinkWatchARPPing, Interval: time.Hour, MissedMax: 3,
		SourceHost: "10.0.0.9", TargetHost: "10.0.0.254"}
	tt := startTeam(t, cfg)
	w := tt.arpw
	tick := func() {
		tt.arpWatchTick(w)
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
