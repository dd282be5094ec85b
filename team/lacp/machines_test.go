package lacp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/team/lacpdu"
)

var (
	us = lacpdu.PortInfo{SystemPriority: 10, System: mac(1, 0), Key: 5, PortPriority: 1, Port: 7,
		State: lacpdu.Activity | lacpdu.Timeout | lacpdu.Aggregation}
	them = lacpdu.PortInfo{SystemPriority: 20, System: mac(2, 0), Key: 6, PortPriority: 2, Port: 8,
		State: lacpdu.Activity | lacpdu.Aggregation}
)

func with(p lacpdu.PortInfo, f func(*lacpdu.PortInfo)) lacpdu.PortInfo { f(&p); return p }

func TestRxMachine(t *testing.T) {
	const now = 100 * time.Second
	synced := with(us, func(p *lacpdu.PortInfo) { p.State |= lacpdu.Synchronization })
	inSync := &lacpdu.PDU{Actor: with(them, func(p *lacpdu.PortInfo) { p.State |= lacpdu.Synchronization }), Partner: us}
	base := rxIn{portEnabled: true, lacpEnabled: true, actor: us}
	tests := []struct {
		name      string
		m         rxMachine
		in        rxIn
		want      RxState
		wantTimer timer
		check     func(t *testing.T, out rxOut)
	}{
		{name: "begin, link down", m: rxMachine{state: RxCurrent}, in: rxIn{begin: true, actor: us, partner: them},
			want: RxPortDisabled, check: func(t *testing.T, o rxOut) {
				if !o.unselect || o.partner != (lacpdu.PortInfo{}) || !o.actorState.Has(lacpdu.Defaulted) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "begin, link up", in: with2(base, func(i *rxIn) { i.begin = true }),
			want: RxExpired, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
				if !o.actorState.Has(lacpdu.Expired|lacpdu.Defaulted) || !o.partner.State.Has(lacpdu.Timeout) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "begin, link up, PDU", in: with2(base, func(i *rxIn) { i.begin = true; i.pdu = inSync }),
			want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
				if !o.used || o.actorState.Has(lacpdu.Expired) || o.actorState.Has(lacpdu.Defaulted) ||
					!o.partner.State.Has(lacpdu.Synchronization) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "LACP disabled", m: rxMachine{state: RxPortDisabled}, in: with2(base, func(i *rxIn) { i.lacpEnabled = false; i.partner = them }),
			want: RxLACPDisabled, check: func(t *testing.T, o rxOut) {
				if !o.unselect || o.partner.State.Has(lacpdu.Aggregation) || !o.actorState.Has(lacpdu.Defaulted) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "LACP disabled ignores PDUs", m: rxMachine{state: RxLACPDisabled}, in: with2(base, func(i *rxIn) { i.lacpEnabled = false; i.pdu = inSync }),
			want: RxLACPDisabled, check: func(t *testing.T, o rxOut) {
				if o.used {
					t.Error("PDU used")
				}
			}},
		{name: "LACP enabled again", m: rxMachine{state: RxLACPDisabled}, in: base, want: RxExpired, wantTimer: startTimer(now, ShortTimeoutTime)},
		{name: "port moved", m: rxMachine{state: RxPortDisabled}, in: rxIn{portMoved: true, lacpEnabled: true, actor: us, partner: them},
			want: RxPortDisabled, check: func(t *testing.T, o rxOut) {
				if o.portMoved || o.partner != (lacpdu.PortInfo{}) || !o.unselect {
					t.Errorf("%+v", o)
				}
			}},
		{name: "link down", m: rxMachine{state: RxCurrent}, in: rxIn{lacpEnabled: true, actor: us, partner: inSync.Actor},
			want: RxPortDisabled, check: func(t *testing.T, o rxOut) {
				if o.partner.State.Has(lacpdu.Synchronization) || o.unselect || o.partner.System != them.System {
					t.Errorf("%+v", o)
				}
			}},
		{name: "current times out", m: rxMachine{state: RxCurrent, currentWhile: startTimer(0, now)}, in: with2(base, func(i *rxIn) { i.partner = inSync.Actor }),
			want: RxExpired, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
				if o.partner.State.Has(lacpdu.Synchronization) || !o.partner.State.Has(lacpdu.Timeout) || !o.actorState.Has(lacpdu.Expired) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "current not yet", m: rxMachine{state: RxCurrent, currentWhile: startTimer(1, now)}, in: base,
			want: RxCurrent, wantTimer: startTimer(1, now)},
		{name: "expired times out", m: rxMachine{state: RxExpired, currentWhile: startTimer(0, now)}, in: with2(base, func(i *rxIn) { i.partner = them }),
			want: RxDefaulted, wantTimer: startTimer(0, now), check: func(t *testing.T, o rxOut) {
				if !o.unselect || o.partner != (lacpdu.PortInfo{}) || o.actorState.Has(lacpdu.Expired) || !o.actorState.Has(lacpdu.Defaulted) {
					t.Errorf("%+v", o)
				}
			}},
		{name: "PDU beats timeout", m: rxMachine{state: RxExpired, currentWhile: startTimer(0, now)}, in: with2(base, func(i *rxIn) { i.pdu = inSync; i.partner = them }),
			want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime)},
		{name: "long timeout", m: rxMachine{state: RxDefaulted}, in: with2(base, func(i *rxIn) {
			i.actor.State &^= lacpdu.Timeout
			i.pdu = inSync
		}), want: RxCurrent, wantTimer: startTimer(now, LongTimeoutTime)},
		{name: "same partner: selection kept, no NTT", m: rxMachine{state: RxCurrent}, in: with2(base, func(i *rxIn) {
			i.partner = inSync.Actor
			i.pdu = &lacpdu.PDU{Actor: inSync.Actor, Partner: us}
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if o.unselect || o.ntt {
				t.Errorf("%+v", o)
			}
		}},
		{name: "partner key changed: unselect", m: rxMachine{state: RxCurrent}, in: with2(base, func(i *rxIn) {
			i.partner = with(inSync.Actor, func(p *lacpdu.PortInfo) { p.Key = 99 })
			i.pdu = inSync
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if !o.unselect {
				t.Errorf("%+v", o)
			}
		}},
		{name: "partner has our sync wrong: NTT", m: rxMachine{state: RxCurrent}, in: with2(base, func(i *rxIn) {
			i.actor = synced
			i.partner = inSync.Actor
			i.pdu = inSync // says we are not in sync
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if !o.ntt || o.unselect {
				t.Errorf("%+v", o)
			}
		}},
		{name: "partner has our key wrong: not in sync", m: rxMachine{state: RxDefaulted}, in: with2(base, func(i *rxIn) {
			i.pdu = &lacpdu.PDU{Actor: inSync.Actor, Partner: with(us, func(p *lacpdu.PortInfo) { p.Key = 1 })}
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if o.partner.State.Has(lacpdu.Synchronization) || !o.ntt {
				t.Errorf("%+v", o)
			}
		}},
		{name: "individual partner in sync", m: rxMachine{state: RxDefaulted}, in: with2(base, func(i *rxIn) {
			i.pdu = &lacpdu.PDU{Actor: with(them, func(p *lacpdu.PortInfo) {
				p.State = lacpdu.Activity | lacpdu.Synchronization
			})}
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if !o.partner.State.Has(lacpdu.Synchronization) {
				t.Errorf("%+v", o)
			}
		}},
		{name: "passive partner, passive us: not in sync", m: rxMachine{state: RxDefaulted}, in: with2(base, func(i *rxIn) {
			i.actor.State &^= lacpdu.Activity
			i.pdu = &lacpdu.PDU{Actor: with(inSync.Actor, func(p *lacpdu.PortInfo) { p.State &^= lacpdu.Activity }),
				Partner: with(us, func(p *lacpdu.PortInfo) { p.State &^= lacpdu.Activity })}
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if o.partner.State.Has(lacpdu.Synchronization) {
				t.Errorf("%+v", o)
			}
		}},
		{name: "passive partner, active us: in sync", m: rxMachine{state: RxDefaulted}, in: with2(base, func(i *rxIn) {
			i.pdu = &lacpdu.PDU{Actor: with(inSync.Actor, func(p *lacpdu.PortInfo) { p.State &^= lacpdu.Activity }), Partner: us}
		}), want: RxCurrent, wantTimer: startTimer(now, ShortTimeoutTime), check: func(t *testing.T, o rxOut) {
			if !o.partner.State.Has(lacpdu.Synchronization) {
				t.Errorf("%+v", o)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, out := tt.m.step(tt.in, now)
			if m.state != tt.want {
				t.Errorf("state %v, want %v", m.state, tt.want)
			}
			if tt.wantTimer != (timer{}) && m.currentWhile != tt.wantTimer {
				t.Errorf("current_while %+v, want %+v", m.currentWhile, tt.wantTimer)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

func with2(in rxIn, f func(*rxIn)) rxIn { f(&in); return in }

func TestPeriodicMachine(t *testing.T) {
	const now = 50 * time.Second
	up := periodicIn{portEnabled: true, lacpEnabled: true, actorActive: true, partnerShortTimeout: true}
	tests := []struct {
		name    string
		m       periodicMachine
		in      periodicIn
		want    PeriodicState
		wantAt  time.Duration
		wantNTT bool
	}{
		{"begin", periodicMachine{state: FastPeriodic}, periodicIn{begin: true, portEnabled: true, lacpEnabled: true, actorActive: true}, NoPeriodic, 0, false},
		{"link down", periodicMachine{state: FastPeriodic}, periodicIn{lacpEnabled: true, actorActive: true}, NoPeriodic, 0, false},
		{"both passive", periodicMachine{state: SlowPeriodic}, periodicIn{portEnabled: true, lacpEnabled: true}, NoPeriodic, 0, false},
		{"partner active", periodicMachine{}, periodicIn{portEnabled: true, lacpEnabled: true, partnerActive: true, partnerShortTimeout: true}, FastPeriodic, now + FastPeriodicTime, false},
		{"start fast", periodicMachine{}, up, FastPeriodic, now + FastPeriodicTime, false},
		{"start slow", periodicMachine{}, with3(up, func(i *periodicIn) { i.partnerShortTimeout = false }), SlowPeriodic, now + SlowPeriodicTime, false},
		{"fast not due", periodicMachine{state: FastPeriodic, periodic: startTimer(now, 1)}, up, FastPeriodic, now + 1, false},
		{"fast due", periodicMachine{state: FastPeriodic, periodic: startTimer(0, now)}, up, FastPeriodic, now + FastPeriodicTime, true},
		{"slow due", periodicMachine{state: SlowPeriodic, periodic: startTimer(0, now)}, with3(up, func(i *periodicIn) { i.partnerShortTimeout = false }), SlowPeriodic, now + SlowPeriodicTime, true},
		{"slow, partner wants fast", periodicMachine{state: SlowPeriodic, periodic: startTimer(now, 20*time.Second)}, up, FastPeriodic, now + FastPeriodicTime, true},
		{"fast, partner wants slow", periodicMachine{state: FastPeriodic, periodic: startTimer(now, 1)}, with3(up, func(i *periodicIn) { i.partnerShortTimeout = false }), SlowPeriodic, now + SlowPeriodicTime, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ntt := tt.m.step(tt.in, now)
			if m.state != tt.want || ntt != tt.wantNTT || (tt.wantAt != 0 && m.periodic.at != tt.wantAt) {
				t.Errorf("got %v ntt %v timer %v, want %v ntt %v timer %v", m.state, ntt, m.periodic.at, tt.want, tt.wantNTT, tt.wantAt)
			}
		})
	}
}

func with3(in periodicIn, f func(*periodicIn)) periodicIn { f(&in); return in }

func TestMuxMachine(t *testing.T) {
	const now = 10 * time.Second
	cd := lacpdu.Collecting | lacpdu.Distributing
	sync := lacpdu.Synchronization
	waited := muxMachine{state: MuxWaiting, waitWhile: startTimer(0, now)}
	tests := []struct {
		name      string
		m         muxMachine
		in        muxIn
		want      MuxState
		wantActor lacpdu.State
		wantNTT   bool
	}{
		{"begin", muxMachine{state: MuxCollectingDistributing}, muxIn{begin: true, actorState: sync | cd}, MuxDetached, 0, true},
		{"detached stays", muxMachine{}, muxIn{}, MuxDetached, 0, false},
		{"selected waits", muxMachine{}, muxIn{selected: Selected, othersReady: true}, MuxWaiting, 0, false},
		{"standby waits", muxMachine{}, muxIn{selected: Standby, othersReady: true, partnerSync: true}, MuxWaiting, 0, false},
		{"wait not over", muxMachine{state: MuxWaiting, waitWhile: startTimer(now, 1)}, muxIn{selected: Selected, othersReady: true}, MuxWaiting, 0, false},
		{"others not ready", waited, muxIn{selected: Selected}, MuxWaiting, 0, false},
		{"standby stays waiting", waited, muxIn{selected: Standby, othersReady: true}, MuxWaiting, 0, false},
		{"attach", waited, muxIn{selected: Selected, othersReady: true}, MuxAttached, sync, true},
		{"attach and collect", waited, muxIn{selected: Selected, othersReady: true, partnerSync: true}, MuxCollectingDistributing, sync | cd, true},
		{"unselected while waiting", waited, muxIn{selected: Unselected}, MuxDetached, 0, true},
		{"standby detaches, then waits", muxMachine{state: MuxAttached}, muxIn{selected: Standby, actorState: sync}, MuxWaiting, 0, true},
		{"partner out of sync", muxMachine{state: MuxCollectingDistributing}, muxIn{selected: Selected, actorState: sync | cd}, MuxAttached, sync, true},
		{"unselected while distributing", muxMachine{state: MuxCollectingDistributing}, muxIn{selected: Unselected, partnerSync: true, actorState: sync | cd}, MuxDetached, 0, true},
		{"steady", muxMachine{state: MuxCollectingDistributing}, muxIn{selected: Selected, partnerSync: true, actorState: sync | cd}, MuxCollectingDistributing, sync | cd, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.wait = AggregateWaitTime
			m, actor, ntt := tt.m.step(in, now)
			if m.state != tt.want || actor != tt.wantActor || ntt != tt.wantNTT {
				t.Errorf("got %v %v ntt %v, want %v %v ntt %v", m.state, actor, ntt, tt.want, tt.wantActor, tt.wantNTT)
			}
			if m.state == MuxWaiting && tt.m.state != MuxWaiting && m.waitWhile != startTimer(now, AggregateWaitTime) {
				t.Errorf("wait_while %+v", m.waitWhile)
			}
		})
	}
}

// TestMuxNoWait: with no Aggregate_Wait_Time a SELECTED port goes
// through WAITING at once; shortening the wait of a waiting port ends it
// by the new deadline, and never lengthens it.
func TestMuxNoWait(t *testing.T) {
	const now = 10 * time.Second
	sync, cd := lacpdu.Synchronization, lacpdu.Collecting|lacpdu.Distributing
	m, actor, _ := muxMachine{}.step(muxIn{selected: Selected, othersReady: true, partnerSync: true}, now)
	if m.state != MuxCollectingDistributing || actor != sync|cd {
		t.Fatalf("no wait, partner in sync: %v %v, want COLLECTING_DISTRIBUTING", m.state, actor)
	}
	in := muxIn{selected: Selected, othersReady: true, wait: AggregateWaitTime}
	m, _, _ = muxMachine{}.step(in, now)
	m.shorten(now+time.Second, 5*time.Second)
	if at, _ := m.waitWhile.pending(now); at != now+AggregateWaitTime {
		t.Fatalf("a longer wait moved wait_while to %v", at)
	}
	m.shorten(now+time.Second, 0)
	if m, _, _ = m.step(in, now+time.Second); m.state != MuxAttached {
		t.Fatalf("shortened to 0 a second in: %v, want ATTACHED", m.state)
	}
}

func TestChurnMachine(t *testing.T) {
	const now = 10 * time.Second
	tests := []struct {
		name                   string
		m                      churnMachine
		begin, enabled, inSync bool
		want                   ChurnState
	}{
		{"begin", churnMachine{state: Churn}, true, true, true, ChurnMonitor},
		{"disabled", churnMachine{state: NoChurn}, false, false, true, ChurnMonitor},
		{"monitor sees sync", churnMachine{state: ChurnMonitor, churn: startTimer(0, now)}, false, true, true, NoChurn},
		{"monitor times out", churnMachine{state: ChurnMonitor, churn: startTimer(0, now)}, false, true, false, Churn},
		{"monitor waits", churnMachine{state: ChurnMonitor, churn: startTimer(1, now)}, false, true, false, ChurnMonitor},
		{"sync lost", churnMachine{state: NoChurn}, false, true, false, ChurnMonitor},
		{"churn ends", churnMachine{state: Churn}, false, true, true, NoChurn},
		{"churn stays", churnMachine{state: Churn}, false, true, false, Churn},
	}
	for _, tt := range tests {
		m := tt.m.step(tt.begin, tt.enabled, tt.inSync, now)
		if m.state != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, m.state, tt.want)
		}
		if m.state == ChurnMonitor && tt.m.state != ChurnMonitor && m.churn != startTimer(now, ChurnDetectionTime) {
			t.Errorf("%s: timer %+v", tt.name, m.churn)
		}
	}
}

func TestTxMachine(t *testing.T) {
	in := txIn{ntt: true, portEnabled: true, lacpEnabled: true, periodic: true}
	var m txMachine
	var sentAt []time.Duration
	for now := time.Duration(0); now < 3*time.Second; now += 100 * time.Millisecond {
		var send bool
		if m, send = m.step(in, now); send {
			sentAt = append(sentAt, now)
		}
	}
	ms := time.Millisecond
	want := []time.Duration{0, 100 * ms, 200 * ms, 1000 * ms, 1100 * ms, 1200 * ms, 2000 * ms, 2100 * ms, 2200 * ms}
	if diff := cmp.Diff(want, sentAt); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, off := range []txIn{
		{portEnabled: true, lacpEnabled: true, periodic: true},
		{ntt: true, lacpEnabled: true, periodic: true},
		{ntt: true, portEnabled: true, periodic: true},
		{ntt: true, portEnabled: true, lacpEnabled: true},
	} {
		if _, send := (txMachine{}).step(off, 0); send {
			t.Errorf("sent with %+v", off)
		}
	}
}

func TestSelectAggregators(t *testing.T) {
	lag := func(partner byte, prio uint16) lagID {
		return lagID{actorSys: mac(1, 0), actorKey: 1, partnerSys: mac(partner, 0), partnerSysPrio: prio, partnerKey: 1}
	}
	b, c := lag(2, 100), lag(3, 200)
	port := func(n uint16, l lagID) selPort {
		return selPort{eligible: true, lag: l, priority: 255, number: n, detached: true}
	}
	type res struct {
		Sel Selection
		Agg lagID
	}
	tests := []struct {
		name     string
		in       []selPort
		minPorts int
		want     []res
	}{
		{"one group", []selPort{port(1, b), port(2, b)}, 1, []res{{Selected, b}, {Selected, b}}},
		{"lower partner priority wins", []selPort{port(1, c), port(2, b), port(3, c)}, 1,
			[]res{{Standby, c}, {Selected, b}, {Standby, c}}},
		{"min ports rules out the better group", []selPort{port(1, c), port(2, b), port(3, c)}, 2,
			[]res{{Selected, c}, {Standby, b}, {Selected, c}}},
		{"nobody has min ports", []selPort{port(1, c), port(2, b)}, 2, []res{{Standby, c}, {Standby, b}}},
		{"port priority beats count", []selPort{port(1, lag(2, 5)), port(2, lag(2, 5)), with4(port(3, lag(3, 5)), func(p *selPort) { p.priority = 1 })}, 1,
			[]res{{Standby, lag(2, 5)}, {Standby, lag(2, 5)}, {Selected, lag(3, 5)}}},
		{"count beats port number", []selPort{port(1, lag(2, 5)), port(2, lag(3, 5)), port(3, lag(3, 5))}, 1,
			[]res{{Standby, lag(2, 5)}, {Selected, lag(3, 5)}, {Selected, lag(3, 5)}}},
		{"lowest port number breaks ties", []selPort{port(4, lag(2, 5)), port(3, lag(3, 5))}, 1,
			[]res{{Standby, lag(2, 5)}, {Selected, lag(3, 5)}}},
		{"ineligible port is unselected", []selPort{
			with4(port(1, b), func(p *selPort) { p.eligible = false; p.selected = Selected; p.agg = b }), port(2, b)}, 1,
			[]res{{Unselected, b}, {Selected, b}}},
		{"new group waits for detach", []selPort{
			with4(port(1, c), func(p *selPort) { p.selected = Selected; p.agg = b; p.detached = false })}, 1,
			[]res{{Unselected, b}}},
		{"standby promoted in place", []selPort{
			with4(port(1, b), func(p *selPort) { p.selected = Standby; p.agg = b; p.detached = false })}, 1,
			[]res{{Selected, b}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := selectAggregators(tt.in, tt.minPorts)
			var got []res
			for _, p := range out {
				got = append(got, res{p.selected, p.agg})
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(lagID{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func with4(p selPort, f func(*selPort)) selPort { f(&p); return p }

func TestLAGID(t *testing.T) {
	a := makeLAGID(&us, &them)
	if a.actorPort != 0 || a.partnerPort != 0 || a.partnerSys != them.System || a.actorKey != us.Key {
		t.Errorf("aggregatable: %+v", a)
	}
	ind := with(them, func(p *lacpdu.PortInfo) { p.State &^= lacpdu.Aggregation })
	b := makeLAGID(&us, &ind)
	if b.actorPort != us.Port || b.partnerPort != them.Port {
		t.Errorf("individual: %+v", b)
	}
}
