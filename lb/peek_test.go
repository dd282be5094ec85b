package lb_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

// TestPeekAgreesWithPick: for every algorithm, over frames, views that
// lose and regain members, and times within and beyond flowlet gaps, Peek
// answers what the next Pick returns, and Peeking (twice) changes nothing:
// neither the next Pick nor the balancer's counts.
func TestPeekAgreesWithPick(t *testing.T) {
	views := []*lb.View{
		lbtest.Homed(8, 0, 1, 2, 3),
		lbtest.Without(lbtest.Homed(8, 0, 1, 2, 3), 1),
		lbtest.View(0, 1, 2, 3),
		lbtest.View(2, 3),
	}
	for _, name := range append(lb.Names(), autoVariant) {
		t.Run(name, func(t *testing.T) {
			b, err := newVariant(name)
			if err != nil {
				t.Fatal(err)
			}
			pickers := make([]lb.Picker, 8)
			for i := range pickers {
				pickers[i] = b.NewPicker()
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var now int64
			var f frame.Frame
			for i := range 20000 {
				v := views[(i/500)%len(views)]
				lbtest.Flow(uint64(rng.IntN(64)), &f)
				vnic := rng.IntN(len(pickers))
				switch rng.IntN(3) {
				case 0:
					now += int64(rng.IntN(int(time.Millisecond)))
				default:
					now += int64(rng.IntN(1000))
				}
				var before lb.Stats
				if s, ok := b.(lb.Statser); ok {
					before = s.Stats()
				}
				c1 := lb.Peek(pickers[vnic], v, &f, vnic, 1500, now)
				c2 := lb.Peek(pickers[vnic], v, &f, vnic, 1500, now)
				if s, ok := b.(lb.Statser); ok && s.Stats() != before {
					t.Fatalf("frame %d: Peek changed the counts: %+v -> %+v", i, before, s.Stats())
				}
				got := pickers[vnic].Pick(v, &f, vnic, 1500, now)
				if c1.Member != got || c2.Member != got {
					t.Fatalf("frame %d: Peek said %d then %d, Pick chose %d", i, c1.Member, c2.Member, got)
				}
				if !slices.Contains(v.Members, c1.Member) || c1.Reason == "" {
					t.Fatalf("frame %d: Choice %+v", i, c1)
				}
				if strings.HasPrefix(name, lb.Dynamic) && (c1.Flowlet == nil || c1.Fields == 0) {
					t.Fatalf("frame %d: dynamic Choice without its flowlet or fields: %+v", i, c1)
				}
			}
		})
	}
}
