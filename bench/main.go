//go:build linux

// Command bench measures, in one run on this machine, 64-byte frames per
// second and TCP throughput for one hop between a sender and a receiver
// network namespace through: a direct veth pair, a Linux bridge, Open
// vSwitch's userspace datapath (without and with userspace TSO), and
// teamd-go with each backend (SPEC §6). It prints a table and writes the
// same rows to bench/results.json.
//
// Run it as root from the repository root, after building the daemon:
//
//	go build -o bin/teamd-go ./cmd/teamd-go && go run ./bench
//	go run ./bench -duration 5s -memory 10s -only veth,ovs-netdev
//
// Everything it creates is named tgbb<pid>-*: namespaces, a temporary
// directory, Open vSwitch run directories (tgb-ovs-*). It removes them on
// exit, on error and on the first Ctrl-C (a second Ctrl-C tears down at
// once); leftovers of a killed run are removed by the next run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each pps and TCP measurement")
	flag.DurationVar(&o.memory, "memory", 60*time.Second, "length of the memory-flatness run (teamd-go rows); 0 skips it")
	flag.StringVar(&o.jsonPath, "json", "bench/results.json", "write the rows as a JSON array to this file (empty: don't)")
	flag.StringVar(&o.only, "only", "", "run only these rows (comma-separated names)")
	flag.StringVar(&o.teamd, "teamd", "./bin/teamd-go", "teamd-go binary")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, raw sockets)")
		return 1
	}
	if err := checkTools("ip", "ethtool", "taskset", "ss", "trafgen", "iperf3"); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	rows := allRows()
	if o.only != "" {
		var picked []row
		for _, name := range strings.Split(o.only, ",") {
			r, ok := findRow(rows, strings.TrimSpace(name))
			if !ok {
				fmt.Fprintf(os.Stderr, "bench: no row %q; rows: %s\n", name, rowNames(rows))
				return 2
			}
			picked = append(picked, r)
		}
		rows = picked
	}
	if o.duration < time.Second {
		fmt.Fprintln(os.Stderr, "bench: -duration must be at least 1s")
		return 2
	}

	removeStale()
	cl := &cleanups{}
	defer cl.unwindTo(0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted, cleaning up (again to force)")
		cancel()
		<-sigs
		cl.unwindTo(0)
		os.Exit(130)
	}()

	dir, err := os.MkdirTemp("", fmt.Sprintf("tgbb%d-", os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	cl.push(func() { _ = os.RemoveAll(dir) })
	o.dir = dir

	load0 := loadAvg()
	var results []Result
	for _, r := range rows {
		if ctx.Err() != nil {
			break
		}
		logf("== %s", r.name)
		res := runRow(ctx, cl, &o, r)
		results = append(results, res)
		logf("== %s: %s", r.name, res.summary())
	}
	printTable(os.Stdout, results)
	printRatios(os.Stdout, results)
	fmt.Printf("\nload average (1 min) at start %s, at end %s, on %d CPUs: other work on the machine skews these numbers\n",
		load0, loadAvg(), runtime.NumCPU())
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "bench: interrupted; %s left as it was\n", o.jsonPath)
		return 130
	}
	if o.jsonPath != "" && len(results) > 0 {
		if err := writeJSON(o.jsonPath, results); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Printf("\nwrote %s\n", o.jsonPath)
	}
	return 0
}

// options are the command-line settings.
type options struct {
	duration time.Duration
	memory   time.Duration
	jsonPath string
	only     string
	teamd    string
	dir      string // temporary files of this run
}

func writeJSON(path string, results []Result) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
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
