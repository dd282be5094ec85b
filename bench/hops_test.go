//go:build linux

package main

import "testing"

// sightings builds what an observer saw: seq -> (time µs, port).
func sightings(at map[int][2]int64) *wireStats {
	st := &wireStats{}
	for s, v := range at {
		for len(st.probeSeen) <= s {
			st.probeSeen = append(st.probeSeen, false)
			st.probeAt = append(st.probeAt, 0)
			st.probeOn = append(st.probeOn, 0)
		}
		st.probeSeen[s], st.probeAt[s], st.probeOn[s] = true, v[0]*1000, uint8(v[1])
	}
	return st
}

// TestHops: a datagram overtaken in the switch by a later one from the
// other port counts in the switch, with the delay difference as the gap
// it needed; one the team already sent late counts before the switch.
func TestHops(t *testing.T) {
	sw := sightings(map[int][2]int64{
		0: {0, 0}, 1: {100, 0}, 2: {200, 1}, // 2 moves to port 1
		3: {300, 1}, 5: {400, 1}, 4: {500, 1}, // 4 is late already
	})
	rcv := sightings(map[int][2]int64{
		// 1 waits 2000µs in the switch, 2 only 50: 2 overtakes 1.
		0: {50, 0}, 2: {250, 0}, 1: {2100, 0}, 3: {2150, 0}, 5: {2200, 0}, 4: {2250, 0},
	})
	h := hops(sw, rcv)
	if h.ReorderedBeforeSwitch != 1 || h.ReorderedInSwitch != 1 {
		t.Fatalf("reordered before/in switch %d/%d, want 1/1", h.ReorderedBeforeSwitch, h.ReorderedInSwitch)
	}
	if q := h.NeededGapUS; q == nil || q.N != 1 || q.Max != 1950 {
		t.Errorf("needed gap %v, want one of 1950µs (2000 in the switch against 50)", q)
	}
	if q := h.SwitchDelayUS; q == nil || q.N != 6 || q.Max != 2000 {
		t.Errorf("switch delay %v, want 6 datagrams, at most 2000µs", q)
	}
	if e := hops(&wireStats{}, &wireStats{}); e.NeededGapUS != nil || e.SwitchDelayUS != nil || e.ReorderedInSwitch != 0 {
		t.Errorf("nothing seen: %+v", e)
	}
}
