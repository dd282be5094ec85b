//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// bench/results.json is one object:
//
//	{"rows":     [Result...]         the table of docs/contract.md §6, as before (see Result)
//	 "balance":  [BalanceResult...]  section balance
//	 "reorder":  [ReorderResult...]  section reorder
//	 "reload":   [ReloadResult...]   section reload
//	 "measured": {"rows": time, "balance": time, ...}  when each key was measured (RFC 3339)}
//
// Until the sections were added the file was the "rows" array alone; a
// file in that form is still read (as "rows"). A run measures some keys
// (-only picks rows and sections by name); the keys it did not measure are
// carried over from the file as it was, with their "measured" time, so
// that `-only reload` does not erase the rows. A key measured by this run
// is replaced entirely, exactly as the array was before. A key never
// measured is [].
type resultsFile struct {
	Rows     json.RawMessage   `json:"rows"`
	Balance  json.RawMessage   `json:"balance"`
	Reorder  json.RawMessage   `json:"reorder"`
	Reload   json.RawMessage   `json:"reload"`
	Measured map[string]string `json:"measured"`
}

// sectionResults are what the sections of this run measured; a nil slice
// is a section that did not run.
type sectionResults struct {
	Balance []BalanceResult
	Reorder []ReorderResult
	Reload  []ReloadResult
}

// BalanceResult is one cell of the balance table: flows × algorithm.
//
//	"algorithm":       address-hash | dynamic (mode static, hash [ipv4, l4])
//	"flowlet_gap":     dynamic's flowlet_gap: 500us (fixed) or auto; "" otherwise
//	"flows":           iperf3 -P flows from the VM (plus iperf3's control connection)
//	"seconds":         length of each run
//	"imbalance":       mean over runs of (max-min)/mean of the members'
//	                   tx_bytes (ctl state before/after the run): 0 is even,
//	                   2 is everything on one of two members
//	"imbalance_max":   the worst run
//	"tcp_gbps":        mean iperf3 throughput, received
//	"wire_moves":      mean per run of the flows' member changes seen at the switch
//	"daemon_moves":    mean per run of the balancer's own move count, null
//	                   when ctl state does not carry one
//	"runs":            each run: tx_bytes per member, imbalance, tcp_gbps,
//	                   retransmits, wire_flows (flows seen at the switch),
//	                   wire_flows_on_both (seen on both members), wire_moves,
//	                   wire_dropped (frames the observer missed), daemon_moves,
//	                   daemon_refused (flowlet_moves_refused: auto kept a flowlet)
//	"notes":           errors, caveats
type BalanceResult struct {
	Algorithm    string       `json:"algorithm"`
	FlowletGap   string       `json:"flowlet_gap"`
	Flows        int          `json:"flows"`
	Seconds      float64      `json:"seconds"`
	Imbalance    *float64     `json:"imbalance"`
	ImbalanceMax *float64     `json:"imbalance_max"`
	TCPGbps      *float64     `json:"tcp_gbps"`
	WireMoves    *float64     `json:"wire_moves"`
	DaemonMoves  *float64     `json:"daemon_moves"`
	Runs         []BalanceRun `json:"runs"`
	Notes        string       `json:"notes"`
}

// BalanceRun is one iperf3 run of a BalanceResult.
type BalanceRun struct {
	TxBytes         map[string]uint64 `json:"tx_bytes"`
	Imbalance       float64           `json:"imbalance"`
	TCPGbps         float64           `json:"tcp_gbps"`
	Retransmits     int64             `json:"retransmits"`
	WireFlows       int               `json:"wire_flows"`
	WireFlowsOnBoth int               `json:"wire_flows_on_both"`
	WireMoves       uint64            `json:"wire_moves"`
	WireDropped     uint64            `json:"wire_dropped"`
	DaemonMoves     *uint64           `json:"daemon_moves"`
	DaemonRefused   *uint64           `json:"daemon_refused"`
}

func (r BalanceRun) summary() string {
	var parts []string
	for _, m := range labMembers {
		parts = append(parts, fmt.Sprintf("%s %s", m, fmtBytes(r.TxBytes[m])))
	}
	return fmt.Sprintf("imbalance %.3f (%s), %.2f Gbit/s, %d retransmits, %d flows on the wire, %d on both members, %d moves",
		r.Imbalance, strings.Join(parts, ", "), r.TCPGbps, r.Retransmits, r.WireFlows, r.WireFlowsOnBoth, r.WireMoves)
}

func (c *BalanceResult) note(format string, args ...any) { c.Notes = addNote(c.Notes, format, args...) }

