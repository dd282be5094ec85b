//go:build linux

package main

import (
	"slices"
)

// Where the probe was reordered, from the kernel timestamps of the wire
// observers at the switch's ports facing the members (its arrival from
// the team) and at the receiver's interface (its departure from the
// switch):
//
//   - before the switch: a datagram arriving at the switch after a higher
//     sequence number had (the VM's stack, the team);
//   - in the switch: in order at the switch's ports, out of order at the
//     receiver's interface.
//
// For a datagram s reordered in the switch, the first later datagram x
// that overtook it on the other port tells what gap would have prevented
// it: s spent d(s) in the switch, x spent d(x), and x arrived at the
// switch g after s. x overtook s because g < d(s) - d(x): a flowlet gap of
// at least d(s) - d(x) (the switch's delay difference between the two
// ports at that moment) would have kept x behind s. hopStats gives the
// distribution of that needed gap, and the switch's delay itself.
type hopStats struct {
	// ReorderedBeforeSwitch and ReorderedInSwitch count datagrams out of
	// order at the switch's ingress, and in order there but out of order
	// at the receiver's interface.
	ReorderedBeforeSwitch uint64 `json:"reordered_before_switch"`
	ReorderedInSwitch     uint64 `json:"reordered_in_switch"`
	// NeededGapUS: the gap each in-switch reordering needed (above),
	// quantiles in µs, over those for which an overtaker on the other
	// port was seen.
	NeededGapUS *quantiles `json:"needed_gap_us"`
	// SwitchDelayUS: from a member's switch port to the receiver's
	// interface, every datagram seen at both.
	SwitchDelayUS *quantiles `json:"switch_delay_us"`
}

type quantiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func quantilesOf(v []float64) *quantiles {
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	at := func(q float64) float64 { return round(v[min(len(v)-1, int(q*float64(len(v))))], 0) }
	return &quantiles{N: len(v), P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: round(v[len(v)-1], 0)}
}

// overtakeWindow bounds how far ahead the search for an overtaker goes
// (datagrams; the bench's probes were seen reordered by up to ~700).
const overtakeWindow = 4096

// hops compares the probe's sightings at the switch (sw, one member per
// port) and at the receiver's interface (rcv).
func hops(sw, rcv *wireStats) hopStats {
	var h hopStats
	order := func(st *wireStats) []int {
		var seqs []int
		for s, ok := range st.probeSeen {
			if ok {
				seqs = append(seqs, s)
			}
		}
		slices.SortStableFunc(seqs, func(a, b int) int {
			switch {
			case st.probeAt[a] < st.probeAt[b]:
				return -1
			case st.probeAt[a] > st.probeAt[b]:
				return 1
			}
			return 0
		})
		return seqs
	}
	outOfOrder := func(seqs []int, count func(int)) {
		hi := -1
		for _, s := range seqs {
			if s < hi {
				count(s)
			}
			hi = max(hi, s)
		}
	}
	early := map[int]bool{}
	outOfOrder(order(sw), func(s int) { h.ReorderedBeforeSwitch++; early[s] = true })
	seen := func(st *wireStats, s int) bool { return s < len(st.probeSeen) && st.probeSeen[s] }
	var need, delay []float64
	for s := range rcv.probeSeen {
		if seen(rcv, s) && seen(sw, s) {
			delay = append(delay, float64(rcv.probeAt[s]-sw.probeAt[s])/1e3)
		}
	}
	outOfOrder(order(rcv), func(s int) {
		if early[s] {
			return
		}
		h.ReorderedInSwitch++
		if !seen(sw, s) {
			return
		}
		for x := s + 1; x < s+overtakeWindow && x < len(rcv.probeSeen); x++ {
			if seen(rcv, x) && seen(sw, x) && rcv.probeAt[x] < rcv.probeAt[s] && sw.probeOn[x] != sw.probeOn[s] {
				ds, dx := rcv.probeAt[s]-sw.probeAt[s], rcv.probeAt[x]-sw.probeAt[x]
				need = append(need, float64(ds-dx)/1e3)
				return
			}
		}
	})
	h.NeededGapUS, h.SwitchDelayUS = quantilesOf(need), quantilesOf(delay)
	return h
}
