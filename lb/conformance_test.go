package lb_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

// The conformance suite runs against every algorithm New knows. What an
// algorithm promises is stated here; a new algorithm fails the suite
// until it is described.
type traits struct {
	// sticky: every frame of a flow leaves on one member while the View
	// does not change and the flow keeps sending.
	sticky bool
	// spreads: flows use every member, not only Members[0].
	spreads bool
	// stateless: the member depends on the flow and the View only, so a
	// returning member takes back exactly the flows it had.
	stateless bool
}

var algorithmTraits = map[string]traits{
	lb.ActiveBackup: {sticky: true, stateless: true},
	lb.HyperVPort:   {sticky: true, spreads: true, stateless: true},
	lb.AddressHash:  {sticky: true, spreads: true, stateless: true},
	lb.RoundRobin:   {spreads: true},
	lb.Dynamic:      {sticky: true, spreads: true},
}

const (
	suiteVNICs = 64
	suiteFlows = 4096
)

// flow is a flow as the team sees it: the frames of one vnic.
type flow struct {
	f    frame.Frame
	vnic int
}

func makeFlows(first, n int) []flow {
	fl := make([]flow, n)
	for i := range fl {
		lbtest.Flow(uint64(first+i), &fl[i].f)
		fl[i].vnic = (first + i) % suiteVNICs
	}
	return fl
}

// team drives one Balancer as the team does: a Picker per vnic, a clock
// that only goes forward.
type team struct {
	t       *testing.T
	pickers []lb.Picker
	now     int64
}

// autoVariant is dynamic with measured delays (flowlet_gap: auto): the
// suite runs it as one more algorithm, with members 0 and 2 slower than
// the others so that some moves are refused.
const autoVariant = lb.Dynamic + "/auto"

// newVariant makes the balancer the suite calls name: an algorithm with
// default options, or autoVariant.
func newVariant(name string) (lb.Balancer, error) {
	algo, auto := strings.CutSuffix(name, "/auto")
	o := lb.Options{}
	if auto {
		o.Delays = new(lb.Delays)
		o.Delays.Publish(0, 0, int64(50*time.Millisecond))
		o.Delays.Publish(2, 0, int64(20*time.Millisecond))
	}
	return lb.New(algo, o)
}

func newTeam(t *testing.T, name string) *team {
	t.Helper()
	b, err := newVariant(name)
	if err != nil {
		t.Fatal(err)
	}
	if algo, _ := strings.CutSuffix(name, "/auto"); b.Name() != algo {
		t.Fatalf("New(%q).Name() = %q", algo, b.Name())
	}
	tm := &team{t: t, pickers: make([]lb.Picker, suiteVNICs)}
	for i := range tm.pickers {
		tm.pickers[i] = b.NewPicker()
	}
	return tm
}

// round sends one 1500-byte frame of every flow, 10 ns apart (a round of
// 4096 flows lasts 41 µs, well within a flowlet gap), and returns the
// member of each.
func (tm *team) round(v *lb.View, flows []flow) []int {
	got := make([]int, len(flows))
	for i := range flows {
		tm.now += 10
		got[i] = tm.pickers[flows[i].vnic].Pick(v, &flows[i].f, flows[i].vnic, 1500, tm.now)
		if !slices.Contains(v.Members, got[i]) {
			tm.t.Fatalf("flow %d: Pick = %d, not in Members %v", i, got[i], v.Members)
		}
	}
	return got
}

// suiteViews are the shapes of View the suite runs with: with a home per
// vnic (switch-independent) and without (static, lacp).
func suiteViews() map[string]*lb.View {
	return map[string]*lb.View{
		"homed":    lbtest.Homed(suiteVNICs, 0, 1, 2, 3),
		"no homes": lbtest.View(0, 1, 2, 3),
	}
}

