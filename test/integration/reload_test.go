//go:build linux

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// Stream shape for the reload tests: VM -> peer is the stream the issue
// asks for; peer -> VM runs beside it so that the receive side (which
// member collects, where broadcasts are taken in) is proven hitless too.
const (
	fwdRate    = 5000 // datagrams/s VM -> peer (40 Mbit/s of 1000-byte payloads)
	revRate    = 2000 // datagrams/s peer -> VM
	streamSize = 1000
	streamRun  = 8 * time.Second // long enough for 12 reloads on a loaded machine
)

// siStep is one switch-independent configuration of the reload cycle.
type siStep struct {
	balance string
	hash    string // YAML flow list; "" leaves the default
	gap     string // flowlet_gap; "" leaves the default
	rewrite string // source_mac_rewrite; "" is auto
}

func (s siStep) String() string {
	parts := []string{s.balance}
	if s.hash != "" {
		parts = append(parts, "hash "+s.hash)
	}
	if s.gap != "" {
		parts = append(parts, "gap "+s.gap)
	}
	if s.rewrite != "" {
		parts = append(parts, "rewrite "+s.rewrite)
	}
	return strings.Join(parts, ", ")
}

func (s siStep) body(members ...string) string {
	var b strings.Builder
	b.WriteString("mode: switch-independent\nbalance: " + s.balance + "\n")
	if s.hash != "" {
		b.WriteString("hash: " + s.hash + "\n")
	}
	if s.gap != "" {
		b.WriteString("flowlet_gap: " + s.gap + "\n")
	}
	rw := s.rewrite
	if rw == "" {
		rw = "auto"
	}
	b.WriteString("source_mac_rewrite: " + rw + "\nmembers:\n")
	for _, m := range members {
		b.WriteString("  - name: " + m + "\n")
	}
	b.WriteString("vnics:\n  - name: vm1\n")
	return b.String()
}

// reloadCycle is the 12 reloads of TestReloadIsHitless: every
// switch-independent algorithm, hash fields, flowlet gaps from 50 µs
// (a flowlet per batch: the flow hops between members) to 5 ms, and
// source-MAC rewrite changes (once alone, which keeps the balancer and
// its flow tables). "never" only comes with algorithms that
// keep the VM on its home member: with a flow on the other member it
// would teach the switch the VM's MAC there, and the team rightly drops
// what comes back on a non-home member (a config mistake, not a reload
// problem).
var reloadCycle = []siStep{
	{balance: "address-hash", hash: "[eth, ipv4, l4]"},
	{balance: "dynamic", gap: "500us"},
	{balance: "active-backup"},
	{balance: "dynamic", hash: "[eth, ipv4, l4]", gap: "50us", rewrite: "always"},
	{balance: "hyperv-port", rewrite: "never"},
	{balance: "address-hash", hash: "[ipv4]", rewrite: "always"},
	{balance: "dynamic", gap: "5ms"},
	{balance: "active-backup", rewrite: "never"},
	{balance: "dynamic", hash: "[ipv4, l4]", gap: "100us", rewrite: "always"},
	{balance: "dynamic", hash: "[ipv4, l4]", gap: "100us"}, // only source_mac_rewrite changes
	{balance: "address-hash", hash: "[eth, ipv4, l4]"},
	{balance: "hyperv-port"},
}

// streams is the pair of streams through the team.
type streams struct{ fwd, rev *udpStream }

func startStreams(t *testing.T, tp *topo) streams {
	t.Helper()
	return streams{
		fwd: startUDPStream(t, "vm->peer", tp.vm, "10.77.0.1", tp.peer, "10.77.0.2", fwdRate, streamSize),
		rev: startUDPStream(t, "peer->vm", tp.peer, "10.77.0.2", tp.vm, "10.77.0.1", revRate, streamSize),
	}
}

// run is what one run of the streams measured.
type run struct {
	fwd, rev streamResult
	// ringDrops are frames the kernel received on the daemon's ports and
	// the daemon never read: its AF_PACKET rings overflowed.
	ringDrops int64
}

// starved reports whether the run lost datagrams while the daemon's
// rings overflowed: the daemon was not scheduled for longer than its
// rings hold (32 blocks retired every 2 ms, 64 ms), which this 2-core
// machine, shared with other engineers' tests, does now and then even
// to a daemon at nice -20. Such a run measures the machine, not the
// team.
func (r run) starved() bool { return (r.fwd.Lost > 0 || r.rev.Lost > 0) && r.ringDrops > 0 }

