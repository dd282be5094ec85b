//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/team"
)

// Sections are measurements of the team itself that run after the rows
// (all of them when -only is not given, or those named in -only), each in
// its own teamLab, torn down before the next:
//
//   - balance: how evenly a static team spreads 2, 8 and 64 concurrent
//     TCP flows (iperf3 -P N from the VM) over its two members, under
//     address-hash and dynamic (hash [ipv4, l4]) with flowlet_gap 500us
//     (the old fixed default), auto (the default) and 20ms:
//     imbalance = (max-min)/mean of the members' tx_bytes (ctl state
//     before and after), and the flows' member changes seen on the wire.
//   - reorder: a sequence-numbered UDP probe from the VM while iperf3
//     TCP flows compete for the members, under dynamic with flowlet_gap
//     500us, auto and 20ms and under address-hash for reference: datagrams
//     out of order, lost, duplicated, how often the probe changed member,
//     and where it was reordered (before or in the switch, and the gap
//     each reordering would have needed: hops.go).
//   - reload: the same probe, alone, once with no reload (baseline) and
//     once while the balance is switched 12 times with `ctl reload`.
type section struct {
	name string
	run  func(ctx context.Context, b *testbed.Bed, o *options, res *sectionResults)
}

func allSections() []section {
	return []section{
		{"balance", runBalance},
		{"reorder", runReorder},
		{"reload", runReload},
	}
}

func (s section) named() string { return s.name }

// Parameters of the sections.
var (
	balanceFlows = []int{2, 8, 64}
	// Algorithms are balance names, dynamic with its flowlet_gap after a
	// slash: the old fixed default, auto (the default now), and a fixed
	// 20ms: the gap that, measured at the switch (hops.go), would have
	// prevented 95-100% of the reorderings Open vSwitch's userspace
	// datapath made on the loaded development machine, for what that
	// costs in balance.
	balanceAlgorithms = []string{"address-hash", "dynamic/500us", "dynamic/auto", "dynamic/20ms"}
	reorderAlgorithms = []string{"dynamic/500us", "dynamic/auto", "dynamic/20ms", "address-hash"}
	// reorderLoads are the competing loads: as fast as TCP goes (the
	// path saturates and drops), and paced below what the path carries.
	reorderLoads = []struct{ name, perFlow string }{
		{"saturating", ""},
		{"1 Gbit/s", "125M"},
	}
	// reloadCycle is the order the reload section switches balances in,
	// starting from address-hash: every algorithm a static team accepts
	// except hyperv-port, three times round.
	reloadCycle = []string{"dynamic", "round-robin", "active-backup", "address-hash"}
)

const (
	reloadCount = 12
	// A lost datagram scheduled within [reload, reload+reloadWindow]
	// counts as lost near a reload (the window covers starting the ctl
	// command and applying the new configuration).
	reloadWindow = 300 * time.Millisecond
	reorderLoad  = 8    // competing TCP flows in the reorder section
	probePayload = 1200 // UDP payload bytes of the probe
)

// splitAlgorithm splits "dynamic/auto" into the balance and its
// flowlet_gap ("" for other algorithms).
func splitAlgorithm(alg string) (balance, gap string) {
	balance, gap, _ = strings.Cut(alg, "/")
	return balance, gap
}

// setupFailed describes a lab that could not be built or started.
func setupFailed(ctx context.Context, err error) string {
	var u *unavailable
	switch {
	case errors.As(err, &u):
		return "not available: " + u.reason
	case ctx.Err() != nil:
		return "setup: interrupted"
	}
	return "setup: " + err.Error()
}