func TestConformance(t *testing.T) {
	for _, name := range append(lb.Names(), autoVariant) {
		algo, _ := strings.CutSuffix(name, "/auto")
		tr, ok := algorithmTraits[algo]
		if !ok {
			t.Errorf("algorithm %q is not described in algorithmTraits", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			for shape, full := range suiteViews() {
				t.Run(shape, func(t *testing.T) {
					t.Run("sticky", func(t *testing.T) { testSticky(t, name, tr, full) })
					for _, m := range full.Members {
						t.Run(fmt.Sprintf("member %d leaves and returns", m), func(t *testing.T) { testLeaveReturn(t, name, tr, full, m) })
					}
				})
			}
			t.Run("picks a member", func(t *testing.T) { testPicksMember(t, name) })
			t.Run("no allocs", func(t *testing.T) { testNoAllocs(t, name) })
			t.Run("concurrent pickers", func(t *testing.T) { testConcurrent(t, name) })
		})
	}
}

func testSticky(t *testing.T, name string, tr traits, v *lb.View) {
	tm := newTeam(t, name)
	flows := makeFlows(0, suiteFlows)
	first := tm.round(v, flows)
	used := map[int]int{}
	for _, m := range first {
		used[m]++
	}
	switch {
	case tr.spreads && len(used) != len(v.Members):
		t.Errorf("flows use members %v, want all of %v", used, v.Members)
	case !tr.spreads && (len(used) != 1 || used[v.Members[0]] == 0):
		t.Errorf("flows use members %v, want only %d", used, v.Members[0])
	}
	if !tr.sticky {
		t.Skip("not sticky by design")
	}
	for r := range 3 {
		if got := tm.round(v, flows); !slices.Equal(got, first) {
			t.Fatalf("round %d: %d flows changed member while nothing changed", r+1, countDiff(first, got))
		}
	}
}

func countDiff(a, b []int) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// testLeaveReturn takes member m out of full, then puts it back.
func testLeaveReturn(t *testing.T, name string, tr traits, full *lb.View, m int) {
	tm := newTeam(t, name)
	flows := makeFlows(0, suiteFlows)
	before := tm.round(full, flows)

	without := lbtest.Without(full, m)
	during := tm.round(without, flows)
	moved, had := 0, 0
	for i := range flows {
		switch {
		case during[i] == m:
			t.Fatalf("flow %d still on %d, which left", i, m) // round checks Members too
		case !tr.sticky:
		case before[i] == m:
			had++
		case during[i] != before[i]:
			moved++
		}
	}
	if moved > 0 {
		t.Errorf("member %d left: %d flows on other members moved", m, moved)
	}
	if tr.sticky && (tr.spreads || m == full.Members[0]) && had == 0 {
		t.Errorf("member %d carried no flows before it left", m)
	}

	// m returns (a new View, as the team publishes it). Let every flow
	// become idle long enough to start a new flowlet, then send the old
	// flows and new ones.
	back := &lb.View{Members: slices.Clone(full.Members), Home: slices.Clone(full.Home)}
	tm.now += int64(time.Second)
	after := tm.round(back, flows)
	fresh := tm.round(back, makeFlows(suiteFlows, suiteFlows))
	on := 0
	for _, got := range slices.Concat(after, fresh) {
		if got == m {
			on++
		}
	}
	if (tr.spreads || m == back.Members[0]) && on == 0 {
		t.Errorf("member %d returned: no flow uses it", m)
	}
	if tr.stateless {
		if n := countDiff(before, after); n > 0 {
			t.Errorf("member %d returned: %d flows are not where they were before it left", m, n)
		}
	}
}

func testPicksMember(t *testing.T, name string) {
	views := []*lb.View{
		lbtest.View(5),
		lbtest.View(lb.MaxMembers-1, 0),
		lbtest.View(2, 7, 1),
		lbtest.Homed(3, 9, 4),
		{Members: []int{1, 2}, Home: []int{-1, 2, 7, 1}}, // no home, home, home not a member
	}
	flows := makeFlows(0, 256)
	var arp, zero frame.Frame
	lbtest.ARP(1, &arp)
	frames := []*frame.Frame{&arp, &zero}
	for i := range flows {
		frames = append(frames, &flows[i].f)
	}
	b, err := newVariant(name)
	if err != nil {
		t.Fatal(err)
	}
	p := b.NewPicker()
	now := int64(0)
	for r := range 4 {
		for _, v := range views {
			for i, f := range frames {
				vnic := []int{-1, 0, 1, 2, 3, 1000}[i%6]
				size := []int{0, 60, 1514, 65536}[i%4]
				now += []int64{1, 1000, int64(time.Millisecond)}[(i+r)%3]
				if got := p.Pick(v, f, vnic, size, now); !slices.Contains(v.Members, got) {
					t.Fatalf("Pick(%v, frame %d, vnic %d) = %d, not a member", v, i, vnic, got)
				}
			}
		}
	}
}