// runStreams runs both streams for at least streamRun with during called
// once they flow, and returns what they measured.
func runStreams(t *testing.T, d *daemon, during func(s streams)) run {
	t.Helper()
	before := d.rxSample(false)
	s := startStreams(t, d.tp)
	s.fwd.waitArrivalAfter(t, 0, "start")
	s.rev.waitArrivalAfter(t, 0, "start")
	if during != nil {
		during(s)
	}
	if rest := streamRun - s.fwd.Elapsed(); rest > 0 {
		time.Sleep(rest)
	}
	s.fwd.halt()
	s.rev.halt()
	r := run{fwd: s.fwd.finish(), rev: s.rev.finish()}
	var per string
	per, r.ringDrops = ringDrops(before, d.rxSample(true))
	t.Logf("streams ran %v; frames the daemon's rings dropped: %s",
		s.fwd.SentAt(s.fwd.SentSoFar()-1).Round(time.Millisecond), per)
	return r
}

// maxAttempts bounds the runs repeated because the daemon was starved.
const maxAttempts = 3

// runClean is runStreams, repeated (at most maxAttempts times in all)
// while a run lost datagrams to a starved daemon, so that what is
// compared is the team's loss. Every attempt is logged. A loss the rings
// do not account for is never repeated away. during gets the attempt
// number.
func runClean(t *testing.T, d *daemon, what string, during func(s streams, attempt int)) (r run, attempts int) {
	t.Helper()
	for attempts = 1; ; attempts++ {
		var dur func(streams)
		if during != nil {
			dur = func(s streams) { during(s, attempts) }
		}
		r = runStreams(t, d, dur)
		t.Logf("%s, attempt %d: %v", what, attempts, r.fwd)
		t.Logf("%s, attempt %d: %v", what, attempts, r.rev)
		if !r.starved() || attempts == maxAttempts {
			return r, attempts
		}
		t.Logf("%s, attempt %d: the daemon's rings dropped %d frames (not scheduled in time): measuring again",
			what, attempts, r.ringDrops)
	}
}

// ready waits until both directions work (ARP resolved, switch learned).
func (tp *topo) ready(t *testing.T) {
	t.Helper()
	pingOK(t, tp.vm, "10.77.0.2")
	pingOK(t, tp.peer, "10.77.0.1")
}

// checkNoWorse fails if got lost or duplicated more than the baseline.
func checkNoWorse(t *testing.T, what string, base, got run) {
	t.Helper()
	for _, c := range []struct {
		dir       string
		base, got streamResult
	}{{"vm->peer", base.fwd, got.fwd}, {"peer->vm", base.rev, got.rev}} {
		if c.got.Lost > c.base.Lost {
			t.Errorf("%s %s: %d datagrams lost, baseline %d (ring drops: baseline %d, this run %d):\n  %v",
				c.dir, what, c.got.Lost, c.base.Lost, base.ringDrops, got.ringDrops, c.got)
		}
		if c.got.Dups > c.base.Dups {
			t.Errorf("%s %s: %d datagrams duplicated, baseline %d:\n  %v", c.dir, what, c.got.Dups, c.base.Dups, c.got)
		}
	}
}

// ctlCode runs `teamd-go ctl` and returns its combined output and exit
// code.
func (d *daemon) ctlCode(args ...string) (string, int) {
	d.t.Helper()
	out, err := d.ctl(args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	d.t.Fatalf("ctl %v: %v", args, err)
	return "", -1
}

// dump returns the running configuration as `ctl config dump` prints it,
// parsed.
func (d *daemon) dump() *config.Config {
	d.t.Helper()
	out, err := d.ctl("config", "dump")
	if err != nil {
		d.t.Fatal(err)
	}
	c, err := config.Parse([]byte(out), "dump")
	if err != nil {
		d.t.Fatalf("ctl config dump does not parse back: %v\n%s", err, out)
	}
	c.Path = ""
	return c
}

// writeConfig replaces the daemon's config file without reloading.
func (d *daemon) writeConfig(body string) {
	d.t.Helper()
	if err := os.WriteFile(d.cfg, []byte(body), 0o644); err != nil {
		d.t.Fatal(err)
	}
}

// logCount counts the daemon's log lines with the given msg.
func (d *daemon) logCount(msg string) int {
	return strings.Count(d.proc.Output(), `msg="`+msg+`"`)
}

// shape is a state without its counters: what a rejected reload must leave
// exactly as it was.
var shape = cmp.Options{
	cmpopts.IgnoreFields(team.State{}, "Counters"),
	// TxDelayUS and a flowlet pair's GapUS are measurements (flowlet_gap
	// auto), like the counters.
	cmpopts.IgnoreFields(team.MemberState{}, "TxPackets", "RxPackets", "TxBytes", "RxBytes", "TxErrors", "TxDropped", "TxDelayUS", "PathRTTUS"),
	cmpopts.IgnoreFields(team.FlowletPair{}, "GapUS"),
	// An FDB entry lists its MAC's IPv6 addresses most recently seen
	// first: the order is the traffic's, the set is the state.
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".IPv6" },
		cmpopts.SortSlices(func(a, b string) bool { return a < b })),
	cmpopts.IgnoreFields(team.VNICState{}, "TxPackets", "RxPackets", "TxBytes", "RxBytes", "TxDropped", "DroppedSpoofed", "LearnRefused"),
}