// summarize fills the cell's means from its runs.
func (c *BalanceResult) summarize() {
	if len(c.Runs) == 0 {
		return
	}
	c.Imbalance = roundp(meanOf(c.Runs, func(r BalanceRun) float64 { return r.Imbalance }), 3)
	worst := 0.0
	for _, r := range c.Runs {
		worst = max(worst, r.Imbalance)
	}
	c.ImbalanceMax = &worst
	c.TCPGbps = roundp(meanOf(c.Runs, func(r BalanceRun) float64 { return r.TCPGbps }), 3)
	c.WireMoves = roundp(meanOf(c.Runs, func(r BalanceRun) float64 { return float64(r.WireMoves) }), 1)
	var dm []float64
	for _, r := range c.Runs {
		if r.DaemonMoves != nil {
			dm = append(dm, float64(*r.DaemonMoves))
		}
	}
	if len(dm) == len(c.Runs) {
		c.DaemonMoves = roundp(meanOf(dm, func(v float64) float64 { return v }), 1)
	}
	var dropped uint64
	for _, r := range c.Runs {
		dropped += r.WireDropped
	}
	if dropped > 0 {
		c.note("wire observer dropped %d frames: wire_moves is low", dropped)
	}
}

// ReorderResult is one algorithm of the reorder section.
//
//	"algorithm":        dynamic | address-hash (mode static, hash [ipv4, l4])
//	"flowlet_gap":      dynamic's gap: 500us (fixed) or auto; "" otherwise
//	"seconds":          length of the probe
//	"probe_pps", "probe_bytes": the probe's rate and UDP payload
//	"load":             "saturating" (iperf3 unpaced: the path is full and
//	                    drops) or "1 Gbit/s" (8 flows paced at 125 Mbit/s each)
//	"load_flows":       competing iperf3 TCP flows from the VM, running from a
//	                    second before the probe to a second after
//	"probe":            the probe's counts (ProbeCounts): sent, received,
//	                    lost, duplicated, reordered (arrivals below the highest
//	                    sequence number already received), max_displacement,
//	                    send_errors, loss_runs (the first runs of lost
//	                    sequence numbers with their send time)
//	"probe_on_wire":    the probe's datagrams seen arriving at the switch
//	                    from the members (the observer may miss some: notes)
//	"loss":             {"sent", "lost_before_switch", "lost_in_switch",
//	                    "lost_at_receiver"}: where the probe's lost datagrams
//	                    were lost, by AF_PACKET observers on the switch's ports
//	                    facing the members and on the receiver's interface:
//	                    never seen at the switch (the VM's veth or the team),
//	                    seen there but not at the receiver (OVS), seen at the
//	                    receiver but not read from its socket
//	"probe_moves":      the probe's member changes seen at the switch
//	"load_moves":       the TCP flows' member changes seen at the switch
//	"load_tcp_gbps", "load_retransmits": the competing load's iperf3 sums
//	"daemon_moves":     the balancer's own move count, null when ctl state
//	                    does not carry one
//	"daemon_refused":   flowlet_moves_refused: flowlets auto kept on their
//	                    member because its queue was still longer
//	"team_tx_dropped":  the team's transmit drops during the run (members'
//	                    tx_dropped + tx_dropped_no_member)
//	"hops":             where the probe was reordered (hopStats, bench/hops.go):
//	                    reordered_before_switch (out of order arriving at the
//	                    switch: the team's doing), reordered_in_switch (in order
//	                    there, out of order at the receiver's interface),
//	                    needed_gap_us (quantiles of the flowlet gap that would
//	                    have prevented each in-switch reordering: the switch's
//	                    delay difference between its two ports at the time),
//	                    switch_delay_us (quantiles of the probe's time from a
//	                    member's switch port to the receiver's interface)
//	"notes"
type ReorderResult struct {
	Algorithm       string       `json:"algorithm"`
	FlowletGap      string       `json:"flowlet_gap"`
	Seconds         float64      `json:"seconds"`
	ProbePPS        int          `json:"probe_pps"`
	ProbeBytes      int          `json:"probe_bytes"`
	Load            string       `json:"load"`
	LoadFlows       int          `json:"load_flows"`
	Probe           *ProbeCounts `json:"probe"`
	ProbeOnWire     *uint64      `json:"probe_on_wire"`
	Loss            *lossSplit   `json:"loss"`
	ProbeMoves      *int         `json:"probe_moves"`
	LoadMoves       *uint64      `json:"load_moves"`
	LoadGbps        *float64     `json:"load_tcp_gbps"`
	LoadRetransmits *int64       `json:"load_retransmits"`
	DaemonMoves     *uint64      `json:"daemon_moves"`
	DaemonRefused   *uint64      `json:"daemon_refused"`
	TeamTxDropped   *uint64      `json:"team_tx_dropped"`
	Hops            *hopStats    `json:"hops"`
	Notes           string       `json:"notes"`
}

