package team

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/team/lacp"
)

// partner is an 802.1AX partner on the far side of the fake wires: a
// pure lacp.Runner fed with what the team's members send.
type partner struct {
	r  *lacp.Runner
	tt *testTeam
}

// now is the team's virtual clock: both ends live in the same time.
func (p *partner) now() time.Duration { return time.Duration(p.tt.now.Load()) }

// pump moves PDUs both ways once: from the team's member ports into the
// partner, and from the partner into the members.
func (p *partner) pump(t *testing.T, tt *testTeam, members []string) {
	// 100 ms of virtual time per round; wake the team's LACP goroutine so
	// it sees it.
	tt.advance(100 * time.Millisecond)
	tt.sync() // LACP runs up to the new time and sends its PDUs
	time.Sleep(5 * time.Millisecond)
	p.hear(t, tt, members)
	p.answer(t, tt, members)
}

// hear runs the PDUs the team's members sent through the partner.
func (p *partner) hear(t *testing.T, tt *testTeam, members []string) {
	t.Helper()
	for i, name := range members {
		for _, f := range tt.h.port(name).Sent() {
			if binary.BigEndian.Uint16(f[12:]) == frame.EtherTypeSlowProtocol {
				if err := p.r.HandleFrame(i, f, p.now()); err != nil {
					t.Errorf("partner rejects our PDU on %s: %v", name, err)
				}
			}
		}
	}
	p.r.Tick(p.now())
}

// answer injects the PDUs the partner has to send into the members, and
// returns how many each member got.
func (p *partner) answer(t *testing.T, tt *testTeam, members []string) map[string]uint64 {
	t.Helper()
	sent := map[string]uint64{}
	for _, tx := range p.r.Drain().Transmit {
		b, err := tx.AppendFrame(nil)
		if err != nil {
			t.Fatal(err)
		}
		tt.h.port(members[tx.Port]).Inject(b)
		sent[members[tx.Port]]++
	}
	return sent
}

func TestLACPModeAggregates(t *testing.T) {
	cfg := baseConfig(config.ModeLACP, config.BalanceAddressHash, "eth1", "eth2")
	cfg.LACP = config.LACP{Active: true, Rate: config.LACPRateFast, SystemPriority: 65535, MinPorts: 1}
	for i := range cfg.Members {
		cfg.Members[i].LACPPrio = 255
	}
	tt := startTeam(t, cfg)
	p := &partner{tt: tt}
	var err error
	p.r, err = lacp.New(lacp.Config{SystemPriority: 100, SystemMAC: [6]byte{0x02, 0x55, 0, 0, 0, 1}, Active: true, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	members := []string{"eth1", "eth2"}
	for i := range members {
		if err := p.r.AddPort(i, lacp.PortConfig{Number: uint16(i + 1), Priority: 1, Key: 7, MAC: [6]byte{0x02, 0x55, 0, 0, 1, byte(i)}}, p.now()); err != nil {
			t.Fatal(err)
		}
		_ = p.r.SetLink(i, true, p.now())
	}
	// Before aggregation nothing is distributed.
	tt.learn(t, "vm1", vm1MAC)
	if st := tt.State(); st.Members[0].Active || st.Members[1].Active {
		t.Fatalf("members distribute before LACP agreed: %+v", st.Members)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		p.pump(t, tt, members)
		st := tt.State()
		if st.Members[0].LACP != nil && st.Members[0].LACP.Distributing && st.Members[1].LACP.Distributing {
			if st.Members[0].LACP.PartnerSystem != "02:55:00:00:00:01" || st.Members[0].LACP.PartnerKey != 7 {
				t.Fatalf("partner as we see it: %+v", st.Members[0].LACP)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no aggregation: %+v %+v", st.Members[0].LACP, st.Members[1].LACP)
		}
	}
	// Traffic flows, with no source-MAC rewrite, and our PDUs never
	// reach a vnic.
	for i := 0; i < 32; i++ {
		tt.h.port("vm1").Inject(udp(peerMAC, vm1MAC, uint16(3000+i), 80))
	}
	waitFor(t, func() error {
		st := tt.State()
		if st.Members[0].TxPackets+st.Members[1].TxPackets < 32 {
			return fmt.Errorf("forwarded %d", st.Members[0].TxPackets+st.Members[1].TxPackets)
		}
		return nil
	})
	for _, v := range []string{"vm1", "vm2"} {
		for _, f := range tt.h.port(v).Sent() {
			if binary.BigEndian.Uint16(f[12:]) == frame.EtherTypeSlowProtocol {
				t.Errorf("a Slow Protocols frame reached vnic %s", v)
			}
		}
	}
	if n := tt.State().Counters.TxSourceMACRewritten; n != 0 {
		t.Errorf("lacp mode rewrote %d sources", n)
	}
	// A malformed PDU is counted and changes nothing.
	bad := make([]byte, 30)
	copy(bad, []byte{0x01, 0x80, 0xc2, 0, 0, 2})
	binary.BigEndian.PutUint16(bad[12:], frame.EtherTypeSlowProtocol)
	bad[14], bad[15], bad[16], bad[17] = 1, 1, 1, 0 // actor TLV of length 0
	tt.h.port("eth1").Inject(bad)
	waitFor(t, func() error {
		if tt.State().Counters.RxSlowMalformed != 1 {
			return fmt.Errorf("malformed PDU not counted: %+v", tt.State().Counters)
		}
		return nil
	})
	if st := tt.State(); !st.Members[0].LACP.Distributing {
		t.Error("a malformed PDU broke the aggregation")
	}
	// The partner goes silent: after the short timeout our members stop
	// distributing.
	waitFor(t, func() error {
		tt.advance(100 * time.Millisecond)
		tt.sync()
		tt.h.port("eth1").Sent()
		tt.h.port("eth2").Sent()
		if st := tt.State(); st.Members[0].Active || st.Members[1].Active {
			return fmt.Errorf("still distributing: %s %s", st.Members[0].LACP.ReceiveState, st.Members[1].LACP.ReceiveState)
		}
		return nil
	})
	_ = dataplane.VnetHdrLen
}
