package lb_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

func mustNew(t testing.TB, name string, o lb.Options) lb.Balancer {
	t.Helper()
	b, err := lb.New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestActiveBackupFollowsFirstMember(t *testing.T) {
	p := mustNew(t, lb.ActiveBackup, lb.Options{}).NewPicker()
	var f frame.Frame
	for _, members := range [][]int{{2, 0, 1}, {0, 1}, {1}, {2, 1}} {
		for i := range uint64(50) {
			lbtest.Flow(i, &f)
			if got := p.Pick(lbtest.View(members...), &f, int(i), 100, 0); got != members[0] {
				t.Fatalf("members %v: Pick = %d, want %d", members, got, members[0])
			}
		}
	}
}

func TestRoundRobinRotates(t *testing.T) {
	b := mustNew(t, lb.RoundRobin, lb.Options{})
	p1, p2 := b.NewPicker(), b.NewPicker()
	var f frame.Frame
	lbtest.Flow(1, &f)
	v := lbtest.View(3, 0, 5)
	var got1, got2 []int
	for range 6 {
		got1 = append(got1, p1.Pick(v, &f, 0, 1500, 0))
	}
	got2 = append(got2, p2.Pick(v, &f, 1, 1500, 0))
	if diff := cmp.Diff([]int{3, 0, 5, 3, 0, 5}, got1); diff != "" {
		t.Errorf("picker 1 (-want +got):\n%s", diff)
	}
	if got2[0] != 3 {
		t.Errorf("picker 2 starts on %d: pickers share a counter", got2[0])
	}
	count := map[int]int{}
	w := lbtest.View(0, 5)
	for range 1000 {
		count[p1.Pick(w, &f, 0, 1500, 0)]++
	}
	if diff := cmp.Diff(map[int]int{0: 500, 5: 500}, count); diff != "" {
		t.Errorf("after a member left (-want +got):\n%s", diff)
	}
}

func TestHyperVPort(t *testing.T) {
	p := mustNew(t, lb.HyperVPort, lb.Options{}).NewPicker()
	flows := makeFlows(0, 100)
	pick := func(v *lb.View, vnic int) int {
		t.Helper()
		m := -1
		for i := range flows {
			got := p.Pick(v, &flows[i].f, vnic, 1500, int64(i))
			if m >= 0 && got != m {
				t.Fatalf("vnic %d: flows on %d and %d: a vnic must stay on one member", vnic, m, got)
			}
			m = got
		}
		return m
	}
	v := &lb.View{Members: []int{0, 1, 2}, Home: []int{2, 1, -1, 7}}
	if got := pick(v, 0); got != 2 {
		t.Errorf("vnic 0 homed on 2: Pick = %d", got)
	}
	if got := pick(v, 1); got != 1 {
		t.Errorf("vnic 1 homed on 1: Pick = %d", got)
	}
	// No home, home not a member, no entry, no Home at all: the fallback
	// is the same function of the vnic and Members.
	noHome := lbtest.View(0, 1, 2)
	for _, vnic := range []int{2, 3, 4, 1000} {
		if got, want := pick(v, vnic), pick(noHome, vnic); got != want {
			t.Errorf("vnic %d: Pick = %d, fallback without homes = %d", vnic, got, want)
		}
	}
	// The fallback spreads vnics over members.
	count := map[int]int{}
	for vnic := range 300 {
		count[pick(noHome, vnic)]++
	}
	for _, m := range noHome.Members {
		if count[m] < 70 {
			t.Errorf("fallback puts %d of 300 vnics on member %d: %v", count[m], m, count)
		}
	}
}

func TestAddressHashDistribution(t *testing.T) {
	p := mustNew(t, lb.AddressHash, lb.Options{Hash: lb.DefaultHash | lb.HashL4}).NewPicker()
	flows := makeFlows(0, 20000)
	v := lbtest.View(0, 1, 2, 3)
	before := make([]int, len(flows))
	count := map[int]int{}
	for i := range flows {
		before[i] = p.Pick(v, &flows[i].f, 0, 1500, 0)
		count[before[i]]++
	}
	for _, m := range v.Members {
		if c := count[m]; c < 4750 || c > 5250 { // ±5% of 5000
			t.Errorf("member %d carries %d of 20000 flows: %v", m, c, count)
		}
	}
	// Members' order is preference, not placement.
	shuffled := lbtest.View(2, 0, 3, 1)
	for i := range flows {
		if got := p.Pick(shuffled, &flows[i].f, 0, 1500, 0); got != before[i] {
			t.Fatalf("flow %d: %d with members %v, %d with %v", i, got, shuffled.Members, before[i], v.Members)
		}
	}
	// The flows of a lost member spread evenly over the survivors.
	w := lbtest.Without(v, 2)
	moved := map[int]int{}
	for i := range flows {
		if before[i] == 2 {
			moved[p.Pick(w, &flows[i].f, 0, 1500, 0)]++
		}
	}
	for _, m := range w.Members {
		if share := float64(moved[m]) / float64(count[2]); share < 0.28 || share > 0.39 {
			t.Errorf("member 2 left: survivor %d took %.0f%% of its flows: %v", m, share*100, moved)
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(moved)), []int{0, 1, 3}) {
		t.Errorf("moved flows went to %v", moved)
	}
}
