package team

import (
	"testing"
	"time"
)

// TestLinkHold drives one member's hold in virtual time.
func TestLinkHold(t *testing.T) {
	ms := func(n int) int64 { return int64(time.Duration(n) * time.Millisecond) }
	type step struct {
		at   int   // ms
		up   *bool // the watcher's verdict at this time, nil: only time passes
		used bool  // what the team uses after the step
	}
	yes, no := new(bool), new(bool)
	*yes = true
	tests := []struct {
		name     string
		start    bool
		up, down int
		steps    []step
	}{
		{"no delays: at once", true, 0, 0, []step{{10, no, false}, {20, yes, true}}},
		{"up after delay_up", false, 500, 0, []step{{0, yes, false}, {499, nil, false}, {500, nil, true}}},
		{"down after delay_down", true, 0, 200, []step{{100, no, true}, {299, nil, true}, {300, nil, false}}},
		{"up undone before delay_up: never used", false, 500, 0, []step{
			{0, yes, false}, {50, no, false}, {100, yes, false}, {150, no, false}, {200, yes, false},
			{650, nil, false}, {700, nil, true}}},
		{"flapping every 50 ms never comes up", false, 500, 0, func() []step {
			var s []step
			for i := 0; i < 40; i++ {
				v := yes
				if i%2 == 1 {
					v = no
				}
				s = append(s, step{i * 50, v, false})
			}
			return append(s, step{5000, nil, false})
		}()},
		{"down undone before delay_down: never taken out", true, 0, 300, []step{{0, no, true}, {100, yes, true}, {1000, nil, true}}},
		{"delay_up 0 with delay_down", false, 0, 300, []step{{0, yes, true}, {10, no, true}, {310, nil, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newLinkHold(tc.start, ms(tc.up), ms(tc.down))
			if h.used != tc.start {
				t.Fatalf("start: used %v", h.used)
			}
			for i, s := range tc.steps {
				was := h.used
				var changed bool
				if s.up != nil {
					changed = h.observe(*s.up, ms(s.at))
				} else {
					changed = h.expire(ms(s.at))
				}
				if h.used != s.used || changed != (was != h.used) {
					t.Fatalf("step %d (%d ms): used %v (changed %v), want %v", i, s.at, h.used, changed, s.used)
				}
				if due, ok := h.next(); ok && due <= ms(s.at) {
					t.Fatalf("step %d: a change due at %d is still pending at %d", i, due, ms(s.at))
				}
			}
		})
	}
}