// runBalance measures the imbalance cells, restarting the daemon for each
// algorithm (so neither inherits the other's state).
func runBalance(ctx context.Context, b *testbed.Bed, o *options, res *sectionResults) {
	mark := b.Depth()
	defer b.UnwindTo(mark)
	fail := func(note string) {
		for _, alg := range balanceAlgorithms {
			for _, n := range balanceFlows {
				bal, gap := splitAlgorithm(alg)
				res.Balance = append(res.Balance, BalanceResult{Algorithm: bal, FlowletGap: gap, Flows: n, Runs: []BalanceRun{}, Notes: note})
			}
		}
	}
	l, err := buildTeamLab(ctx, b, o, "balance")
	if err != nil {
		fail(setupFailed(ctx, err))
		return
	}
	secs := seconds(o.sectionDuration)
	for _, alg := range balanceAlgorithms {
		if ctx.Err() != nil {
			return
		}
		bal, gap := splitAlgorithm(alg)
		if err := l.start(ctx, alg); err != nil {
			note := setupFailed(ctx, err)
			for _, n := range balanceFlows {
				res.Balance = append(res.Balance, BalanceResult{Algorithm: bal, FlowletGap: gap, Flows: n, Runs: []BalanceRun{}, Notes: note})
			}
			continue
		}
		for _, n := range balanceFlows {
			cell := BalanceResult{Algorithm: bal, FlowletGap: gap, Flows: n, Seconds: float64(secs), Runs: []BalanceRun{}}
			for i := 0; i < o.balanceRuns && ctx.Err() == nil; i++ {
				logf("   balance %s, %d flows, run %d/%d, %ds", alg, n, i+1, o.balanceRuns, secs)
				r, err := balanceRun(ctx, b, o, l, n, secs)
				if err != nil {
					cell.note("run %d: %v", i+1, err)
					continue
				}
				cell.Runs = append(cell.Runs, r)
				logf("   %s", r.summary())
			}
			cell.summarize()
			if bal == "dynamic" && cell.DaemonMoves == nil {
				cell.note("the daemon's flowlet-move count is not in ctl state; wire_moves is what the switch saw")
			}
			res.Balance = append(res.Balance, cell)
		}
	}
	l.stop()
}

// balanceRun is one iperf3 -P n run with the counters read around it.
func balanceRun(ctx context.Context, b *testbed.Bed, o *options, l *teamLab, n, secs int) (BalanceRun, error) {
	var r BalanceRun
	mark := b.Depth()
	defer b.UnwindTo(mark)
	s0, err := l.state()
	if err != nil {
		return r, err
	}
	w, err := startWire(l.sw, srcIP, nil, labSwitchPs...)
	if err != nil {
		return r, err
	}
	ip, err := startIperf(ctx, b, o, l.p, secs, "-P", strconv.Itoa(n))
	var ir iperfResult
	if err == nil {
		ir, err = ip.wait(ctx)
	}
	ws := w.finish()
	if err != nil {
		return r, err
	}
	s1, err := l.state()
	if err != nil {
		return r, err
	}
	r.TxBytes = map[string]uint64{}
	b0, b1 := txBytes(s0), txBytes(s1)
	var v []float64
	for _, m := range labMembers {
		r.TxBytes[m] = b1[m] - b0[m]
		v = append(v, float64(r.TxBytes[m]))
	}
	imb, ok := imbalance(v)
	if !ok {
		return r, errors.New("the members sent nothing")
	}
	r.Imbalance = round(imb, 3)
	r.TCPGbps, r.Retransmits = round(ir.gbps, 3), ir.retransmits
	r.WireFlows, r.WireFlowsOnBoth, r.WireMoves = ws.flows, ws.both, ws.moves
	r.WireDropped = ws.dropped
	d := s1.Counters.FlowletMoves - s0.Counters.FlowletMoves
	r.DaemonMoves = &d
	rf := s1.Counters.FlowletMovesRefused - s0.Counters.FlowletMovesRefused
	r.DaemonRefused = &rf
	if ws.err != nil {
		return r, ws.err
	}
	return r, nil
}

// imbalance is (max-min)/mean.
func imbalance(v []float64) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	lo, hi, sum := v[0], v[0], 0.0
	for _, x := range v {
		lo, hi, sum = min(lo, x), max(hi, x), sum+x
	}
	if sum == 0 {
		return 0, false
	}
	return (hi - lo) / (sum / float64(len(v))), true
}

