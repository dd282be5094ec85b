package team

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// seqBroadcast is a broadcast from the peer carrying seq.
func seqBroadcast(seq uint32) []byte {
	b := udp(frame.Broadcast, peerMAC, 7, 7)
	binary.BigEndian.PutUint32(b[len(b)-4:], seq)
	return b
}

// vmCounter counts, by sequence number, the peer's broadcasts a vnic
// port was given.
type vmCounter struct {
	tt   *testTeam
	vnic string
	got  map[uint32]int
}

func (c *vmCounter) collect() {
	for _, f := range c.tt.h.port(c.vnic).Sent() {
		if frame.MAC(f[0:6]) == frame.Broadcast && frame.MAC(f[6:12]) == peerMAC {
			c.got[binary.BigEndian.Uint32(f[len(f)-4:])]++
		}
	}
}

// waitDelivered waits until seq has been delivered to the vnic (a
// liveness bound, not a timing check).
func (c *vmCounter) waitDelivered(t *testing.T, seq uint32) {
	t.Helper()
	waitFor(t, func() error {
		c.collect()
		if c.got[seq] == 0 {
			return fmt.Errorf("broadcast %d not delivered to %s", seq, c.vnic)
		}
		return nil
	})
}

// TestBroadcastOnceAcrossMoves floods every broadcast to every member, as
// the physical switch does, while the broadcast member moves at random:
// carrier lost and back, the primary moved by a reload, members removed
// and added. The VM must never get one twice; a broadcast sent while
// nothing moves must arrive exactly once.
func TestBroadcastOnceAcrossMoves(t *testing.T) {
	names := []string{"eth1", "eth2", "eth3"}
	cfg := baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, names...)
	tt := startTeam(t, cfg)
	rng := rand.New(rand.NewPCG(14, uint64(time.Now().UnixNano())))
	vm1 := &vmCounter{tt: tt, vnic: "vm1", got: map[uint32]int{}}
	vm2 := &vmCounter{tt: tt, vnic: "vm2", got: map[uint32]int{}}

	up := map[string]bool{"eth1": true, "eth2": true, "eth3": true}
	in := map[string]bool{"eth1": true, "eth2": true, "eth3": true}
	primary := ""
	reload := func() {
		c := tt.Config()
		for i := range c.Members {
			c.Members[i].Primary = c.Members[i].Name == primary
		}
		if err := tt.Apply(&c); err != nil {
			t.Fatalf("reload: %v", err)
		}
	}
	move := func() string {
		var ups, downs, outs, ins []string
		for _, n := range names {
			switch {
			case !in[n]:
				outs = append(outs, n)
			case up[n]:
				ups = append(ups, n)
				ins = append(ins, n)
			default:
				downs = append(downs, n)
				ins = append(ins, n)
			}
		}
		switch op := rng.IntN(6); {
		case op == 0 && len(ups) > 1:
			n := ups[rng.IntN(len(ups))]
			tt.LinkChanged(n, false)
			up[n] = false
			return "down " + n
		case op == 1 && len(downs) > 0:
			n := downs[rng.IntN(len(downs))]
			tt.LinkChanged(n, true)
			up[n] = true
			return "up " + n
		case op == 2:
			primary = names[rng.IntN(len(names))]
			if rng.IntN(4) == 0 {
				primary = ""
			}
			reload()
			return "primary " + primary
		case op == 3 && len(ups) > 1:
			n := ups[rng.IntN(len(ups))]
			if err := tt.RemoveMember(n); err != nil {
				t.Fatalf("remove %s: %v", n, err)
			}
			in[n] = false
			return "remove " + n
		case op == 4 && len(outs) > 0:
			n := outs[rng.IntN(len(outs))]
			if err := tt.AddMember(config.Member{Name: n, Primary: n == primary}); err != nil {
				t.Fatalf("add %s: %v", n, err)
			}
			in[n], up[n] = true, true
			return "add " + n
		default:
			n := ins[rng.IntN(len(ins))]
			tt.LinkChanged(n, !up[n])
			tt.LinkChanged(n, up[n])
			return "flap " + n
		}
	}
	// flood gives every present member its copy of each broadcast, in a
	// random order per frame, like a switch whose ports drain unevenly.
	flood := func(first, n uint32, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 1))
		order := slices.Clone(names)
		for seq := first; seq < first+n; seq++ {
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			fr := seqBroadcast(seq)
			for _, name := range order {
				if p := tt.h.port(name); p != nil && !p.Closed() {
					p.Inject(fr)
				}
			}
		}
	}

	idle := func() {
		for _, n := range names {
			if p := tt.h.port(n); p != nil {
				if err := p.WaitIdle(wait); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	const rounds, perRound = 300, 20
	var seq uint32
	var quiet []uint32
	var ops []string
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		wg.Add(1)
		go func(first uint32, s uint64) {
			defer wg.Done()
			flood(first, perRound, s)
		}(seq, rng.Uint64())
		seq += perRound
		ops = append(ops, move())
		wg.Wait()
		idle()
		// Nothing moves now: one more broadcast must arrive once.
		// The virtual clock sometimes passes the filter's window
		// (only when every member is done with its batch: in real time
		// no batch takes half a second).
		tt.advance(time.Duration(rng.IntN(int(2 * bcastWindow))))
		flood(seq, 1, 0)
		quiet = append(quiet, seq)
		vm1.waitDelivered(t, seq)
		vm2.waitDelivered(t, seq)
		seq++
	}
	idle()
	// A last quiet broadcast flushes whatever is still in a batch.
	flood(seq, 1, 0)
	vm1.waitDelivered(t, seq)
	vm2.waitDelivered(t, seq)

	for _, c := range []*vmCounter{vm1, vm2} {
		dups, delivered := 0, 0
		for s, n := range c.got {
			delivered++
			if n > 1 {
				dups++
				t.Errorf("%s received broadcast %d %d times", c.vnic, s, n)
			}
		}
		for _, s := range quiet {
			if c.got[s] != 1 {
				t.Errorf("%s received broadcast %d (sent while nothing moved) %d times, want 1", c.vnic, s, c.got[s])
			}
		}
		t.Logf("%s: %d of %d broadcasts delivered, %d duplicated, over %d moves", c.vnic, delivered, seq+1, dups, rounds)
	}
	if t.Failed() {
		t.Logf("moves: %v", ops)
	}
}

// TestBcastFilter: the filter's rule on its own, in virtual time.
func TestBcastFilter(t *testing.T) {
	b := newBcastFilter()
	x, y := seqBroadcast(1), seqBroadcast(2)
	steps := []struct {
		name   string
		member int
		fr     []byte
		at     int64
		want   bool
	}{
		{"first copy", 0, x, 0, true},
		{"second copy on another member", 1, x, 1000, false},
		{"a repeat on the same member", 0, x, 2000, true},
		{"another broadcast on the other member", 1, y, 3000, true},
		{"its copy on the first member", 0, y, 4000, false},
		{"x again after the window", 1, x, 2000 + bcastWindow, true},
		{"and its copy on the first member", 0, x, 3000 + bcastWindow, false},
	}
	for _, s := range steps {
		if got := b.admit(s.member, s.fr, s.at); got != s.want {
			t.Errorf("%s: admit(member %d, t=%d) = %v, want %v", s.name, s.member, s.at, got, s.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { b.admit(0, x, 5000+bcastWindow) }); n != 0 {
		t.Errorf("admit allocates %.0f times per call", n)
	}
}

// TestBroadcastReceiveAllocs: delivering broadcasts through the filter
// allocates nothing.
func TestBroadcastReceiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector; `make test` also runs without it")
	}
	_, rc, done := forwarders(t, config.BalanceHyperVPort)
	defer done()
	if s := rc.t.snap.Load(); s.bcastRx != rc.m.id {
		t.Fatalf("receiver is member %d, broadcasts are taken on %d", rc.m.id, s.bcastRx)
	}
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte { return seqBroadcast(uint32(i)) })
	seq := uint32(len(bufs))
	next := func() { // new sequence numbers in place: every broadcast a new one
		for i := range bufs {
			binary.BigEndian.PutUint32(bufs[i][sizes[i]-4:], seq)
			seq++
		}
	}
	rc.batch(bufs, sizes)
	if n := testing.AllocsPerRun(100, func() { next(); rc.batch(bufs, sizes) }); n != 0 {
		t.Errorf("broadcast team->vnic: %v allocations per batch", n)
	}
	if st := rc.t.State(); st.VNICs[0].TxPackets == 0 || st.Counters.RxDroppedDupBroadcast != 0 {
		t.Errorf("broadcasts not delivered once: vnic tx %d, dropped as duplicates %d", st.VNICs[0].TxPackets, st.Counters.RxDroppedDupBroadcast)
	}
}

// BenchmarkForwardBroadcastTeamToVNIC: broadcasts delivered to both
// vnics through the filter (every one new, as at a 2000/s flood).
func BenchmarkForwardBroadcastTeamToVNIC(b *testing.B) {
	_, rc, done := forwarders(b, config.BalanceHyperVPort)
	defer done()
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte { return seqBroadcast(uint32(i)) })
	seq := uint32(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range bufs {
			binary.BigEndian.PutUint32(bufs[j][sizes[j]-4:], seq)
			seq++
		}
		rc.batch(bufs, sizes)
	}
	b.ReportMetric(float64(b.N*len(bufs))/b.Elapsed().Seconds(), "frames/s")
}