// counterSample is one member's counters, which must never go back: a
// member whose socket was reopened would start again from zero.
type counterSample struct{ tx, rx uint64 }

type counterWatch struct {
	last map[string]counterSample
}

func (w *counterWatch) check(t *testing.T, when string, st team.State) {
	t.Helper()
	if w.last == nil {
		w.last = map[string]counterSample{}
	}
	for _, m := range st.Members {
		now := counterSample{m.TxPackets, m.RxPackets}
		if prev, ok := w.last[m.Name]; ok && (now.tx < prev.tx || now.rx < prev.rx) {
			t.Errorf("%s: member %s counters went back from tx %d rx %d to tx %d rx %d: its port was reopened",
				when, m.Name, prev.tx, prev.rx, now.tx, now.rx)
		}
		w.last[m.Name] = now
	}
}

// TestReloadIsHitless reloads the configuration 12 times under a
// bidirectional UDP stream, cycling through every switch-independent
// algorithm and its parameters, and checks that nothing is lost or
// duplicated beyond a run without reloads, that every reload took effect
// and that no member socket was reopened.
func TestReloadIsHitless(t *testing.T) {
	tp := newTopo(t)
	d := tp.start(t, tp.config(siStep{balance: "hyperv-port"}.body("m1", "m2")))
	tp.ready(t)
	d.prioritize()

	// The baseline runs the same streams on the same team for as long:
	// whatever it loses is the cost of this machine, not of a reload, and
	// is all the reload run may lose. Both are measured on a daemon that
	// was scheduled in time (runClean), so the baseline loses nothing.
	base, _ := runClean(t, d, "baseline, no reload", nil)

	var w counterWatch
	start := d.state()
	w.check(t, "before reloads", start)
	// Each step's traffic is measured between two samples: after the
	// reload that started it, once a datagram sent after that reload has
	// reached the peer (the VM's vnic goroutine handles batches in order,
	// so every batch placed by the previous configuration is counted by
	// then), and just before the next reload. What the members sent in
	// between was placed by this step's configuration alone.
	type interval struct {
		step   siStep
		m1, m2 uint64 // frames sent
	}
	var steps []interval
	measure := func(step siStep, from, to team.State) {
		iv := interval{step, to.Members[0].TxPackets - from.Members[0].TxPackets, to.Members[1].TxPackets - from.Members[1].TxPackets}
		steps = append(steps, iv)
		t.Logf("  %-60v carried m1 +%d, m2 +%d", iv.step, iv.m1, iv.m2)
	}
	got, attempts := runClean(t, d, fmt.Sprintf("%d reloads", len(reloadCycle)), func(s streams, attempt int) {
		steps = steps[:0]
		from, cur := d.state(), siStep{balance: "hyperv-port"}
		for i, step := range reloadCycle {
			time.Sleep(250 * time.Millisecond)
			measure(cur, from, d.state())
			at := s.fwd.elapsed()
			begin := time.Now()
			if err := d.reload(tp.config(step.body("m1", "m2"))); err != nil {
				t.Fatalf("reload %d (%v): %v", i+1, step, err)
			}
			took := time.Since(begin)
			s.fwd.waitArrivalAfter(t, s.fwd.sentSoFar(), fmt.Sprintf("reload %d", i+1))
			st := d.state()
			w.check(t, fmt.Sprintf("after reload %d", i+1), st)
			if st.Balance != step.balance {
				t.Errorf("reload %d: ctl state balance %q, want %q", i+1, st.Balance, step.balance)
			}
			want, err := config.Parse([]byte(tp.config(step.body("m1", "m2"))), "")
			must(t, err)
			if diff := cmp.Diff(want, d.dump(), cmpopts.IgnoreFields(config.Config{}, "Path", "Warnings")); diff != "" {
				t.Errorf("reload %d (%v): running config (-want +got):\n%s", i+1, step, diff)
			}
			t.Logf("reload %2d at +%v (ctl reload took %v): %v", i+1, at, took.Round(time.Millisecond), step)
			from, cur = st, step
		}
		time.Sleep(250 * time.Millisecond)
		measure(cur, from, d.state())
	})
	checkNoWorse(t, "with reloads", base, got)

	st := d.state()
	w.check(t, "at the end", st)
	reloads := attempts * len(reloadCycle)
	if n := st.Counters.ReloadsOK - start.Counters.ReloadsOK; n != uint64(reloads) {
		t.Errorf("reloads_ok went up by %d, want %d", n, reloads)
	}
	if st.Counters.ReloadsFailed != 0 {
		t.Errorf("reloads_failed = %d", st.Counters.ReloadsFailed)
	}
	// The algorithms really changed in the data path: hyperv-port and
	// active-backup kept the VM on its home m1, the others put some of
	// its frames on m2.
	var onM2 uint64
	for _, iv := range steps {
		pinned := iv.step.balance == config.BalanceHyperVPort || iv.step.balance == config.BalanceActiveBackup
		if pinned && iv.m2 != 0 {
			t.Errorf("%v sent %d frames on m2, not the VM's home", iv.step, iv.m2)
		}
		onM2 += iv.m2
	}
	if onM2 == 0 {
		t.Error("m2 sent nothing: no reload to address-hash or dynamic moved the flow off its home")
	}
	// Every frame m2 sent left with m2's own MAC: rewrite was auto or
	// always whenever the VM's frames went there ("never" only came with
	// algorithms that keep the VM on m1). Compared over the whole run,
	// between two quiet moments: the counters are bumped at different
	// points of a batch.
	m2Sent := st.Members[1].TxPackets - start.Members[1].TxPackets
	if n := st.Counters.TxSourceMACRewritten - start.Counters.TxSourceMACRewritten; n != m2Sent {
		t.Errorf("m2 sent %d frames, %d source MACs were rewritten: every frame off the home member must be", m2Sent, n)
	}
	// Nothing was dropped inside the team.
	for i, m := range st.Members {
		if m.TxDropped != start.Members[i].TxDropped || m.TxErrors != start.Members[i].TxErrors {
			t.Errorf("member %s: tx_dropped %d, tx_errors %d", m.Name, m.TxDropped, m.TxErrors)
		}
	}
	c0, c := start.Counters, st.Counters
	if st.VNICs[0].TxDropped != start.VNICs[0].TxDropped || c.TxDroppedNoMember != c0.TxDroppedNoMember ||
		c.RxDroppedWrongMember != c0.RxDroppedWrongMember || c.RxDroppedNotCollecting != c0.RxDroppedNotCollecting ||
		c.RxDroppedNotOwned != c0.RxDroppedNotOwned {
		t.Errorf("drops during the reloads: vm1 tx_dropped %d -> %d, counters before %+v after %+v",
			start.VNICs[0].TxDropped, st.VNICs[0].TxDropped, c0, c)
	}
	// Members were opened once, at start, and never closed.
	if n := d.logCount("member added"); n != 2 {
		t.Errorf("daemon log has %d \"member added\", want 2 (at start only)", n)
	}
	if n := d.logCount("member removed"); n != 0 {
		t.Errorf("daemon log has %d \"member removed\"", n)
	}
	if n := d.logCount("configuration applied"); n != reloads {
		t.Errorf("daemon log has %d \"configuration applied\", want %d", n, reloads)
	}
	if st.VNICs[0].Home != "m1" || st.Counters.VNICMoves != 0 {
		t.Errorf("vm1 home %q, vnic moves %d: reloads must not move the VM", st.VNICs[0].Home, st.Counters.VNICMoves)
	}
}