// runReorder runs the probe under competing TCP load for each algorithm.
func runReorder(ctx context.Context, b *testbed.Bed, o *options, res *sectionResults) {
	mark := b.Depth()
	defer b.UnwindTo(mark)
	secs := seconds(2 * o.sectionDuration)
	l, lerr := buildTeamLab(ctx, b, o, "reorder")
	for _, load := range reorderLoads {
		for _, alg := range reorderAlgorithms {
			if ctx.Err() != nil {
				return
			}
			bal, gap := splitAlgorithm(alg)
			r := ReorderResult{Algorithm: bal, FlowletGap: gap, Seconds: float64(secs), ProbePPS: o.probePPS, ProbeBytes: probePayload,
				Load: load.name, LoadFlows: reorderLoad}
			err := lerr
			if err == nil {
				// A fresh daemon: no flow table or load estimate carried over.
				err = l.start(ctx, alg)
			}
			if err != nil {
				r.note("%s", setupFailed(ctx, err))
				res.Reorder = append(res.Reorder, r)
				continue
			}
			logf("   reorder %s: probe %d/s x %dB for %ds under %d TCP flows (%s)", alg, o.probePPS, probePayload, secs, reorderLoad, load.name)
			reorderRun(ctx, b, o, l, secs, load.perFlow, &r)
			logf("   %s", r.summary())
			res.Reorder = append(res.Reorder, r)
		}
	}
	if l != nil {
		l.stop()
	}
}

// probe reads the team's state before a probe run, then opens the VM's
// probe to the receiver and a wire observer at each end: the switch's
// ports facing the members, and the receiver's interface. Call finish on
// all three.
func (l *teamLab) probe(o *options) (s0 team.State, pr *probe, atSwitch, atReceiver *wireObserver, err error) {
	if s0, err = l.state(); err != nil {
		return s0, nil, nil, nil, fmt.Errorf("state: %w", err)
	}
	if pr, err = openProbe(l.vm, srcIP, l.rcv, dstIP, o.probePPS, probePayload); err != nil {
		return s0, nil, nil, nil, err
	}
	if atSwitch, err = startWire(l.sw, srcIP, pr, labSwitchPs...); err != nil {
		pr.close()
		return s0, nil, nil, nil, err
	}
	if atReceiver, err = startWire(l.rcv, srcIP, pr, "eth0"); err != nil {
		pr.close()
		atSwitch.finish()
		return s0, nil, nil, nil, err
	}
	return s0, pr, atSwitch, atReceiver, nil
}

func reorderRun(ctx context.Context, b *testbed.Bed, o *options, l *teamLab, secs int, perFlow string, r *ReorderResult) {
	mark := b.Depth()
	defer b.UnwindTo(mark)
	s0, pr, w, wr, err := l.probe(o)
	if err != nil {
		r.note("%v", err)
		return
	}
	// The load runs a second before and after the probe.
	args := []string{"-P", strconv.Itoa(reorderLoad)}
	if perFlow != "" {
		args = append(args, "-b", perFlow)
	}
	ip, err := startIperf(ctx, b, o, l.p, secs+2, args...)
	if err != nil {
		pr.close()
		w.finish()
		wr.finish()
		r.note("load: %v", err)
		return
	}
	testbed.Sleep(ctx, time.Second)
	pr.run()
	testbed.Sleep(ctx, time.Duration(secs)*time.Second)
	pc := pr.finish()
	r.Probe = &pc
	ir, ierr := ip.wait(ctx)
	ws, wrs := w.finish(), wr.finish()
	if ierr != nil {
		r.note("load: %v", ierr)
	} else {
		g := round(ir.gbps, 3)
		r.LoadGbps, r.LoadRetransmits = &g, &ir.retransmits
	}
	sport, dport := pr.ports()
	pk := flowKey(17, sport, dport)
	pm, pw := ws.flowMoves[pk], ws.probeFrames()
	lm := ws.moves - uint64(pm)
	split := pr.split(ws.onWire, wrs.onWire, 0, time.Duration(math.MaxInt64))
	r.ProbeMoves, r.LoadMoves, r.ProbeOnWire, r.Loss = &pm, &lm, &pw, &split
	if ws.dropped+wrs.dropped > 0 {
		r.note("wire observers dropped %d frames: move counts low, loss placed early", ws.dropped+wrs.dropped)
	}
	for _, err := range []error{ws.err, wrs.err} {
		if err != nil {
			r.note("%v", err)
		}
	}
	if s1, err := l.state(); err == nil {
		m := s1.Counters.FlowletMoves - s0.Counters.FlowletMoves
		r.DaemonMoves = &m
		rf := s1.Counters.FlowletMovesRefused - s0.Counters.FlowletMovesRefused
		r.DaemonRefused = &rf
		d := txDropped(s1) - txDropped(s0)
		r.TeamTxDropped = &d
	}
	h := hops(&ws, &wrs)
	r.Hops = &h
}

