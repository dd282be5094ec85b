package lb_test

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
)

// tcpSeg builds a TCP segment from a:pa to b:pb with seq, ack, flags and
// n payload bytes, and parses it.
func tcpSeg(t *testing.T, a, b string, pa, pb uint16, seq, ack uint32, flags uint8, n int) (*frame.Frame, []byte) {
	t.Helper()
	eth, err := frame.Build(frame.Spec{Src: frame.MAC{2, 0, 0, 0, 0, 1}, Dst: frame.MAC{2, 0, 0, 0, 0, 2},
		SrcIP: netip.MustParseAddr(a), DstIP: netip.MustParseAddr(b), Proto: 6, SrcPort: pa, DstPort: pb})
	if err != nil {
		t.Fatal(err)
	}
	var f frame.Frame
	if err := frame.Parse(eth, &f); err != nil || f.L4 == 0 {
		t.Fatalf("parse: %v, L4 %d", err, f.L4)
	}
	eth = append(eth[:f.L4+20], make([]byte, n)...)
	binary.BigEndian.PutUint16(eth[f.L3+2:], uint16(len(eth)-f.L3))
	h := eth[f.L4:]
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12], h[13] = 5<<4, flags
	if err := frame.Parse(eth, &f); err != nil {
		t.Fatal(err)
	}
	return &f, eth
}

const (
	flagACK = 0x10
	flagSYN = 0x02
)

// pathTeam sends a data segment of one flow on a member and has it
// acknowledged rtt later, in virtual time.
type pathTeam struct {
	t   *testing.T
	d   *lb.Delays
	now int64
	seq uint32
}

func (p *pathTeam) roundTrip(member int, rtt int64) {
	p.t.Helper()
	f, eth := tcpSeg(p.t, "10.0.0.1", "10.0.0.2", 40000, 5201, p.seq, 1, flagACK, 1000)
	p.d.SampleTCP(member, f, eth, p.now)
	p.now += rtt
	p.seq += 1000
	f, eth = tcpSeg(p.t, "10.0.0.2", "10.0.0.1", 5201, 40000, 1, p.seq, flagACK, 0)
	p.d.AckTCP(f, eth, p.now)
	p.now += 10 * us
}

// TestPathRTT: a segment timed on a member is completed by the
// acknowledgment that covers it, not by one that does not, nor by one of
// another flow; the estimate follows the samples; Excess is the
// difference plus the deviations, 0 for a member without a fresh
// estimate, bounded by MaxDelay, and cleared by Forget.
func TestPathRTT(t *testing.T) {
	p := &pathTeam{t: t, d: new(lb.Delays), now: int64(time.Second), seq: 1}
	for range 40 {
		p.roundTrip(0, 5*ms)
		p.roundTrip(1, ms)
	}
	s0, v0 := p.d.RTT(0, p.now)
	s1, v1 := p.d.RTT(1, p.now)
	if s0 < 4900*us || s0 > 5100*us || s1 < 900*us || s1 > 1100*us || v0 > 100*us || v1 > 100*us {
		t.Fatalf("rtt %d±%dµs and %d±%dµs, want 5000 and 1000, steady", s0/us, v0/us, s1/us, v1/us)
	}
	if x := p.d.Excess(0, 1, p.now); x < 3900*us || x > 4500*us {
		t.Errorf("excess 0->1 %dµs, want about 4000", x/us)
	}
	if x := p.d.Excess(1, 0, p.now); x != 0 {
		t.Errorf("excess 1->0 %dµs, want 0 (a move to the slower path)", x/us)
	}
	if g := p.d.Gap(0, 1, 500*us, p.now); g != 500*us+p.d.Excess(0, 1, p.now) {
		t.Errorf("gap %dµs, want margin + excess", g/us)
	}

	// An acknowledgment short of the timed segment, or of another flow,
	// completes nothing: a later one does, one round trip of 20 ms.
	f, eth := tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, p.seq, 1, flagACK, 1000)
	p.d.SampleTCP(0, f, eth, p.now)
	f, eth = tcpSeg(t, "10.0.0.2", "10.0.0.1", 5201, 40000, 1, p.seq, flagACK, 0) // up to, not past it
	p.d.AckTCP(f, eth, p.now+ms)
	f, eth = tcpSeg(t, "10.0.0.2", "10.0.0.1", 5201, 40001, 1, p.seq+1000, flagACK, 0) // another flow
	p.d.AckTCP(f, eth, p.now+ms)
	f, eth = tcpSeg(t, "10.0.0.2", "10.0.0.1", 5201, 40000, 1, p.seq+1000, flagACK, 0)
	p.d.AckTCP(f, eth, p.now+20*ms)
	if s, _ := p.d.RTT(0, p.now+20*ms); s < s0+(20*ms-s0)/8-us {
		t.Errorf("rtt %dµs after a 20 ms sample on %dµs: the sample was not taken (or early)", s/us, s0/us)
	}
	p.seq += 1000
	p.now += 20 * ms

	// Idle: no sample for longer than a second, no estimate.
	if x := p.d.Excess(0, 1, p.now+2*int64(time.Second)); x != 0 {
		t.Errorf("excess %dµs with stale estimates, want 0", x/us)
	}
	// Huge round trips are bounded.
	for range 100 {
		p.roundTrip(0, 10*int64(time.Second))
		p.roundTrip(1, 0)
	}
	if x := p.d.Excess(0, 1, p.now); x <= 0 || x > lb.MaxDelay {
		t.Errorf("excess %dµs, want in (0, MaxDelay]", x/us)
	}
	p.d.Forget(0)
	if s, _ := p.d.RTT(0, p.now); s != 0 || p.d.Excess(0, 1, p.now) != 0 {
		t.Errorf("after Forget: rtt %dµs", s/us)
	}
}