func (r *ReorderResult) note(format string, args ...any) { r.Notes = addNote(r.Notes, format, args...) }

func (r *ReorderResult) summary() string {
	s := "probe: -"
	if r.Probe != nil {
		s = "probe: " + r.Probe.String()
	}
	return fmt.Sprintf("%s; probe moves %s, load moves %s, load %s Gbit/s; %s; %s",
		s, fmtIntp(r.ProbeMoves), fmtU64(r.LoadMoves), fmtFloat(r.LoadGbps, 2), r.Hops.String(), r.Notes)
}

func (h *hopStats) String() string {
	if h == nil {
		return "hops: -"
	}
	return fmt.Sprintf("reordered before/in switch %d/%d, gap needed µs %s, switch delay µs %s",
		h.ReorderedBeforeSwitch, h.ReorderedInSwitch, h.NeededGapUS, h.SwitchDelayUS)
}

func (q *quantiles) String() string {
	if q == nil {
		return "-"
	}
	return fmt.Sprintf("p50/p90/p99/max %.0f/%.0f/%.0f/%.0f (n %d)", q.P50, q.P90, q.P99, q.Max, q.N)
}

// ReloadResult is one run of the reload section.
//
//	"run":              baseline (no reload) | reloads
//	"seconds":          length of the probe; reloads at 1..12 × seconds/13
//	"probe_pps", "probe_bytes": the probe's rate and UDP payload
//	"reloads":          reloads asked for (ctl reload after rewriting the file)
//	"sequence":         the balance of each reload, in order, from address-hash
//	"reload_at":        when each reload was issued, seconds on the probe's
//	                    clock (baseline: when it would have been)
//	"reloads_ok", "reloads_failed": the daemon's counters over the run
//	"probe":            the probe's counts (see ReorderResult)
//	"probe_on_wire", "loss": as in ReorderResult
//	"near_reloads":     "loss" of the datagrams sent within 300ms after each
//	                    reload_at (sent is their number)
//	"by_balance":       [{"balance", "sent", "lost_before_switch", ...}]:
//	                    "loss" by the balance in force when each datagram was
//	                    sent
//	"team_tx_dropped":  the team's transmit drops during the run
//	"notes"
type ReloadResult struct {
	Run           string        `json:"run"`
	Seconds       float64       `json:"seconds"`
	ProbePPS      int           `json:"probe_pps"`
	ProbeBytes    int           `json:"probe_bytes"`
	Reloads       int           `json:"reloads"`
	Sequence      []string      `json:"sequence"`
	ReloadAt      []float64     `json:"reload_at"`
	ReloadsOK     *uint64       `json:"reloads_ok"`
	ReloadsFailed *uint64       `json:"reloads_failed"`
	Probe         *ProbeCounts  `json:"probe"`
	ProbeOnWire   *uint64       `json:"probe_on_wire"`
	Loss          *lossSplit    `json:"loss"`
	NearReloads   *lossSplit    `json:"near_reloads"`
	ByBalance     []BalanceLoss `json:"by_balance"`
	TeamTxDropped *uint64       `json:"team_tx_dropped"`
	Notes         string        `json:"notes"`
}

// BalanceLoss is the probe's loss while one balance was in force.
type BalanceLoss struct {
	Balance string `json:"balance"`
	lossSplit
}

func (r *ReloadResult) note(format string, args ...any) { r.Notes = addNote(r.Notes, format, args...) }

func (r *ReloadResult) summary() string {
	s := "probe: -"
	if r.Probe != nil {
		s = "probe: " + r.Probe.String()
	}
	return fmt.Sprintf("%s; reloads ok %s failed %s; %s", s, fmtU64(r.ReloadsOK), fmtU64(r.ReloadsFailed), r.Notes)
}

func addNote(notes, format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if notes == "" {
		return s
	}
	return notes + "; " + s
}