// badConfig is a file a reload must reject, and the words the error must
// contain (the key it is about).
type badConfig struct {
	name string
	body string
	want []string
}

func badConfigs(tp *topo) []badConfig {
	good := siStep{balance: "dynamic"}.body("m1", "m2")
	return []badConfig{
		{"unknown key", tp.config(good + "flowlet_gapp: 1ms\n"), []string{"flowlet_gapp", "unknown key"}},
		{"nonexistent member", tp.config(siStep{balance: "dynamic"}.body("m1", "m2", "m9")), []string{"members[2].name", `"m9"`}},
		// A syntax error has no key to name; the error names the file and
		// a line. (yaml.v3 gives the line of a parser error's context
		// 0-based: the unclosed list is on line 4 and the message says 3.)
		{"bad YAML", tp.config("mode: switch-independent\nbalance: dynamic\nhash: [eth, ipv4\nmembers:\n  - name: m1\n"),
			[]string{"team.yaml:", "did not find expected ',' or ']'"}},
		{"hyperv-port without vnics", tp.config("mode: switch-independent\nbalance: hyperv-port\nmembers:\n  - name: m1\n  - name: m2\n"),
			[]string{"balance", "no vnics"}},
	}
}

// TestReloadRejectsBadConfig: under the UDP stream, bad files reloaded
// through ctl and through SIGHUP are rejected with an error naming the
// key, logged, counted, and leave the running team exactly as it was,
// with nothing lost.
func TestReloadRejectsBadConfig(t *testing.T) {
	tp := newTopo(t)
	good := tp.config(siStep{balance: "dynamic"}.body("m1", "m2"))
	d := tp.start(t, good)
	tp.ready(t)
	d.prioritize()

	base, _ := runClean(t, d, "baseline", nil)

	got, attempts := runClean(t, d, "5 rejected reloads and a good one", func(s streams, attempt int) {
		check := func(name string, want []string, reject func() (out string, printed bool)) {
			t.Helper()
			before, dumpBefore := d.state(), d.dump()
			logBefore := len(d.proc.Output())
			out, printed := reject()
			for _, w := range want {
				if printed && !strings.Contains(out, w) {
					t.Errorf("%s: error does not name %q:\n%s", name, w, out)
				}
			}
			var logged string
			nstest.Eventually(t, 10*time.Second, func() error {
				// slog quotes the error: unescape its quotes.
				logged = strings.ReplaceAll(d.proc.Output()[logBefore:], `\"`, `"`)
				if !strings.Contains(logged, `msg="reload rejected; the running configuration is kept"`) {
					return fmt.Errorf("%s: no rejection in the daemon log:\n%s", name, logged)
				}
				return nil
			})
			for _, w := range want {
				if !strings.Contains(logged, w) {
					t.Errorf("%s: daemon log does not name %q:\n%s", name, w, logged)
				}
			}
			after := d.state()
			if diff := cmp.Diff(before, after, shape); diff != "" {
				t.Errorf("%s: rejected reload changed the team (-before +after):\n%s", name, diff)
			}
			if got := after.Counters.ReloadsFailed - before.Counters.ReloadsFailed; got != 1 {
				t.Errorf("%s: reloads_failed went up by %d, want 1", name, got)
			}
			if after.Counters.ReloadsOK != before.Counters.ReloadsOK {
				t.Errorf("%s: reloads_ok went from %d to %d", name, before.Counters.ReloadsOK, after.Counters.ReloadsOK)
			}
			if diff := cmp.Diff(dumpBefore, d.dump()); diff != "" {
				t.Errorf("%s: running config changed (-before +after):\n%s", name, diff)
			}
			t.Logf("%s at +%v: rejected: %s", name, s.fwd.elapsed(), strings.TrimSpace(out))
		}
		// Each rejection is followed by the streams carrying on: a
		// datagram sent after it arrives, both ways (no fixed pause).
		flowing := func(what string) {
			t.Helper()
			fseq, rseq := s.fwd.sentSoFar(), s.rev.sentSoFar()
			s.fwd.waitArrivalAfter(t, fseq, what)
			s.rev.waitArrivalAfter(t, rseq, what)
		}
		for _, bc := range badConfigs(tp) {
			flowing("before " + bc.name)
			check("ctl reload, "+bc.name, bc.want, func() (string, bool) {
				d.writeConfig(bc.body)
				out, code := d.ctlCode("reload")
				if code != 1 {
					t.Errorf("ctl reload of a file with %s: exit %d, want 1:\n%s", bc.name, code, out)
				}
				return out, true
			})
		}
		flowing("the ctl reloads")
		bc := badConfigs(tp)[0]
		check("SIGHUP, "+bc.name, bc.want, func() (string, bool) {
			d.writeConfig(bc.body)
			must(t, d.proc.Signal(syscall.SIGHUP))
			return "(SIGHUP: see the daemon log)", false
		})
		if d.proc.Exited() {
			t.Fatalf("SIGHUP with a bad file stopped the daemon:\n%s", d.proc.Output())
		}
		flowing("the SIGHUP")
		// The good file is still taken after all that.
		must(t, d.reload(good))
	})
	checkNoWorse(t, "with rejected reloads", base, got)
	if st := d.state(); st.Counters.ReloadsFailed != uint64(5*attempts) || st.Counters.ReloadsOK != uint64(attempts) {
		t.Errorf("reloads_failed %d, reloads_ok %d; want %d and %d", st.Counters.ReloadsFailed, st.Counters.ReloadsOK, 5*attempts, attempts)
	}
	if n := d.logCount("member added"); n != 2 {
		t.Errorf("daemon log has %d \"member added\", want 2", n)
	}
}

