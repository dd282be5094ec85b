package lacp

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/team/lacpdu"
)

const s = time.Second

// pair builds nodes a and b with two ports each, wired 1-1 and 2-2.
func pair(t *testing.T, ca, cb Config) (*world, *node, *node) {
	w := newWorld(t)
	a := w.node("a", ca, 2)
	b := w.node("b", cb, 2)
	w.connect(a, 1, b, 1)
	w.connect(a, 2, b, 2)
	return w, a, b
}

func bothDistributing(a, b *node, want []int) func() bool {
	return func() bool {
		return cmp.Equal(a.r.Distributing(), want) && cmp.Equal(b.r.Distributing(), want)
	}
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		name           string
		a, b           Config
		aggregate      bool
		aRate, bRate   time.Duration // periodic interval of a and b once up
		aState, bState string        // actor_state once up
	}{
		{name: "active-active fast", a: cfg(1, true, true), b: cfg(2, true, true), aggregate: true,
			aRate: FastPeriodicTime, bRate: FastPeriodicTime, aState: "ATGSCD..", bState: "ATGSCD.."},
		{name: "active-active slow", a: cfg(1, true, false), b: cfg(2, true, false), aggregate: true,
			aRate: SlowPeriodicTime, bRate: SlowPeriodicTime, aState: "A.GSCD..", bState: "A.GSCD.."},
		{name: "active-passive fast", a: cfg(1, true, true), b: cfg(2, false, true), aggregate: true,
			aRate: FastPeriodicTime, bRate: FastPeriodicTime, aState: "ATGSCD..", bState: ".TGSCD.."},
		{name: "active-passive slow", a: cfg(1, true, false), b: cfg(2, false, false), aggregate: true,
			aRate: SlowPeriodicTime, bRate: SlowPeriodicTime, aState: "A.GSCD..", bState: "..GSCD.."},
		{name: "active fast, passive slow", a: cfg(1, true, true), b: cfg(2, false, false), aggregate: true,
			aRate: SlowPeriodicTime, bRate: FastPeriodicTime, aState: "ATGSCD..", bState: "..GSCD.."},
		{name: "passive-passive fast", a: cfg(1, false, true), b: cfg(2, false, true),
			aState: ".TG...F.", bState: ".TG...F."},
		{name: "passive-passive slow", a: cfg(1, false, false), b: cfg(2, false, false),
			aState: "..G...F.", bState: "..G...F."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, a, b := pair(t, tt.a, tt.b)
			at, ok := w.runUntil(20*s, bothDistributing(a, b, ids(1, 2)))
			if ok != tt.aggregate {
				w.dump()
				t.Fatalf("distributing at %v = %v, want %v (a %v, b %v)", at, ok, tt.aggregate,
					a.r.Distributing(), b.r.Distributing())
			}
			if ok {
				t.Logf("collecting-distributing on both ends at %v", at)
			}
			if ok && at > 5*s {
				t.Errorf("took %v to aggregate, want at most 5s", at)
			}
			w.run(300 * s)
			w.checkRate()
			if tt.aggregate {
				if !bothDistributing(a, b, ids(1, 2))() {
					t.Fatalf("not distributing at %v", w.now)
				}
				// Periodic LACPDUs at the rate the partner asked for.
				for _, x := range []struct {
					n    *node
					rate time.Duration
				}{{a, tt.aRate}, {b, tt.bRate}} {
					got := w.sentBetween(x.n, 1, 100*s, 280*s)
					want := int(180 * s / x.rate)
					if got < want-1 || got > want+1 {
						t.Errorf("%s sent %d LACPDUs in 180s, want about %d", x.n.name, got, want)
					}
				}
			} else {
				if d := append(a.r.Distributing(), b.r.Distributing()...); len(d) != 0 {
					t.Fatalf("distributing: %v", d)
				}
				if len(a.sent)+len(b.sent) != 0 {
					t.Errorf("passive ports sent %d LACPDUs", len(a.sent)+len(b.sent))
				}
			}
			for _, x := range []struct {
				n, peer *node
				state   string
			}{{a, b, tt.aState}, {b, a, tt.bState}} {
				for _, id := range []int{1, 2} {
					st := x.n.status(t, id)
					if got := st.Actor.State.String(); got != x.state {
						t.Errorf("%s port %d actor_state %q, want %q", x.n.name, id, got, x.state)
					}
					if st.ActorChurn != !tt.aggregate || st.PartnerChurn != !tt.aggregate {
						t.Errorf("%s port %d churn actor %v partner %v", x.n.name, id, st.ActorChurn, st.PartnerChurn)
					}
					if !tt.aggregate {
						if st.Receive != RxDefaulted || st.Mux != MuxDetached || st.Selected != Unselected {
							t.Errorf("%s port %d: %v %v %v", x.n.name, id, st.Receive, st.Mux, st.Selected)
						}
						continue
					}
					peerCfg := x.peer.r.Config()
					want := Status{
						Port: id, Link: true,
						Actor: lacpdu.PortInfo{SystemPriority: 0x8000, System: x.n.r.Config().SystemMAC,
							Key: 1, PortPriority: 255, Port: uint16(id), State: st.Actor.State},
						Partner: lacpdu.PortInfo{SystemPriority: peerCfg.SystemPriority, System: peerCfg.SystemMAC,
							Key: 1, PortPriority: 255, Port: uint16(id), State: st.Partner.State},
						Receive: RxCurrent, Periodic: st.Periodic, Mux: MuxCollectingDistributing,
						Selected: Selected, Collecting: true, Distributing: true,
						Aggregator: 1, Counters: st.Counters,
					}
					if diff := cmp.Diff(want, st); diff != "" {
						t.Errorf("%s port %d status (-want +got):\n%s", x.n.name, id, diff)
					}
				}
			}
		})
	}
}