func printBalance(w io.Writer, cells []BalanceResult) {
	if cells == nil {
		return
	}
	fmt.Fprintln(w, "\nbalance: static team, 2 members, OVS balance-slb bond; imbalance = (max-min)/mean of member tx bytes (0 even, 2 all on one)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOWS\tALGORITHM\tGAP\tIMBALANCE mean\tmax\tRUNS\tTCP Gbit/s\tWIRE MOVES/run\tDAEMON MOVES/run\tNOTES")
	for _, n := range balanceFlows {
		for _, c := range cells {
			if c.Flows != n {
				continue
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Flows, c.Algorithm, or(c.FlowletGap, "-"), fmtFloat(c.Imbalance, 3),
				fmtFloat(c.ImbalanceMax, 3), len(c.Runs), fmtFloat(c.TCPGbps, 2), fmtFloat(c.WireMoves, 1),
				fmtFloat(c.DaemonMoves, 1), c.Notes)
		}
	}
	_ = tw.Flush()
}

func printReorder(w io.Writer, rs []ReorderResult) {
	if rs == nil {
		return
	}
	fmt.Fprintln(w, "\nreorder: sequence-numbered UDP probe from the VM under competing TCP load")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOAD\tALGORITHM\tGAP\tPROBE\tSENT\tREORDERED\tbefore/in switch\tGAP NEEDED µs p50/p90/p99\tMAX BEHIND\tLOST\tin team/ovs/rcv\tDUP\tPROBE MOVES\tLOAD Gbit/s\tLOAD MOVES\tREFUSED\tNOTES")
	for _, r := range rs {
		sent, reord, disp, lost, dup := "-", "-", "-", "-", "-"
		if p := r.Probe; p != nil {
			sent, reord, disp, lost, dup = fmt.Sprint(p.Sent), pct(p.Reordered, p.Sent), fmt.Sprint(p.MaxDisplacement), pct(p.Lost, p.Sent), fmt.Sprint(p.Duplicated)
		}
		where, need := "-", "-"
		if h := r.Hops; h != nil {
			where = fmt.Sprintf("%d/%d", h.ReorderedBeforeSwitch, h.ReorderedInSwitch)
			if q := h.NeededGapUS; q != nil {
				need = fmt.Sprintf("%.0f/%.0f/%.0f", q.P50, q.P90, q.P99)
			}
		}
		fmt.Fprintf(tw, "%d TCP %s\t%s\t%s\t%d/s x %dB, %.0fs\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.LoadFlows, r.Load,
			r.Algorithm, or(r.FlowletGap, "-"), r.ProbePPS, r.ProbeBytes, r.Seconds, sent, reord, where, need, disp, lost, fmtSplit(r.Loss),
			dup, fmtIntp(r.ProbeMoves), fmtFloat(r.LoadGbps, 2), fmtU64(r.LoadMoves), fmtU64(r.DaemonRefused), r.Notes)
	}
	_ = tw.Flush()
}

func printReload(w io.Writer, rs []ReloadResult) {
	if rs == nil {
		return
	}
	fmt.Fprintln(w, "\nreload: sequence-numbered UDP probe from the VM, alone; balance switched by ctl reload")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tPROBE\tRELOADS ok/asked\tSENT\tLOST\tin team/ovs/rcv\t<300ms AFTER RELOADS: sent\tlost team/ovs/rcv\tDUP\tREORDERED\tTEAM TX DROPS\tNOTES")
	for _, r := range rs {
		sent, lost, dup, reord := "-", "-", "-", "-"
		if p := r.Probe; p != nil {
			sent, lost, dup, reord = fmt.Sprint(p.Sent), pct(p.Lost, p.Sent), fmt.Sprint(p.Duplicated), fmt.Sprint(p.Reordered)
		}
		nearSent := "-"
		if r.NearReloads != nil {
			nearSent = fmt.Sprint(r.NearReloads.Sent)
		}
		fmt.Fprintf(tw, "%s\t%d/s x %dB, %.0fs\t%s/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Run, r.ProbePPS, r.ProbeBytes, r.Seconds,
			fmtU64(r.ReloadsOK), r.Reloads, sent, lost, fmtSplit(r.Loss), nearSent, fmtSplit(r.NearReloads), dup, reord,
			fmtU64(r.TeamTxDropped), r.Notes)
	}
	_ = tw.Flush()
	for _, r := range rs {
		if len(r.Sequence) > 0 {
			fmt.Fprintf(w, "reload sequence: address-hash -> %s\n", strings.Join(r.Sequence, " -> "))
		}
		if len(r.ByBalance) > 0 {
			var parts []string
			for _, b := range r.ByBalance {
				parts = append(parts, fmt.Sprintf("%s %s of %d", b.Balance, fmtSplit(&b.lossSplit), b.Sent))
			}
			fmt.Fprintf(w, "%s: lost in team/ovs/receiver by balance in force: %s\n", r.Run, strings.Join(parts, ", "))
		}
		if r.Probe != nil && len(r.Probe.LossRuns) > 0 {
			fmt.Fprintf(w, "%s: first losses (seq @send time): %s\n", r.Run, strings.Join(r.Probe.LossRuns, ", "))
		}
	}
}