// memberNames lists the state's members.
func memberNames(st team.State) []string {
	var out []string
	for _, m := range st.Members {
		out = append(out, m.Name)
	}
	return out
}

// TestPortAddRemoveUnderTraffic moves a team from m1 to m2 and back with
// `ctl port add|remove` under the UDP streams. Removing the home member
// loses what was in flight on it; the streams must resume on the other
// member, in both directions (the VM's new home is announced to the
// switch).
func TestPortAddRemoveUnderTraffic(t *testing.T) {
	tp := newTopo(t)
	d := tp.start(t, tp.config(siStep{balance: "hyperv-port"}.body("m1")))
	tp.ready(t)
	d.prioritize()
	if got := memberNames(d.state()); !cmp.Equal(got, []string{"m1"}) {
		t.Fatalf("members at start: %v", got)
	}

	stepDone := func(s streams, what string, members []string, home string) team.State {
		t.Helper()
		st := d.state()
		if got := memberNames(st); !cmp.Equal(got, members) {
			t.Errorf("after %s: members %v, want %v", what, got, members)
		}
		if st.VNICs[0].Home != home {
			t.Errorf("after %s: vm1 home %q, want %q", what, st.VNICs[0].Home, home)
		}
		for _, m := range st.Members {
			if m.Link != "up" || !m.Active {
				t.Errorf("after %s: member %s link %s active %v", what, m.Name, m.Link, m.Active)
			}
		}
		// Datagrams sent after the change arrive, both ways.
		fseq, rseq := s.fwd.sentSoFar(), s.rev.sentSoFar()
		s.fwd.waitArrivalAfter(t, fseq, what)
		s.rev.waitArrivalAfter(t, rseq, what)
		t.Logf("%s at +%v: members %v, vm1 home %s, announcements %d, vnic moves %d",
			what, s.fwd.elapsed(), memberNames(st), st.VNICs[0].Home, st.Counters.Announcements, st.Counters.VNICMoves)
		return st
	}
	present := func(name string, want bool) {
		t.Helper()
		out, code := d.ctlCode("port", "present", name)
		switch {
		case want && code != 0:
			t.Errorf("port present %s: exit %d, want 0:\n%s", name, code, out)
		case !want && (code == 0 || !strings.Contains(out, `"`+name+`"`) || !strings.Contains(out, "no such port")):
			t.Errorf("port present %s: exit %d, want 1 and an error naming it:\n%s", name, code, out)
		}
	}

	r := runStreams(t, d, func(s streams) {
		time.Sleep(500 * time.Millisecond)
		t.Logf("port add m2 from +%v", s.fwd.elapsed())
		out, code := d.ctlCode("port", "add", "m2")
		if code != 0 {
			t.Fatalf("port add m2: exit %d:\n%s", code, out)
		}
		st1 := stepDone(s, "port add m2", []string{"m1", "m2"}, "m1")
		present("m2", true)

		time.Sleep(500 * time.Millisecond)
		t.Logf("port remove m1 from +%v", s.fwd.elapsed())
		out, code = d.ctlCode("port", "remove", "m1")
		if code != 0 {
			t.Fatalf("port remove m1: exit %d:\n%s", code, out)
		}
		st2 := stepDone(s, "port remove m1 (the home)", []string{"m2"}, "m2")
		if st2.Counters.Announcements <= st1.Counters.Announcements || st2.Counters.VNICMoves != st1.Counters.VNICMoves+1 {
			t.Errorf("vm1's move to m2 was not announced: announcements %d -> %d, vnic moves %d -> %d",
				st1.Counters.Announcements, st2.Counters.Announcements, st1.Counters.VNICMoves, st2.Counters.VNICMoves)
		}
		present("m1", false)
		if out := tp.host.MustRun(t, "ip", "-d", "link", "show", "m1"); !strings.Contains(out, "promiscuity 0") {
			t.Errorf("m1 not given back after port remove:\n%s", out)
		}

		// Errors: nothing changes.
		for _, c := range []struct {
			args []string
			want []string
		}{
			{[]string{"port", "remove", "m1"}, []string{`"m1"`, "no such port"}},
			{[]string{"port", "remove", "m9"}, []string{`"m9"`, "no such port"}},
			{[]string{"port", "add", "nosuch0"}, []string{"members[1].name", `"nosuch0"`, "no interface"}},
			{[]string{"port", "add", "m2"}, []string{"members[1].name", `"m2"`, "already"}},
		} {
			before := d.state()
			out, code := d.ctlCode(c.args...)
			if code != 1 {
				t.Errorf("%v: exit %d, want 1:\n%s", c.args, code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v: error does not name %s:\n%s", c.args, w, out)
				}
			}
			// The VM's own IPv6 traffic (its link-local address's first
			// router solicitation or MLD report, seconds after its link
			// came up) may teach its FDB entry an address meanwhile: that
			// is the traffic's doing, not the command's.
			if diff := cmp.Diff(before, d.state(), shape, cmpopts.IgnoreFields(team.FDBEntry{}, "IPv6")); diff != "" {
				t.Errorf("%v changed the team (-before +after):\n%s", c.args, diff)
			}
			t.Logf("%v at +%v: exit %d: %s", c.args, s.fwd.elapsed(), code, strings.TrimSpace(out))
		}

		time.Sleep(500 * time.Millisecond)
		t.Logf("port add m1 from +%v", s.fwd.elapsed())
		out, code = d.ctlCode("port", "add", "m1")
		if code != 0 {
			t.Fatalf("port add m1: exit %d:\n%s", code, out)
		}
		// m2 is now first in config order, so vm1 stays where it is:
		// adding a member moves nobody.
		stepDone(s, "port add m1", []string{"m2", "m1"}, "m2")
		present("m1", true)
		present("m2", true)
	})
	t.Logf("through add m2, remove m1, add m1: %v", r.fwd)
	t.Logf("through add m2, remove m1, add m1: %v", r.rev)
	if r.fwd.Dups > 0 || r.rev.Dups > 0 {
		t.Errorf("duplicates: vm->peer %d, peer->vm %d", r.fwd.Dups, r.rev.Dups)
	}
	if n := d.logCount("member added"); n != 3 {
		t.Errorf("daemon log has %d \"member added\", want 3 (m1 at start, m2, m1 again)", n)
	}
}