func testNoAllocs(t *testing.T, name string) {
	b, err := newVariant(name)
	if err != nil {
		t.Fatal(err)
	}
	p := b.NewPicker()
	v1, v2 := lbtest.Homed(8, 0, 1, 2, 3), lbtest.Homed(8, 3, 1)
	flows := makeFlows(0, 64)
	var f frame.Frame
	now, next := int64(0), uint64(1<<20)
	allocs := testing.AllocsPerRun(100, func() {
		for _, v := range []*lb.View{v1, v2} {
			for i := range flows {
				now += 1000
				p.Pick(v, &flows[i].f, flows[i].vnic, 1500, now)
			}
		}
		lbtest.Flow(next, &f) // a new flow every run
		next++
		p.Pick(v1, &f, 0, 60, now)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run of 129 picks, want 0", allocs)
	}
}

// testConcurrent runs one Picker per goroutine on one Balancer while the
// control path swaps Views; run it with -race.
func testConcurrent(t *testing.T, name string) {
	b, err := newVariant(name)
	if err != nil {
		t.Fatal(err)
	}
	views := []*lb.View{
		lbtest.Homed(4, 0, 1, 2, 3),
		lbtest.Homed(4, 1, 2, 3),
		lbtest.Homed(4, 3, 0),
		lbtest.View(2),
	}
	var cur atomic.Pointer[lb.View]
	cur.Store(views[0])
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			cur.Store(views[i%len(views)])
			time.Sleep(10 * time.Microsecond)
		}
	})
	var pickers sync.WaitGroup
	for vnic := range 4 {
		pickers.Go(func() {
			p := b.NewPicker()
			flows := makeFlows(vnic*1000, 500)
			now := int64(0)
			for r := range 20 {
				for i := range flows {
					now += int64(r+1) * 100
					v := cur.Load()
					if got := p.Pick(v, &flows[i].f, vnic, 1000, now); !slices.Contains(v.Members, got) {
						t.Errorf("Pick = %d, not in %v", got, v.Members)
						return
					}
				}
			}
		})
	}
	pickers.Wait()
	stop.Store(true)
	wg.Wait()
	if s, ok := b.(lb.Statser); ok {
		t.Logf("stats: %+v", s.Stats())
	}
}

func TestNew(t *testing.T) {
	if got, want := lb.Names(), []string{"active-backup", "address-hash", "dynamic", "hyperv-port", "round-robin"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	tests := []struct {
		name    string
		algo    string
		o       lb.Options
		wantErr error
	}{
		{"unknown", "balance-slb", lb.Options{}, lb.ErrUnknownAlgorithm},
		{"empty", "", lb.Options{}, lb.ErrUnknownAlgorithm},
		{"negative gap", lb.Dynamic, lb.Options{FlowletGap: -1}, lb.ErrBadOptions},
		{"negative decay", lb.Dynamic, lb.Options{LoadDecay: -1}, lb.ErrBadOptions},
		{"slots not power of two", lb.Dynamic, lb.Options{FlowSlots: 1000}, lb.ErrBadOptions},
		{"too many slots", lb.Dynamic, lb.Options{FlowSlots: lb.MaxFlowSlots * 2}, lb.ErrBadOptions},
		{"bad hash bits", lb.AddressHash, lb.Options{Hash: 1 << 15}, lb.ErrBadOptions},
		{"all options", lb.Dynamic, lb.Options{Hash: lb.HashL4, FlowletGap: time.Millisecond, LoadDecay: time.Second, FlowSlots: 16}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lb.New(tt.algo, tt.o)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%q, %+v) error = %v, want %v", tt.algo, tt.o, err, tt.wantErr)
			}
			if tt.wantErr == lb.ErrUnknownAlgorithm && !strings.Contains(err.Error(), strconv.Quote(tt.algo)) {
				t.Errorf("error %q does not name %q", err, tt.algo)
			}
		})
	}
}
