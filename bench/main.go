//go:build linux

// Command bench measures, in one run on this machine, 64-byte frames per
// second and TCP throughput for one hop between a sender and a receiver
// network namespace through: a direct veth pair, a Linux bridge, Open
// vSwitch's userspace datapath (without and with userspace TSO), and teamd-go
// with each backend (docs/contract.md §6), and for each row the round-trip
// time of pings at a low rate and the forwarding daemon's CPU at idle and
// RSS (latency.go). It prints a table and writes the
// same rows to bench/results.json. After the rows come three sections that
// measure the team itself (sections.go): balance (imbalance between the
// members for 2, 8 and 64 TCP flows, address-hash vs dynamic), reorder (a UDP
// probe's reordering under dynamic, with address-hash as reference) and
// reload (a UDP probe's loss while the balance is switched 12 times by
// reload, against a run without reloads); they print their own tables and
// land in bench/results.json too (format: resultsFile).
//
// Run it as root from the repository root, after building the daemon:
//
//	go build -o bin/teamd-go ./cmd/teamd-go && go run ./bench
//	go run ./bench -duration 5s -memory 10s -only veth,ovs-netdev
//	go run ./bench -only balance,reorder,reload
//
// Everything it creates is named tgbb<pid>-*: namespaces, a temporary
// directory holding configs and the Open vSwitch run directories; it is
// built on internal/testbed (topologies as data, one Bed owning it all). It removes them on
// exit, on error and on the first Ctrl-C (a second Ctrl-C tears down at
// once); leftovers of a killed run are removed by the next run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

func main() { os.Exit(run()) }

// run is the bench: flags, preflight, the rows, the sections, the report.
func run() int {
	o, code := parseFlags()
	if code != 0 {
		return code
	}
	rows, sections, code := pick(o.only)
	if code != 0 {
		return code
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, raw sockets)")
		return 1
	}
	if err := checkTools("ip", "ethtool", "taskset", "ss", "trafgen", "iperf3", "ping"); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	removeStale()
	b, err := newBed(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer b.Close()
	ctx, cancel := interruptible(b)
	defer cancel()

	load0 := loadAvg()
	results := measureRows(ctx, b, o, rows)
	sec := measureSections(ctx, b, o, sections)
	fmt.Printf("\nload average (1 min) at start %s, at end %s, on %d CPUs: other work on the machine skews these numbers\n",
		load0, loadAvg(), runtime.NumCPU())
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "bench: interrupted; %s left as it was\n", o.jsonPath)
		return 130
	}
	if o.jsonPath == "" || len(results) == 0 && len(sections) == 0 {
		return 0
	}
	carried, err := writeResults(o.jsonPath, results, len(rows) > 0, sec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Printf("\nwrote %s", o.jsonPath)
	if len(carried) > 0 {
		fmt.Printf(" (%s kept from the previous file: not measured in this run)", strings.Join(carried, ", "))
	}
	fmt.Println()
	return 0
}

// parseFlags reads and checks the command line; a non-zero code is the
// exit status of a bad one.
func parseFlags() (*options, int) {
	o := &options{}
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each pps and TCP measurement")
	flag.DurationVar(&o.memory, "memory", 60*time.Second, "length of the memory-flatness run (teamd-go rows); 0 skips it")
	flag.IntVar(&o.rttCount, "rtt-count", 5000, "pings of each row's latency run (0 skips it)")
	flag.IntVar(&o.rttRate, "rtt-rate", 1000, "pings per second of the latency run")
	flag.DurationVar(&o.idle, "idle", 10*time.Second, "length of the daemon's idle CPU measurement (rows with a daemon)")
	flag.StringVar(&o.jsonPath, "json", "bench/results.json", "write the results as JSON to this file (empty: don't)")
	flag.StringVar(&o.only, "only", "", "run only these rows and sections (comma-separated names)")
	flag.StringVar(&o.teamd, "teamd", "./bin/teamd-go", "teamd-go binary")
	flag.DurationVar(&o.sectionDuration, "section-duration", 5*time.Second, "length of each balance run (reorder probes run twice as long)")
	flag.IntVar(&o.balanceRuns, "balance-runs", 3, "runs per cell of the balance section")
	flag.IntVar(&o.probePPS, "probe-pps", 10000, "datagrams per second of the reorder and reload probes")
	flag.DurationVar(&o.reloadEvery, "reload-every", time.Second, "time between the reload section's reloads")
	flag.Parse()
	if o.duration < time.Second || o.sectionDuration < time.Second {
		fmt.Fprintln(os.Stderr, "bench: -duration and -section-duration must be at least 1s")
		return nil, 2
	}
	if o.rttCount < 0 || o.rttRate < 1 || o.rttRate > 10000 || o.idle < time.Second {
		fmt.Fprintln(os.Stderr, "bench: -rtt-count must not be negative, -rtt-rate between 1 and 10000, -idle at least 1s")
		return nil, 2
	}
	if o.balanceRuns < 1 || o.probePPS < 1 || o.reloadEvery < 100*time.Millisecond {
		fmt.Fprintln(os.Stderr, "bench: -balance-runs and -probe-pps must be at least 1, -reload-every at least 100ms")
		return nil, 2
	}
	return o, 0
}