func TestPartnerStopsSending(t *testing.T) {
	for _, fast := range []bool{true, false} {
		timeout := LongTimeoutTime
		if fast {
			timeout = ShortTimeoutTime
		}
		t.Run(map[bool]string{true: "fast", false: "slow"}[fast], func(t *testing.T) {
			w, a, b := pair(t, cfg(1, true, fast), cfg(2, true, true))
			if _, ok := w.runUntil(10*s, bothDistributing(a, b, ids(1, 2))); !ok {
				w.dump()
				t.Fatal("no aggregation")
			}
			w.run(20 * s)
			// b stops sending on port 1; the carrier stays up.
			w.links[0].cutBA = true
			lastHeard := time.Duration(0)
			for _, x := range b.sent {
				if x.port == 1 {
					lastHeard = x.at
				}
			}
			w.run(20*s + timeout + ShortTimeoutTime + 5*s)

			expired, ok := a.firstEvent(1, MachineReceive, "EXPIRED", 20*s)
			if !ok || expired != lastHeard+timeout {
				w.dump()
				t.Fatalf("EXPIRED at %v (%v), want %v", expired, ok, lastHeard+timeout)
			}
			defaulted, ok := a.firstEvent(1, MachineReceive, "DEFAULTED", expired)
			if !ok || defaulted != expired+ShortTimeoutTime {
				t.Fatalf("DEFAULTED at %v (%v), want %v", defaulted, ok, expired+ShortTimeoutTime)
			}
			left, ok := a.firstEvent(1, MachineMux, "ATTACHED", 20*s)
			if !ok || left != expired {
				t.Errorf("left COLLECTING_DISTRIBUTING at %v, want %v (EXPIRED)", left, expired)
			}
			st := a.status(t, 1)
			if st.Receive != RxDefaulted || st.Mux != MuxDetached || st.Selected != Unselected ||
				st.Partner != (lacpdu.PortInfo{}) || st.Actor.State.String()[6] != 'F' {
				t.Errorf("status %+v", st)
			}
			if got := a.r.Distributing(); !cmp.Equal(got, ids(2)) {
				t.Errorf("a distributing %v, want [2]", got)
			}
			// b hears a's port 1 out of sync and stops using it.
			if got := b.r.Distributing(); !cmp.Equal(got, ids(2)) {
				t.Errorf("b distributing %v, want [2]", got)
			}
			// Restore: both ports come back.
			w.links[0].cutBA = false
			if at, ok := w.runUntil(w.now+10*s, bothDistributing(a, b, ids(1, 2))); !ok {
				t.Fatalf("no recovery by %v", at)
			}
			w.checkRate()
		})
	}
}