// TestPathSampleRules: a segment without payload or with SYN is not
// timed; a timed segment that is never acknowledged (lost) frees the
// member's slot after a second, and a member that goes down is forgotten.
func TestPathSampleRules(t *testing.T) {
	d := new(lb.Delays)
	now := int64(time.Second)
	ack := func(seq uint32, at int64) {
		f, eth := tcpSeg(t, "10.0.0.2", "10.0.0.1", 5201, 40000, 1, seq, flagACK, 0)
		d.AckTCP(f, eth, at)
	}
	f, eth := tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 100, 1, flagACK, 0)
	d.SampleTCP(0, f, eth, now)
	f, eth = tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 100, 0, flagSYN, 0)
	d.SampleTCP(0, f, eth, now)
	ack(200, now+ms)
	if s, _ := d.RTT(0, now+ms); s != 0 {
		t.Fatalf("rtt %dµs from segments that carry no data", s/us)
	}
	// Lost: segment 100..1100 never acknowledged; the slot stays taken
	// (the next segment is not timed) until a second has passed.
	f, eth = tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 100, 1, flagACK, 1000)
	d.SampleTCP(0, f, eth, now)
	f, eth = tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 5000, 1, flagACK, 1000)
	d.SampleTCP(0, f, eth, now+ms)
	ack(6000, now+2*ms) // covers both; completes the first: 2 ms
	if s, _ := d.RTT(0, now+2*ms); s != 2*ms {
		t.Fatalf("rtt %dµs, want the first timed segment's 2 ms", s/us)
	}
	f, eth = tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 9000, 1, flagACK, 1000)
	d.SampleTCP(0, f, eth, now+3*ms) // timed, then lost
	f, eth = tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 20000, 1, flagACK, 1000)
	later := now + 3*ms + int64(time.Second) + 1
	d.SampleTCP(0, f, eth, later) // replaces the lost one
	ack(21000, later+3*ms)
	if s, _ := d.RTT(0, later+3*ms); s <= 0 || s > 3*ms {
		t.Errorf("rtt %dµs after a lost sample was replaced, want the estimate restarted at 3 ms (stale)", s/us)
	}
}