// pick returns the rows and sections -only names (all without it).
func pick(only string) ([]row, []section, int) {
	rows, sections := allRows(), allSections()
	if only == "" {
		return rows, sections, 0
	}
	var pickedRows []row
	var pickedSections []section
	for _, name := range strings.Split(only, ",") {
		name = strings.TrimSpace(name)
		if r, ok := find(rows, name); ok {
			pickedRows = append(pickedRows, r)
		} else if s, ok := find(sections, name); ok {
			pickedSections = append(pickedSections, s)
		} else {
			fmt.Fprintf(os.Stderr, "bench: no row or section %q; rows: %s; sections: %s\n", name, names(rows), names(sections))
			return nil, nil, 2
		}
	}
	return pickedRows, pickedSections, 0
}

// newBed makes the run's temporary directory and the Bed that owns
// everything the run builds: namespaces runName-ROLE, processes in their
// own process groups (output tails kept), switches and daemons.
func newBed(o *options) (*testbed.Bed, error) {
	dir, err := os.MkdirTemp("", runName+"-")
	if err != nil {
		return nil, err
	}
	o.dir = dir
	bin, err := filepath.Abs(o.teamd)
	if err != nil {
		bin = o.teamd
	}
	b := &testbed.Bed{Prefix: runName, Dir: dir, Lifetime: testbed.Owned, TailBytes: 8 << 10, Daemon: bin}
	b.Defer(func() error { return os.RemoveAll(dir) })
	return b, nil
}

// interruptible returns a context cancelled by the first SIGINT or
// SIGTERM; the second tears everything down at once and exits.
func interruptible(b *testbed.Bed) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted, cleaning up (again to force)")
		cancel()
		<-sigs
		b.UnwindTo(0)
		os.Exit(130)
	}()
	return ctx, cancel
}

// measureRows runs the rows and prints their table.
func measureRows(ctx context.Context, b *testbed.Bed, o *options, rows []row) []Result {
	var results []Result
	for _, r := range rows {
		if ctx.Err() != nil {
			break
		}
		logf("== %s", r.name)
		res := runRow(ctx, b, o, r)
		results = append(results, res)
		logf("== %s: %s", r.name, res.summary())
	}
	if len(rows) > 0 {
		printTable(os.Stdout, results)
		printRatios(os.Stdout, results)
	}
	return results
}

// measureSections runs the sections and prints their tables.
func measureSections(ctx context.Context, b *testbed.Bed, o *options, sections []section) *sectionResults {
	var sec sectionResults
	for _, s := range sections {
		if ctx.Err() != nil {
			break
		}
		logf("== section %s", s.name)
		s.run(ctx, b, o, &sec)
		// Let the kernel finish tearing down before the next one.
		time.Sleep(500 * time.Millisecond)
	}
	printBalance(os.Stdout, sec.Balance)
	printReorder(os.Stdout, sec.Reorder)
	printFlowlet(os.Stdout, sec.Balance, sec.Reorder)
	printReload(os.Stdout, sec.Reload)
	return &sec
}

// options are the command-line settings.
type options struct {
	duration time.Duration
	memory   time.Duration
	rttCount int
	rttRate  int
	idle     time.Duration
	jsonPath string
	only     string
	teamd    string
	dir      string // temporary files of this run

	// Sections (sections.go).
	sectionDuration time.Duration
	balanceRuns     int
	probePPS        int
	reloadEvery     time.Duration
}

// loadAvg is the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