func TestDifferentPartners(t *testing.T) {
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 3)
	bc := cfg(2, true, true)
	bc.SystemPriority = 100
	b := w.node("b", bc, 2)
	cc := cfg(3, true, true)
	cc.SystemPriority = 200
	c := w.node("c", cc, 1)
	w.connect(a, 1, b, 1)
	w.connect(a, 2, c, 1)
	w.connect(a, 3, b, 2)
	w.run(10 * s)

	check := func(wantA []int, wantSel map[int]Selection, wantAgg map[int]int) {
		t.Helper()
		if got := a.r.Distributing(); !cmp.Equal(got, wantA) {
			w.dump()
			t.Fatalf("%v: a distributing %v, want %v", w.now, got, wantA)
		}
		for id, want := range wantSel {
			st := a.status(t, id)
			if st.Selected != want || st.Aggregator != wantAgg[id] {
				t.Errorf("%v: a port %d %v aggregator %d, want %v %d", w.now, id, st.Selected, st.Aggregator, want, wantAgg[id])
			}
		}
	}
	// b has the better (lower) system priority.
	check(ids(1, 3), map[int]Selection{1: Selected, 2: Standby, 3: Selected}, map[int]int{1: 1, 2: 2, 3: 1})
	if got := c.r.Distributing(); len(got) != 0 {
		t.Errorf("c distributing %v", got)
	}
	if st := a.status(t, 2); st.Mux != MuxWaiting || st.Actor.State.Has(lacpdu.Synchronization) ||
		st.Partner.System != cc.SystemMAC {
		t.Errorf("standby port: %+v", st)
	}

	// c becomes the better partner: a moves over.
	cc.SystemPriority = 50
	if err := c.r.Reconfigure(cc, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	w.run(w.now + 10*s)
	check(ids(2), map[int]Selection{1: Standby, 2: Selected, 3: Standby}, map[int]int{1: 1, 2: 2, 3: 1})
	if got := c.r.Distributing(); !cmp.Equal(got, ids(1)) {
		t.Errorf("c distributing %v", got)
	}
	if got := b.r.Distributing(); len(got) != 0 {
		t.Errorf("b distributing %v", got)
	}

	// Equal partner priorities: more ports win.
	cc.SystemPriority = 100
	if err := c.r.Reconfigure(cc, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	w.run(w.now + 10*s)
	check(ids(1, 3), map[int]Selection{1: Selected, 2: Standby, 3: Selected}, map[int]int{1: 1, 2: 2, 3: 1})

	// A better port priority beats more ports.
	if err := a.r.SetPortConfig(2, PortConfig{Number: 2, Priority: 1, Key: 1, MAC: mac(1, 2)}, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	w.run(w.now + 10*s)
	check(ids(2), map[int]Selection{1: Standby, 2: Selected, 3: Standby}, map[int]int{1: 1, 2: 2, 3: 1})

	// A different key on our side splits b's group.
	if err := a.r.SetPortConfig(3, PortConfig{Number: 3, Priority: 255, Key: 9, MAC: mac(1, 3)}, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	w.run(w.now + 10*s)
	if st1, st3 := a.status(t, 1), a.status(t, 3); st1.Aggregator != 1 || st3.Aggregator != 3 {
		t.Errorf("key split: aggregators %d %d, want 1 3", st1.Aggregator, st3.Aggregator)
	}
	w.checkRate()
}

func TestChurn(t *testing.T) {
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 1)
	b := w.node("b", cfg(2, true, true), 1)
	if err := a.r.SetLink(1, true, 0); err != nil { // up, but nobody there
		t.Fatal(err)
	}
	w.run(ChurnDetectionTime - time.Millisecond)
	if st := a.status(t, 1); st.ActorChurn || st.PartnerChurn {
		t.Fatalf("churn before %v: %+v", ChurnDetectionTime, st)
	}
	w.run(ChurnDetectionTime)
	if st := a.status(t, 1); !st.ActorChurn || !st.PartnerChurn {
		t.Fatalf("no churn at %v: %+v", ChurnDetectionTime, st)
	}
	for _, m := range []Machine{MachineActorChurn, MachinePartnerChurn} {
		if at, ok := a.firstEvent(1, m, "CHURN", 0); !ok || at != ChurnDetectionTime {
			t.Errorf("%s CHURN at %v %v", m, at, ok)
		}
	}
	if err := a.r.SetLink(1, false, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	w.connect(a, 1, b, 1)
	if _, ok := w.runUntil(w.now+5*s, bothDistributing(a, b, ids(1))); !ok {
		t.Fatal("no aggregation")
	}
	if st := a.status(t, 1); st.ActorChurn || st.PartnerChurn {
		t.Errorf("churn after sync: %+v", st)
	}
	w.run(w.now + 5*ChurnDetectionTime)
	if st := a.status(t, 1); st.ActorChurn || st.PartnerChurn {
		t.Errorf("churn while aggregated: %+v", st)
	}
}

func TestTransmitRateLimit(t *testing.T) {
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 1)
	if err := a.r.SetLink(1, true, 0); err != nil {
		t.Fatal(err)
	}
	w.run(5 * s)
	// A burst, over two seconds, of LACPDUs that each tell a something new
	// (update_NTT).
	for i := range 80 {
		at := 5*s + time.Duration(i)*25*time.Millisecond
		w.run(at)
		pdu := &lacpdu.PDU{
			Actor: lacpdu.PortInfo{SystemPriority: 1, System: mac(9, 0), Key: 1, Port: 1,
				State: lacpdu.Activity | lacpdu.Timeout | lacpdu.Aggregation},
			Partner: lacpdu.PortInfo{Key: uint16(i)},
		}
		if err := a.r.Receive(1, pdu, at); err != nil {
			t.Fatal(err)
		}
		w.flush()
	}
	w.run(10 * s)
	checkRate(t, "a", a.sent)
	for sec := 5; sec < 7; sec++ {
		n := w.sentBetween(a, 1, time.Duration(sec)*s, time.Duration(sec+1)*s)
		if n != MaxTxPerFastPeriod {
			t.Errorf("second %d: %d LACPDUs, want %d", sec, n, MaxTxPerFastPeriod)
		}
	}
	// The request the limit held back goes out as soon as it may, not
	// with the next periodic LACPDU.
	var first, lastBurst time.Duration
	for _, x := range a.sent {
		if x.at < 7*s {
			lastBurst = x.at
		} else if first == 0 {
			first = x.at
		}
	}
	if first < 7*s || first > lastBurst+FastPeriodicTime {
		t.Errorf("held-back LACPDU at %v, want within %v of the last of the burst at %v", first, FastPeriodicTime, lastBurst)
	}
	if st := a.status(t, 1); st.Counters.RxLACPDU != 80 || st.Counters.TxLACPDU != uint64(len(a.sent)) {
		t.Errorf("counters %+v, sent %d", st.Counters, len(a.sent))
	}
}

func TestMinPorts(t *testing.T) {
	ca := cfg(1, true, true)
	ca.MinPorts = 2
	w, a, b := pair(t, ca, cfg(2, true, true))
	if _, ok := w.runUntil(10*s, bothDistributing(a, b, ids(1, 2))); !ok {
		w.dump()
		t.Fatal("no aggregation with 2 ports")
	}
	w.setLink(w.links[1], false)
	w.run(w.now + 5*s)
	if d := append(a.r.Distributing(), b.r.Distributing()...); len(d) != 0 {
		t.Errorf("with 1 of 2 ports: distributing %v", d)
	}
	if st := a.status(t, 1); st.Selected != Standby || st.Actor.State.Has(lacpdu.Synchronization) {
		t.Errorf("port 1 %+v", st)
	}
	w.setLink(w.links[1], true)
	if at, ok := w.runUntil(w.now+5*s, bothDistributing(a, b, ids(1, 2))); !ok {
		t.Fatalf("no recovery by %v", at)
	}

	ca.MinPorts = 3
	if err := a.r.Reconfigure(ca, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	w.run(w.now + 30*s)
	if d := append(a.r.Distributing(), b.r.Distributing()...); len(d) != 0 {
		t.Errorf("MinPorts 3 of 2: distributing %v", d)
	}
	ca.MinPorts = 0
	if err := a.r.Reconfigure(ca, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	if _, ok := w.runUntil(w.now+5*s, bothDistributing(a, b, ids(1, 2))); !ok {
		t.Fatal("MinPorts 0 does not aggregate")
	}
	w.checkRate()
}

func TestLinkDownUp(t *testing.T) {
	w, a, b := pair(t, cfg(1, true, true), cfg(2, false, false))
	if _, ok := w.runUntil(10*s, bothDistributing(a, b, ids(1, 2))); !ok {
		t.Fatal("no aggregation")
	}
	w.run(30 * s)
	w.setLink(w.links[1], false)
	if !bothDistributing(a, b, ids(1))() {
		t.Fatalf("after link down: a %v b %v", a.r.Distributing(), b.r.Distributing())
	}
	st := a.status(t, 2)
	if st.Link || st.Receive != RxPortDisabled || st.Mux != MuxDetached || st.Selected != Unselected || st.Periodic != NoPeriodic {
		t.Errorf("down port: %+v", st)
	}
	w.run(200 * s)
	if _, ok := a.r.Status(2); !ok {
		t.Fatal("port gone")
	}
	w.setLink(w.links[1], true)
	at, ok := w.runUntil(w.now+10*s, bothDistributing(a, b, ids(1, 2)))
	if !ok || at > 200*s+AggregateWaitTime+time.Second {
		t.Fatalf("rejoined at %v (%v)", at, ok)
	}

	// Removing a port stops its traffic at once.
	if err := a.r.RemovePort(2, w.now); err != nil {
		t.Fatal(err)
	}
	out := a.r.Drain()
	if !out.DistributingChanged || !cmp.Equal(a.r.Distributing(), ids(1)) {
		t.Errorf("after remove: changed %v distributing %v", out.DistributingChanged, a.r.Distributing())
	}
	w.checkRate()
}

func TestReconfigure(t *testing.T) {
	ca := cfg(1, true, true)
	w, a, b := pair(t, ca, cfg(2, true, true))
	if _, ok := w.runUntil(10*s, bothDistributing(a, b, ids(1, 2))); !ok {
		t.Fatal("no aggregation")
	}
	w.run(20 * s)
	stable := func(what string, d time.Duration) {
		t.Helper()
		end := w.now + d
		for w.now < end {
			w.run(w.now + 100*time.Millisecond)
			if !bothDistributing(a, b, ids(1, 2))() {
				w.dump()
				t.Fatalf("%s: not distributing at %v", what, w.now)
			}
		}
	}

	// Fast -> slow keeps the aggregation; b slows down at once.
	ca.Fast = false
	if err := a.r.Reconfigure(ca, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	stable("slow", 100*s)
	if st := b.status(t, 1); st.Periodic != SlowPeriodic || st.Partner.State.Has(lacpdu.Timeout) {
		t.Errorf("b port 1 after a went slow: %v partner %v", st.Periodic, st.Partner.State)
	}
	if n := w.sentBetween(b, 1, w.now-90*s, w.now); n > 4 {
		t.Errorf("b sent %d LACPDUs in 90s to a slow partner", n)
	}

	// Active -> passive, with an active partner, keeps it too.
	ca.Active = false
	if err := a.r.Reconfigure(ca, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	stable("passive", 100*s)
	if st := a.status(t, 1); st.Actor.State.Has(lacpdu.Activity) {
		t.Errorf("a still active: %v", st.Actor.State)
	}

	// A new system priority is a new LAG: the ports leave and rejoin.
	ca.SystemPriority = 1
	if err := a.r.Reconfigure(ca, w.now); err != nil {
		t.Fatal(err)
	}
	w.flush()
	if _, ok := w.runUntil(w.now+10*s, bothDistributing(a, b, ids(1, 2))); !ok {
		t.Fatal("no rejoin after system priority change")
	}
	if st := b.status(t, 1); st.Partner.SystemPriority != 1 {
		t.Errorf("b sees partner priority %d", st.Partner.SystemPriority)
	}

	if err := a.r.Reconfigure(Config{}, w.now); !errors.Is(err, ErrConfig) {
		t.Errorf("zero config: err = %v", err)
	}
	if a.r.Config() != ca {
		t.Errorf("config changed by a failed Reconfigure")
	}
	w.checkRate()
}

func TestPortMoved(t *testing.T) {
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 2)
	b := w.node("b", cfg(2, true, true), 1)
	l := w.connect(a, 1, b, 1)
	if _, ok := w.runUntil(10*s, bothDistributing(a, b, ids(1))); !ok {
		t.Fatal("no aggregation")
	}
	// Move b's cable from a port 1 to a port 2.
	w.disconnect(l)
	if st := a.status(t, 1); st.Receive != RxPortDisabled || st.Partner.System != mac(2, 0) {
		t.Fatalf("before move: %+v", st)
	}
	w.connect(a, 2, b, 1)
	if _, ok := w.runUntil(w.now+10*s, func() bool { return cmp.Equal(a.r.Distributing(), ids(2)) }); !ok {
		t.Fatal("no aggregation on port 2")
	}
	st := a.status(t, 1)
	if st.Receive != RxPortDisabled || st.Partner != (lacpdu.PortInfo{}) {
		t.Errorf("moved port kept its partner: %+v", st)
	}
}

func TestLoopback(t *testing.T) {
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 2)
	w.connect(a, 1, a, 2)
	w.run(30 * s)
	if d := a.r.Distributing(); len(d) != 0 {
		t.Errorf("looped ports distribute: %v", d)
	}
	for _, id := range []int{1, 2} {
		if st := a.status(t, id); st.Receive != RxCurrent || st.Selected != Unselected {
			t.Errorf("port %d: %v %v", id, st.Receive, st.Selected)
		}
	}
	w.checkRate()
}

func TestMarker(t *testing.T) {
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 1)
	m := &lacpdu.Marker{Kind: lacpdu.MarkerInformation, RequesterPort: 4, RequesterSystem: mac(7, 0), TransactionID: 99}

	if resp, err := a.r.ReceiveMarker(1, m, 0); err != nil || resp != nil {
		t.Errorf("link down: %v %v", resp, err)
	}
	if err := a.r.SetLink(1, true, 0); err != nil {
		t.Fatal(err)
	}
	resp, err := a.r.ReceiveMarker(1, m, 0)
	want := &lacpdu.Marker{Kind: lacpdu.MarkerResponse, RequesterPort: 4, RequesterSystem: mac(7, 0), TransactionID: 99}
	if err != nil || !cmp.Equal(resp, want) {
		t.Errorf("response %+v %v", resp, err)
	}
	if resp, err := a.r.ReceiveMarker(1, want, 0); err != nil || resp != nil {
		t.Errorf("response to a response: %v %v", resp, err)
	}
	if _, err := a.r.ReceiveMarker(7, m, 0); !errors.Is(err, ErrUnknownPort) {
		t.Errorf("unknown port: %v", err)
	}

	// Through HandleFrame the response is queued with the LACPDUs.
	a.r.Drain()
	frame, err := lacpdu.AppendFrame(nil, mac(7, 4), m)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.r.HandleFrame(1, frame, 0); err != nil {
		t.Fatal(err)
	}
	out := a.r.Drain()
	if len(out.Transmit) != 1 || out.Transmit[0].Marker == nil {
		t.Fatalf("transmit %+v", out.Transmit)
	}
	b, err := out.Transmit[0].AppendFrame(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := lacpdu.ParseFrame(b)
	var got lacpdu.Marker
	if err != nil || f.Src != mac(1, 1) || got.UnmarshalBinary(f.Payload) != nil || got != *want {
		t.Errorf("response frame %+v %v %+v", f, err, got)
	}
	if st := a.status(t, 1); st.Counters.RxMarker != 4 || st.Counters.TxMarker != 2 {
		t.Errorf("counters %+v", st.Counters)
	}
}

func TestMalformed(t *testing.T) {
	w, a, b := pair(t, cfg(1, true, true), cfg(2, true, true))
	if _, ok := w.runUntil(10*s, bothDistributing(a, b, ids(1, 2))); !ok {
		t.Fatal("no aggregation")
	}
	p := lacpdu.PDU{Actor: lacpdu.PortInfo{System: mac(2, 0), Port: 1}}
	good, _ := lacpdu.AppendFrame(nil, mac(2, 1), &p)
	oam := append([]byte{}, good...)
	oam[lacpdu.HeaderLen] = 0x03
	zeroTLV := append([]byte{}, good...)
	zeroTLV[lacpdu.HeaderLen+3] = 0
	ipv4 := append([]byte{}, good...)
	ipv4[12], ipv4[13] = 0x08, 0x00
	badMarker := append([]byte{}, good...)
	badMarker[lacpdu.HeaderLen] = lacpdu.SubtypeMarker

	before, _ := a.r.Status(1)
	for _, tt := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, lacpdu.ErrTruncated},
		{"truncated", good[:40], lacpdu.ErrTruncated},
		{"zero TLV length", zeroTLV, lacpdu.ErrBadTLV},
		{"OAM", oam, lacpdu.ErrBadSubtype},
		{"IPv4", ipv4, lacpdu.ErrNotSlowProtocol},
		{"bad marker", badMarker, lacpdu.ErrBadTLV},
	} {
		if err := a.r.HandleFrame(1, tt.frame, w.now); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	after, _ := a.r.Status(1)
	if after.Counters.RxInvalid != before.Counters.RxInvalid+6 {
		t.Errorf("RxInvalid %d -> %d", before.Counters.RxInvalid, after.Counters.RxInvalid)
	}
	after.Counters = before.Counters
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("malformed frames changed the port (-before +after):\n%s", diff)
	}

	if err := a.r.HandleFrame(9, good, w.now); !errors.Is(err, ErrUnknownPort) {
		t.Errorf("unknown port: %v", err)
	}
	if err := a.r.Receive(9, &p, w.now); !errors.Is(err, ErrUnknownPort) {
		t.Errorf("unknown port: %v", err)
	}
	if err := a.r.Receive(1, nil, w.now); err != nil {
		t.Errorf("nil PDU: %v", err)
	}
	for _, err := range []error{
		a.r.SetLink(9, true, w.now), a.r.RemovePort(9, w.now), a.r.SetPortConfig(9, PortConfig{Number: 9}, w.now),
	} {
		if !errors.Is(err, ErrUnknownPort) {
			t.Errorf("unknown port: %v", err)
		}
	}
	if err := a.r.AddPort(1, PortConfig{Number: 5}, w.now); !errors.Is(err, ErrPortExists) {
		t.Errorf("duplicate id: %v", err)
	}
	if err := a.r.AddPort(5, PortConfig{Number: 2}, w.now); !errors.Is(err, ErrConfig) {
		t.Errorf("duplicate number: %v", err)
	}
	if err := a.r.AddPort(5, PortConfig{}, w.now); !errors.Is(err, ErrConfig) {
		t.Errorf("number 0: %v", err)
	}
	if err := a.r.SetPortConfig(1, PortConfig{Number: 2}, w.now); !errors.Is(err, ErrConfig) {
		t.Errorf("SetPortConfig to a used number: %v", err)
	}
	for _, c := range []Config{{}, {SystemMAC: [6]byte{1, 2, 3, 4, 5, 6}}, {SystemMAC: mac(1, 0), MinPorts: -1}} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v", c, err)
		}
	}

	// A PDU on a port whose link is down is counted and dropped.
	w.setLink(w.links[1], false)
	st2, _ := a.r.Status(2)
	if err := a.r.Receive(2, &p, w.now); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.r.Status(2); st.Receive != RxPortDisabled || st.Counters.RxIgnored != st2.Counters.RxIgnored+1 {
		t.Errorf("PDU on a down port: %+v", st)
	}

	// Time that runs backwards is taken as now.
	a.r.Tick(w.now - 50*s)
	a.r.Tick(0)
	w.run(w.now + 30*s)
	if !cmp.Equal(a.r.Distributing(), ids(1)) {
		t.Errorf("after backward time: %v", a.r.Distributing())
	}
}