// TestReloadModeChange: a reload that changes mode. The physical switch
// is not reconfigured here (a Linux bridge, no LAG), so only the team's
// side is checked: the reload is either applied (state shows the new
// mode and traffic flows) or rejected with an error naming mode and the
// team untouched. Which one happens is logged.
func TestReloadModeChange(t *testing.T) {
	tp := newTopo(t)
	si := tp.config(siStep{balance: "hyperv-port"}.body("m1", "m2"))
	d := tp.start(t, si)
	tp.ready(t)
	d.prioritize()
	r := runStreams(t, d, func(s streams) {
		time.Sleep(300 * time.Millisecond)
		before := d.state()
		static := tp.config("mode: static\nbalance: address-hash\nmembers:\n  - name: m1\n  - name: m2\nvnics:\n  - name: vm1\n")
		d.writeConfig(static)
		out, code := d.ctlCode("reload")
		st := d.state()
		if code == 0 {
			if st.Mode != config.ModeStatic || st.Balance != config.BalanceAddressHash {
				t.Fatalf("reload to mode static exited 0 but state shows mode %q balance %q", st.Mode, st.Balance)
			}
			fseq, rseq := s.fwd.sentSoFar(), s.rev.sentSoFar()
			s.fwd.waitArrivalAfter(t, fseq, "reload to static")
			s.rev.waitArrivalAfter(t, rseq, "reload to static")
			t.Logf("switch-independent -> static at +%v: APPLIED in place (reloads_ok %d)", s.fwd.elapsed(), st.Counters.ReloadsOK)
		} else {
			if !strings.Contains(out, "mode") {
				t.Errorf("reload to mode static rejected without naming mode:\n%s", out)
			}
			if diff := cmp.Diff(before, st, shape); diff != "" {
				t.Errorf("rejected mode change changed the team (-before +after):\n%s", diff)
			}
			t.Logf("switch-independent -> static: REJECTED (exit %d): %s", code, strings.TrimSpace(out))
		}
		time.Sleep(500 * time.Millisecond)
		must(t, d.reload(si))
		st = d.state()
		if st.Mode != config.ModeSwitchIndependent || st.VNICs[0].Home != "m1" {
			t.Errorf("back to switch-independent: mode %q, vm1 home %q", st.Mode, st.VNICs[0].Home)
		}
		fseq, rseq := s.fwd.sentSoFar(), s.rev.sentSoFar()
		s.fwd.waitArrivalAfter(t, fseq, "reload back to switch-independent")
		s.rev.waitArrivalAfter(t, rseq, "reload back to switch-independent")
	})
	t.Logf("through static and back: %v", r.fwd)
	t.Logf("through static and back: %v", r.rev)
	if n := d.logCount("member added"); n != 2 {
		t.Errorf("daemon log has %d \"member added\", want 2", n)
	}
}