// runReload measures the probe's loss without and with reloads.
func runReload(ctx context.Context, b *testbed.Bed, o *options, res *sectionResults) {
	mark := b.Depth()
	defer b.UnwindTo(mark)
	every := o.reloadEvery
	length := time.Duration(reloadCount+1) * every
	var seq []string
	for i := 0; i < reloadCount; i++ {
		seq = append(seq, reloadCycle[i%len(reloadCycle)])
	}
	runs := []ReloadResult{
		{Run: "baseline", Reloads: 0, Sequence: []string{}},
		{Run: "reloads", Reloads: reloadCount, Sequence: seq},
	}
	for i := range runs {
		runs[i].Seconds, runs[i].ProbePPS, runs[i].ProbeBytes = length.Seconds(), o.probePPS, probePayload
	}
	l, err := buildTeamLab(ctx, b, o, "reload")
	if err == nil {
		err = l.start(ctx, "address-hash")
	}
	if err != nil {
		for i := range runs {
			runs[i].note("%s", setupFailed(ctx, err))
		}
		res.Reload = append(res.Reload, runs...)
		return
	}
	for i := range runs {
		if ctx.Err() != nil {
			return
		}
		r := &runs[i]
		logf("   reload %s: probe %d/s x %dB for %v, %d reloads", r.Run, o.probePPS, probePayload, length, r.Reloads)
		reloadRun(ctx, l, o, length, every, r)
		logf("   %s", r.summary())
		res.Reload = append(res.Reload, *r)
	}
	l.stop()
}

func reloadRun(ctx context.Context, l *teamLab, o *options, length, every time.Duration, r *ReloadResult) {
	s0, pr, w, wr, err := l.probe(o)
	if err != nil {
		r.note("%v", err)
		return
	}
	pr.run()
	// The baseline counts its losses around the times the reloads would
	// be, for comparison.
	var at []time.Duration
	for i := 1; i <= reloadCount; i++ {
		at = append(at, time.Duration(i)*every)
	}
	var errs []string
	for i, alg := range r.Sequence {
		// Reload i+1 at (i+1)*every on the probe's clock.
		if !testbed.Sleep(ctx, time.Duration(i+1)*every-pr.elapsed()) {
			break
		}
		at[i] = pr.elapsed()
		if err := l.reload(alg); err != nil {
			errs = append(errs, fmt.Sprintf("reload %d (%s): %v", i+1, alg, err))
		}
	}
	testbed.Sleep(ctx, length-pr.elapsed())
	pc := pr.finish()
	ws, wrs := w.finish(), wr.finish()
	r.Probe = &pc
	pw := ws.probeFrames()
	all := pr.split(ws.onWire, wrs.onWire, 0, time.Duration(math.MaxInt64))
	var near lossSplit
	for _, t := range at {
		near.add(pr.split(ws.onWire, wrs.onWire, t, t+reloadWindow))
	}
	// By the balance in force: address-hash until the first reload, then
	// each reload's until the next (the baseline: all address-hash).
	byBalance := map[string]*lossSplit{}
	var order []string
	period := func(name string, from, to time.Duration) {
		if byBalance[name] == nil {
			byBalance[name] = &lossSplit{}
			order = append(order, name)
		}
		byBalance[name].add(pr.split(ws.onWire, wrs.onWire, from, to))
	}
	if len(r.Sequence) == 0 {
		period("address-hash", 0, time.Duration(math.MaxInt64))
	} else {
		period("address-hash", 0, at[0])
		for i, alg := range r.Sequence {
			end := time.Duration(math.MaxInt64)
			if i+1 < len(at) {
				end = at[i+1]
			}
			period(alg, at[i], end)
		}
	}
	r.ProbeOnWire, r.Loss, r.NearReloads = &pw, &all, &near
	r.ByBalance = []BalanceLoss{}
	for _, name := range order {
		r.ByBalance = append(r.ByBalance, BalanceLoss{Balance: name, lossSplit: *byBalance[name]})
	}
	r.ReloadAt = []float64{}
	for _, t := range at {
		r.ReloadAt = append(r.ReloadAt, round(t.Seconds(), 3))
	}
	if ws.dropped+wrs.dropped > 0 {
		r.note("wire observers dropped %d frames: loss placed early", ws.dropped+wrs.dropped)
	}
	for _, err := range []error{ws.err, wrs.err} {
		if err != nil {
			r.note("%v", err)
		}
	}
	if len(errs) > 0 {
		r.note("%s", strings.Join(errs, "; "))
	}
	s1, err := l.state()
	if err != nil {
		r.note("state: %v", err)
		return
	}
	ok, failed, dropped := s1.Counters.ReloadsOK-s0.Counters.ReloadsOK, s1.Counters.ReloadsFailed-s0.Counters.ReloadsFailed, txDropped(s1)-txDropped(s0)
	r.ReloadsOK, r.ReloadsFailed, r.TeamTxDropped = &ok, &failed, &dropped
	if len(r.Sequence) > 0 && s1.Balance != r.Sequence[len(r.Sequence)-1] {
		r.note("balance after the reloads is %q, want %q", s1.Balance, r.Sequence[len(r.Sequence)-1])
	}
}