// TestPathNoAllocs: timing and completing a segment allocate nothing.
func TestPathNoAllocs(t *testing.T) {
	d := new(lb.Delays)
	fs, seg := tcpSeg(t, "10.0.0.1", "10.0.0.2", 40000, 5201, 1, 1, flagACK, 1000)
	fa, ack := tcpSeg(t, "10.0.0.2", "10.0.0.1", 5201, 40000, 1, 1001, flagACK, 0)
	now := int64(time.Second)
	if a := testing.AllocsPerRun(1000, func() {
		d.SampleTCP(1, fs, seg, now)
		now += ms
		d.AckTCP(fa, ack, now)
	}); a != 0 {
		t.Errorf("%v allocations per round trip", a)
	}
}

// TestAutoGapCoversPathDelay: with member 0's path 5 ms longer than
// member 1's by the round-trip times (and both queues empty), a flow on 0
// idle for the margin, or for a few ms, stays (refused); idle for the
// margin plus the excess it moves. When the paths even out, flows move
// after the margin again.
func TestAutoGapCoversPathDelay(t *testing.T) {
	margin := 100 * us
	a := newAutoTeam(t, margin)
	p := &pathTeam{t: t, d: a.d, now: int64(time.Second), seq: 1}
	measure := func(rtt0, rtt1 int64) {
		for range 60 {
			p.roundTrip(0, rtt0)
			p.roundTrip(1, rtt1)
		}
		a.now = p.now
	}
	measure(6*ms, ms)
	if m := a.burst(1, 50); m != 0 {
		t.Fatalf("first flow on %d, want 0", m)
	}
	refused := uint64(0)
	for _, idle := range []int64{margin, ms, 4 * ms} {
		a.now += idle
		if m := a.burst(1, 50); m != 0 {
			t.Fatalf("after %dµs idle: moved to %d while member 0's path is 5 ms longer", idle/us, m)
		}
		refused++
		if s := stats(t, a.b); s.Refused != refused || s.Moves != 0 {
			t.Fatalf("after %dµs idle: stats %+v, want %d refused", idle/us, s, refused)
		}
	}
	a.now += margin + a.d.Excess(0, 1, a.now)
	if m := a.burst(1, 50); m != 1 {
		t.Fatalf("idle for margin + excess: flow on %d, want 1", m)
	}
	// The paths even out: after a long idle the flow may go anywhere; it
	// loads its member, and after the margin (plus what is left of the
	// deviations, a few µs) it moves to the other.
	p.now = a.now
	measure(ms, ms)
	cur := a.burst(1, 200)
	before := stats(t, a.b)
	x := a.d.Excess(cur, 1-cur, a.now)
	if x > 50*us {
		t.Fatalf("excess %dµs with even paths", x/us)
	}
	a.now += margin + x
	if m := a.burst(1, 10); m != 1-cur {
		t.Fatalf("paths even: flow on %d after margin + %dµs, want %d", m, x/us, 1-cur)
	}
	if s := stats(t, a.b); s.Moves != before.Moves+1 || s.Refused != before.Refused {
		t.Errorf("stats %+v after %+v, want one more move, no refusal", s, before)
	}
}

// FuzzPathTCP: any frame, sent and received, times and completes
// segments without panicking, and the estimates stay bounded.
func FuzzPathTCP(f *testing.F) {
	seg, err := frame.Build(frame.Spec{SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"), Proto: 6, SrcPort: 1, DstPort: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seg, uint8(0), int64(1000))
	short := append([]byte(nil), seg...)
	short[14+20+12] = 0xf0 // data offset 60 in a 60-byte frame
	f.Add(short, uint8(1), int64(1))
	f.Fuzz(func(t *testing.T, eth []byte, member uint8, dt int64) {
		var fr frame.Frame
		if frame.Parse(eth, &fr) != nil {
			return
		}
		d := new(lb.Delays)
		now := int64(time.Second)
		id := int(member % 4)
		d.SampleTCP(id, &fr, eth, now)
		d.AckTCP(&fr, eth, now+dt)
		if s, v := d.RTT(id, now+dt); s < 0 || s > lb.MaxDelay || v < 0 || v > lb.MaxDelay {
			t.Fatalf("rtt %d ± %d out of bounds", s, v)
		}
		if x := d.Excess(id, (id+1)%4, now+dt); x < 0 || x > lb.MaxDelay {
			t.Fatalf("excess %d out of bounds", x)
		}
	})
}