// pct is "n (p%)".
func pct(n, of uint64) string {
	if of == 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d (%.3f%%)", n, 100*float64(n)/float64(of))
}

func fmtSplit(l *lossSplit) string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%d/%d/%d", l.LostBeforeSwitch, l.LostInSwitch, l.LostAtReceiver)
}

func fmtU64(v *uint64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func fmtIntp(v *int) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func fmtBytes(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fGB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fMB", float64(n)/1e6)
	}
	return fmt.Sprintf("%dB", n)
}

func roundp(v *float64, prec int) *float64 {
	if v == nil {
		return nil
	}
	r := round(*v, prec)
	return &r
}

// writeResults writes path: the keys this run measured (rows when ranRows,
// a section when its slice is not nil), the others carried over from the
// file as it was.
func writeResults(path string, rows []Result, ranRows bool, sec *sectionResults) (carried []string, err error) {
	old := readResults(path)
	now := time.Now().Format(time.RFC3339)
	out := resultsFile{Measured: map[string]string{}}
	put := func(key string, dst *json.RawMessage, ran bool, v any, prev json.RawMessage) error {
		if ran {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			*dst, out.Measured[key] = b, now
			return nil
		}
		if len(prev) > 0 && !bytes.Equal(bytes.TrimSpace(prev), []byte("null")) {
			*dst = prev
			if t, ok := old.Measured[key]; ok {
				out.Measured[key] = t
			}
			carried = append(carried, key)
			return nil
		}
		*dst = json.RawMessage("[]")
		return nil
	}
	if rows == nil {
		rows = []Result{}
	}
	for _, k := range []struct {
		key  string
		dst  *json.RawMessage
		ran  bool
		v    any
		prev json.RawMessage
	}{
		{"rows", &out.Rows, ranRows, rows, old.Rows},
		{"balance", &out.Balance, sec.Balance != nil, sec.Balance, old.Balance},
		{"reorder", &out.Reorder, sec.Reorder != nil, sec.Reorder, old.Reorder},
		{"reload", &out.Reload, sec.Reload != nil, sec.Reload, old.Reload},
	} {
		if err := put(k.key, k.dst, k.ran, k.v, k.prev); err != nil {
			return nil, err
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	sort.Strings(carried)
	return carried, os.WriteFile(path, append(b, '\n'), 0o644)
}

// readResults reads a results file in either form; a missing or
// unreadable file is empty.
func readResults(path string) resultsFile {
	var f resultsFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		f.Rows = b // the file before the sections: the rows array
		return f
	}
	_ = json.Unmarshal(b, &f)
	return f
}

// printFlowlet puts the balance and reorder sections of one run side by
// side, per algorithm: the mean imbalance for each flow count and the
// probe's reordering under each load (what issue 16's targets are
// stated in). Nothing is printed unless both sections ran.
func printFlowlet(w io.Writer, bs []BalanceResult, rs []ReorderResult) {
	if bs == nil || rs == nil {
		return
	}
	fmt.Fprintln(w, "\nflowlet: imbalance (mean) and probe reordering, by algorithm, this run")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "ALGORITHM\tGAP"
	for _, n := range balanceFlows {
		head += fmt.Sprintf("\tIMBALANCE %d", n)
	}
	for _, l := range reorderLoads {
		head += "\tREORDERED " + l.name + "\tGAP NEEDED p90 µs"
	}
	fmt.Fprintln(tw, head)
	for _, alg := range balanceAlgorithms {
		bal, gap := splitAlgorithm(alg)
		line := bal + "\t" + or(gap, "-")
		for _, n := range balanceFlows {
			cell := "-"
			for _, b := range bs {
				if b.Algorithm == bal && b.FlowletGap == gap && b.Flows == n && b.Imbalance != nil {
					cell = fmt.Sprintf("%.3f", *b.Imbalance)
				}
			}
			line += "\t" + cell
		}
		for _, l := range reorderLoads {
			cell, need := "-", "-"
			for _, r := range rs {
				if r.Algorithm == bal && r.FlowletGap == gap && r.Load == l.name && r.Probe != nil {
					cell = pct(r.Probe.Reordered, r.Probe.Sent)
					if r.Hops != nil && r.Hops.NeededGapUS != nil {
						need = fmt.Sprintf("%.0f", r.Hops.NeededGapUS.P90)
					}
				}
			}
			line += "\t" + cell + "\t" + need
		}
		fmt.Fprintln(tw, line)
	}
	_ = tw.Flush()
}