func TestNextDeadline(t *testing.T) {
	r, err := New(cfg(1, true, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.NextDeadline(); ok {
		t.Error("deadline with no ports")
	}
	if err := r.AddPort(1, PortConfig{Number: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.NextDeadline(); ok {
		t.Error("deadline with the link down")
	}
	if err := r.SetLink(1, true, 10*s); err != nil {
		t.Fatal(err)
	}
	// The first LACPDU goes out at once; then FAST_PERIODIC.
	out := r.Drain()
	if len(out.Transmit) != 1 {
		t.Fatalf("transmit %+v", out.Transmit)
	}
	if at, ok := r.NextDeadline(); !ok || at != 11*s {
		t.Errorf("NextDeadline = %v %v, want 11s", at, ok)
	}
}

func TestStrings(t *testing.T) {
	got := []string{RxCurrent.String(), NoPeriodic.String(), MuxCollectingDistributing.String(),
		Standby.String(), Churn.String(), RxState(42).String()}
	want := []string{"CURRENT", "NO_PERIODIC", "COLLECTING_DISTRIBUTING", "STANDBY", "CHURN", "42"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	e := Event{At: 2 * s, Port: 3, Machine: MachineMux, From: "WAITING", To: "ATTACHED",
		Actor: lacpdu.Activity | lacpdu.Synchronization}
	if got := e.String(); got != "2s port 3 mux WAITING -> ATTACHED actor A..S.... partner ........" {
		t.Errorf("Event.String() = %q", got)
	}
}

// TestAggregateWait: with the standard Aggregate_Wait_Time the pair
// aggregates no earlier than AggregateWaitTime; with no wait on both ends
// (SetAggregateWait 0, as a team in fallback and a partner without the
// wait such as Open vSwitch) it aggregates in the exchange of PDUs; the
// default is back once it is set again.
func TestAggregateWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		wait time.Duration
	}{{"standard", AggregateWaitTime}, {"none", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.node("a", cfg(1, true, true), 2)
			b := w.node("b", cfg(2, true, true), 2)
			for _, n := range []*node{a, b} {
				n.r.SetAggregateWait(tc.wait, w.now)
				if got := n.r.AggregateWait(); got != tc.wait {
					t.Fatalf("AggregateWait %v, want %v", got, tc.wait)
				}
			}
			w.connect(a, 1, b, 1)
			w.connect(a, 2, b, 2)
			at, ok := w.runUntil(20*s, bothDistributing(a, b, ids(1, 2)))
			if !ok {
				w.dump()
				t.Fatal("no aggregation")
			}
			if tc.wait > 0 && at < tc.wait {
				t.Errorf("distributing at %v, before Aggregate_Wait_Time %v", at, tc.wait)
			}
			if tc.wait == 0 && at != 0 {
				t.Errorf("distributing at %v with no wait, want at once (virtual time 0)", at)
			}
		})
	}
	// A port that is waiting when the wait is shortened attaches then.
	w := newWorld(t)
	a := w.node("a", cfg(1, true, true), 1)
	b := w.node("b", cfg(2, true, true), 1)
	b.r.SetAggregateWait(0, w.now)
	w.connect(a, 1, b, 1)
	w.run(500 * time.Millisecond)
	if st := a.status(t, 1); st.Mux != MuxWaiting {
		t.Fatalf("a's port %v, want WAITING", st.Mux)
	}
	a.r.SetAggregateWait(0, w.now)
	w.flush()
	if !bothDistributing(a, b, ids(1))() {
		w.dump()
		t.Fatalf("the wait shortened at %v did not end it", w.now)
	}
	a.r.SetAggregateWait(AggregateWaitTime, w.now)
	if got := a.r.AggregateWait(); got != AggregateWaitTime {
		t.Fatalf("AggregateWait %v after setting it back", got)
	}
}