// iperfRun is an iperf3 server in the receiver and a client in the
// sender, the client's JSON written to a file (-P 64 prints too much for
// a proc's output buffer).
type iperfRun struct {
	srv, cli *testbed.Proc
	log      string
	secs     int
}

type iperfResult struct {
	gbps        float64 // sum received
	retransmits int64   // sum sent
}

var iperfSeq int

// startIperf starts a server, waits until it listens, then a client for
// secs with args. Both are stopped at cleanup.
func startIperf(ctx context.Context, b *testbed.Bed, o *options, p *path, secs int, args ...string) (*iperfRun, error) {
	const port = "5201"
	srv, err := b.Start(p.rcv, "iperf3-server", nil, "iperf3", "-s", "-1", "-B", p.dstIP, "-p", port)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		out, _ := p.rcv.Run(ctx, "ss", "-Hltn", "sport = :"+port)
		if strings.TrimSpace(out) != "" {
			break
		}
		if srv.Exited() || i == 100 {
			return nil, fmt.Errorf("iperf3 server not listening: %s", srv.LastLine())
		}
		if !testbed.Sleep(ctx, 50*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	iperfSeq++
	log := filepath.Join(o.dir, fmt.Sprintf("iperf3-%d.json", iperfSeq))
	cli, err := b.Start(p.snd, "iperf3-client", nil, "iperf3", append([]string{"-c", p.dstIP, "-p", port, "-t", strconv.Itoa(secs),
		"-i", "0", "-J", "--logfile", log, "--connect-timeout", "5000"}, args...)...)
	if err != nil {
		return nil, err
	}
	return &iperfRun{srv: srv, cli: cli, log: log, secs: secs}, nil
}

func (r *iperfRun) wait(ctx context.Context) (iperfResult, error) {
	select {
	case <-r.cli.Done():
	case <-ctx.Done():
		return iperfResult{}, ctx.Err()
	case <-time.After(time.Duration(r.secs)*time.Second + 30*time.Second):
		return iperfResult{}, errors.New("iperf3 client did not finish")
	}
	b, err := os.ReadFile(r.log)
	if err != nil {
		return iperfResult{}, fmt.Errorf("iperf3: %w: %s", err, r.cli.LastLine())
	}
	var j struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Retransmits int64 `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return iperfResult{}, fmt.Errorf("iperf3 output: %w: %.200s", err, b)
	}
	if j.Error != "" {
		return iperfResult{}, fmt.Errorf("iperf3: %s", j.Error)
	}
	if err := r.cli.Err(); err != nil {
		return iperfResult{}, fmt.Errorf("iperf3: %w", err)
	}
	return iperfResult{gbps: j.End.SumReceived.BitsPerSecond / 1e9, retransmits: j.End.SumSent.Retransmits}, nil
}

func seconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

func round(v float64, prec int) float64 {
	p := math.Pow10(prec)
	return math.Round(v*p) / p
}

// mean of the runs' values picked by f; nil when there are no runs.
func meanOf[T any](runs []T, f func(T) float64) *float64 {
	if len(runs) == 0 {
		return nil
	}
	var s float64
	for _, r := range runs {
		s += f(r)
	}
	m := s / float64(len(runs))
	return &m
}
