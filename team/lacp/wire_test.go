package lacp

import (
	"slices"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// A world is a set of Runners whose ports are wired back to back in memory,
// with a virtual clock. Time only moves to the earliest NextDeadline of any
// Runner (or to the end of a run), so a missed deadline shows up as a
// protocol that stalls.
type world struct {
	t     *testing.T
	now   time.Duration
	nodes []*node
	links []*link
}

type node struct {
	name   string
	r      *Runner
	sent   []sent // LACPDUs this node sent
	events []Event
}

type sent struct {
	at   time.Duration
	port int
	pdu  lacpdu.PDU
}

// link joins port ap of a to port bp of b. A cut direction drops frames
// silently while the carrier stays up.
type link struct {
	a, b         *node
	ap, bp       int
	up           bool
	cutAB, cutBA bool
}

func newWorld(t *testing.T) *world { return &world{t: t} }

func mac(sys, port byte) [6]byte { return [6]byte{0x02, 0, 0, 0, sys, port} }

// node adds a Runner with ports 1..nports (Number = id, Key 1, priority
// 255), links down.
func (w *world) node(name string, cfg Config, nports int) *node {
	w.t.Helper()
	r, err := New(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	n := &node{name: name, r: r}
	for id := 1; id <= nports; id++ {
		pc := PortConfig{Number: uint16(id), Priority: 255, Key: 1, MAC: mac(cfg.SystemMAC[4], byte(id))}
		if err := r.AddPort(id, pc, w.now); err != nil {
			w.t.Fatal(err)
		}
	}
	w.nodes = append(w.nodes, n)
	w.flush()
	return n
}

func cfg(sys byte, active, fast bool) Config {
	return Config{SystemPriority: 0x8000, SystemMAC: mac(sys, 0), Active: active, Fast: fast}
}

// connect wires two ports and brings both links up.
func (w *world) connect(a *node, ap int, b *node, bp int) *link {
	l := &link{a: a, ap: ap, b: b, bp: bp}
	w.links = append(w.links, l)
	w.setLink(l, true)
	return l
}

func (w *world) setLink(l *link, up bool) {
	w.t.Helper()
	l.up = up
	if err := l.a.r.SetLink(l.ap, up, w.now); err != nil {
		w.t.Fatal(err)
	}
	if err := l.b.r.SetLink(l.bp, up, w.now); err != nil {
		w.t.Fatal(err)
	}
	w.flush()
}

func (w *world) disconnect(l *link) {
	w.setLink(l, false)
	w.links = slices.DeleteFunc(w.links, func(x *link) bool { return x == l })
}

// peer returns the other end of port p of n.
func (w *world) peer(n *node, p int) (*node, int, *link, bool) {
	for _, l := range w.links {
		switch {
		case l.a == n && l.ap == p:
			return l.b, l.bp, l, !l.cutAB
		case l.b == n && l.bp == p:
			return l.a, l.ap, l, !l.cutBA
		}
	}
	return nil, 0, nil, false
}

// flush drains every Runner and delivers what they send, as frames, until
// nobody has anything more to send at this instant.
func (w *world) flush() {
	w.t.Helper()
	for round := 0; ; round++ {
		if round > 1000 {
			w.t.Fatalf("%v: frames still flowing after 1000 rounds", w.now)
		}
		busy := false
		for _, n := range w.nodes {
			out := n.r.Drain()
			n.events = append(n.events, out.Events...)
			for _, tx := range out.Transmit {
				busy = true
				frame, err := tx.AppendFrame(nil)
				if err != nil {
					w.t.Fatalf("%s port %d: %v", n.name, tx.Port, err)
				}
				if tx.PDU != nil {
					n.sent = append(n.sent, sent{at: w.now, port: tx.Port, pdu: *tx.PDU})
				}
				peer, pp, l, ok := w.peer(n, tx.Port)
				if l == nil || !l.up || !ok {
					continue
				}
				if err := peer.r.HandleFrame(pp, frame, w.now); err != nil {
					w.t.Fatalf("%s port %d: %v", peer.name, pp, err)
				}
			}
		}
		if !busy {
			return
		}
	}
}

// run advances the clock to until, ticking every Runner at each deadline.
func (w *world) run(until time.Duration) {
	w.t.Helper()
	for i := 0; w.now < until; i++ {
		if i > 1_000_000 {
			w.t.Fatalf("%v: no progress", w.now)
		}
		next := until
		for _, n := range w.nodes {
			if at, ok := n.r.NextDeadline(); ok {
				if at <= w.now {
					w.t.Fatalf("%s: NextDeadline %v not after now %v", n.name, at, w.now)
				}
				next = min(next, at)
			}
		}
		w.now = next
		for _, n := range w.nodes {
			n.r.Tick(w.now)
		}
		w.flush()
	}
}

// runUntil runs until cond holds, at most until limit; it returns the time
// cond first held.
func (w *world) runUntil(limit time.Duration, cond func() bool) (time.Duration, bool) {
	w.t.Helper()
	for !cond() {
		if w.now >= limit {
			return w.now, false
		}
		next := limit
		for _, n := range w.nodes {
			if at, ok := n.r.NextDeadline(); ok {
				next = min(next, at)
			}
		}
		w.run(next)
	}
	return w.now, true
}

func (n *node) status(t *testing.T, id int) Status {
	t.Helper()
	s, ok := n.r.Status(id)
	if !ok {
		t.Fatalf("%s: no port %d", n.name, id)
	}
	return s
}

// firstEvent returns the time a port's machine first entered state to.
func (n *node) firstEvent(port int, m Machine, to string, after time.Duration) (time.Duration, bool) {
	for _, e := range n.events {
		if e.Port == port && e.Machine == m && e.To == to && e.At >= after {
			return e.At, true
		}
	}
	return 0, false
}

// checkRate fails if any port of any node sent more than
// MaxTxPerFastPeriod LACPDUs within FastPeriodicTime.
func (w *world) checkRate() {
	w.t.Helper()
	for _, n := range w.nodes {
		checkRate(w.t, n.name, n.sent)
	}
}

func checkRate(t *testing.T, name string, s []sent) {
	t.Helper()
	byPort := map[int][]time.Duration{}
	for _, x := range s {
		byPort[x.port] = append(byPort[x.port], x.at)
	}
	for p, ts := range byPort {
		for i := MaxTxPerFastPeriod; i < len(ts); i++ {
			if ts[i]-ts[i-MaxTxPerFastPeriod] < FastPeriodicTime {
				t.Errorf("%s port %d sent %d LACPDUs within %v: %v", name, p,
					MaxTxPerFastPeriod+1, ts[i]-ts[i-MaxTxPerFastPeriod], ts[i-MaxTxPerFastPeriod:i+1])
			}
		}
	}
}

// dump logs every event, for failing tests.
func (w *world) dump() {
	for _, n := range w.nodes {
		for _, e := range n.events {
			w.t.Logf("%s: %v", n.name, e)
		}
	}
}

func (w *world) sentBetween(n *node, port int, from, to time.Duration) int {
	c := 0
	for _, s := range n.sent {
		if s.port == port && s.at >= from && s.at < to {
			c++
		}
	}
	return c
}

func ids(v ...int) []int { return v }