// TestReloadMovesHome: a reload that makes m2 primary moves the VM's home
// while both members are healthy; the move is announced and the streams
// go on. The receive side loses what the switch still delivered to the
// old home: the team drops it as rx_dropped_wrong_member (it would be a
// flood duplicate if the home had not just moved). The test checks that
// this counter accounts for every datagram lost and logs how many.
func TestReloadMovesHome(t *testing.T) {
	tp := newTopo(t)
	body := func(primary string) string {
		b := "mode: switch-independent\nbalance: hyperv-port\nmembers:\n"
		for _, m := range []string{"m1", "m2"} {
			b += "  - name: " + m + "\n"
			if m == primary {
				b += "    primary: true\n"
			}
		}
		return b + "vnics:\n  - name: vm1\n"
	}
	d := tp.start(t, tp.config(body("m1")))
	tp.ready(t)
	d.prioritize()
	const moves = 4
	var before team.Counters
	r, _ := runClean(t, d, fmt.Sprintf("%d home moves by reload", moves), func(s streams, attempt int) {
		before = d.state().Counters
		for i := range moves {
			time.Sleep(400 * time.Millisecond)
			to := []string{"m2", "m1"}[i%2]
			at := s.fwd.elapsed()
			must(t, d.reload(tp.config(body(to))))
			if h := d.vnicHome("vm1"); h != to {
				t.Errorf("primary %s: vm1 home %q", to, h)
			}
			fseq, rseq := s.fwd.sentSoFar(), s.rev.sentSoFar()
			s.fwd.waitArrivalAfter(t, fseq, "home move to "+to)
			s.rev.waitArrivalAfter(t, rseq, "home move to "+to)
			t.Logf("home moved to %s at +%v", to, at)
		}
	})
	after := d.state().Counters
	wrong := after.RxDroppedWrongMember - before.RxDroppedWrongMember
	t.Logf("rx_dropped_wrong_member +%d, announcements +%d, vnic_moves +%d",
		wrong, after.Announcements-before.Announcements, after.VNICMoves-before.VNICMoves)
	if got := after.VNICMoves - before.VNICMoves; got != moves {
		t.Errorf("vnic_moves went up by %d, want %d", got, moves)
	}
	if after.Announcements == before.Announcements {
		t.Error("no announcement for the home moves")
	}
	if r.rev.Lost > wrong {
		t.Errorf("peer->vm lost %d datagrams, only %d counted as rx_dropped_wrong_member", r.rev.Lost, wrong)
	}
	if r.fwd.Lost != 0 || r.fwd.Dups != 0 || r.rev.Dups != 0 {
		t.Errorf("vm->peer lost %d; duplicates %d and %d", r.fwd.Lost, r.fwd.Dups, r.rev.Dups)
	}
}
