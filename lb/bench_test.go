package lb_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

// BenchmarkPick measures one Pick for 1024 active flows, 100 ns apart (a
// flow comes back every 102 µs: dynamic stays within flowlets and only
// looks up its table).
func BenchmarkPick(b *testing.B) {
	flows := makeFlows(0, 1024)
	for _, name := range append(lb.Names(), autoVariant) {
		for _, members := range []int{2, 8, 64} {
			b.Run(fmt.Sprintf("%s/members=%d", name, members), func(b *testing.B) {
				ids := make([]int, members)
				for m := range ids {
					ids[m] = m
				}
				v := lbtest.Homed(suiteVNICs, ids...)
				algo, auto := strings.CutSuffix(name, "/auto")
				o := lb.Options{Hash: lb.DefaultHash | lb.HashL4}
				if auto { // every member queues 1 ms: each frame reads a delay
					o.Delays = new(lb.Delays)
					for m := range ids {
						o.Delays.Publish(m, 1<<40, int64(time.Millisecond))
					}
				}
				p := mustNew(b, algo, o).NewPicker()
				now := int64(0)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					fl := &flows[i&1023]
					now += 100
					p.Pick(v, &fl.f, fl.vnic, 1500, now)
				}
			})
		}
	}
}

// BenchmarkDynamicNewFlows measures dynamic when every frame starts a new
// flowlet (a flood of new flows, or flows idle for more than a gap): each
// Pick publishes its bytes and looks for the least-loaded member.
func BenchmarkDynamicNewFlows(b *testing.B) {
	for _, members := range []int{2, 8, 64} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			v := &lb.View{}
			for m := range members {
				v.Members = append(v.Members, m)
			}
			p := mustNew(b, lb.Dynamic, lb.Options{Hash: lb.DefaultHash | lb.HashL4}).NewPicker()
			var f frame.Frame
			lbtest.Flow(0, &f)
			now := int64(0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.SrcPort = uint16(i)
				now += int64(lb.DefaultFlowletGap) / 64 // a slot comes back after > a gap
				p.Pick(v, &f, 0, 1500, now)
			}
		})
	}
}

func BenchmarkHash(b *testing.B) {
	var v4, v6 frame.Frame
	lbtest.Flow(0, &v4)
	lbtest.Flow(3, &v6)
	for _, bc := range []struct {
		name string
		f    *frame.Frame
		h    lb.HashFields
	}{
		{"ipv4/default", &v4, lb.DefaultHash},
		{"ipv4/all", &v4, lb.DefaultHash | lb.HashVLAN | lb.HashL4},
		{"ipv6/all", &v6, lb.DefaultHash | lb.HashVLAN | lb.HashL4},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var sink uint32
			for b.Loop() {
				sink += lb.Hash(bc.f, bc.h)
			}
			_ = sink
		})
	}
}
