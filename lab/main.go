package lab

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

const (
	// DaemonEnv names the environment variable holding the teamd-go
	// binary the lab runs in its namespaces. Unset, it is the running
	// executable (the lab is `teamd-go lab`). Tests set it to a freshly
	// built binary.
	DaemonEnv = "TEAMD_GO_LAB_DAEMON"
	// HelperEnv is set to "1" in the environment of helper processes. A
	// test binary that runs Main must check it first thing in TestMain
	// and, when set, exit with Main(os.Args[2:], ...): the lab runs its
	// helpers as `SELF lab --helper ...` and SELF is then the test binary.
	HelperEnv = "TEAMD_GO_LAB_HELPER"
)

// Prefix starts the name of everything the lab creates: namespaces
// (tglPID-VARIANT-ROLE), team names, the run directory.
const Prefix = "tgl"

// RunRoot holds one directory per lab run (configs, logs, sockets, the
// switches' databases), found again by `lab down`.
var RunRoot = "/run/" + Prefix

const usage = `usage:
  teamd-go lab [SCENARIO] [--json] [--keep] [--variant NAME,...] [--backend af_packet|xdp] [--pcap DIR]
  teamd-go lab down

Builds each variant of SCENARIO (all scenarios if none is named) in network
namespaces, runs its traffic, prints a table (or with --json one JSON object
per variant) and removes everything, also on Ctrl-C. --keep leaves the last
state running for inspection; "lab down" removes what a kept or crashed lab
left. --backend runs every daemon with that data path. --pcap DIR writes
one capture per variant and wire, DIR/SCENARIO-VARIANT-WIRE.pcap, for
tshark -r or Wireshark (the README has one tshark line per scenario). Exit status 0 when
every verdict is the expected one.

scenarios:
`

// Main is `teamd-go lab ARGS`: it returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "--helper":
			return helper(args[1:], stdout, stderr)
		case "down":
			if len(args) > 1 {
				fmt.Fprint(stderr, usageText())
				return 2
			}
			return down(stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("teamd-go lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usageText()) }
	jsonOut := fs.Bool("json", false, "print one JSON object per variant instead of a table")
	keep := fs.Bool("keep", false, "leave the lab running; remove it later with `teamd-go lab down`")
	only := fs.String("variant", "", "run only these variants (comma-separated)")
	backend := fs.String("backend", "", "the daemons' data path: af_packet or xdp (default: the daemon's own)")
	pcap := fs.String("pcap", "", "write a capture of each wire of each variant to `DIR` (needs tcpdump)")
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	var run []*scenario
	switch len(names) {
	case 0:
		run = allScenarios
	case 1:
		s := find(names[0])
		if s == nil {
			fmt.Fprintf(stderr, "teamd-go lab: no scenario %q\n\n", names[0])
			fs.Usage()
			return 2
		}
		run = []*scenario{s}
	default:
		fs.Usage()
		return 2
	}
	var variants []string
	if *only != "" {
		variants = strings.Split(*only, ",")
		if err := checkVariants(run, variants); err != nil {
			fmt.Fprintln(stderr, "teamd-go lab:", err)
			return 2
		}
	}
	if *backend != "" && *backend != testbed.AFPacket && *backend != testbed.XDP {
		fmt.Fprintf(stderr, "teamd-go lab: --backend %q: want %s or %s\n", *backend, testbed.AFPacket, testbed.XDP)
		return 2
	}
	if err := preflight(); err != nil {
		fmt.Fprintln(stderr, "teamd-go lab:", err)
		return 1
	}
	daemon, self, err := binaries()
	if err != nil {
		fmt.Fprintln(stderr, "teamd-go lab:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r := &runner{
		daemon: daemon, self: self, keep: *keep, json: *jsonOut, backend: *backend, pcap: *pcap,
		variants: variants, stdout: stdout, stderr: stderr,
	}
	return r.run(ctx, run)
}

func usageText() string {
	var b strings.Builder
	b.WriteString(usage)
	for _, s := range allScenarios {
		fmt.Fprintf(&b, "  %-16s %s\n", s.Name, s.Summary)
		for _, v := range s.Variants {
			fmt.Fprintf(&b, "      %-20s expected %s\n", v.Name, v.Expected)
		}
	}
	return b.String()
}

// parseInterleaved parses flags placed before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func checkVariants(run []*scenario, names []string) error {
	for _, n := range names {
		found := false
		for _, s := range run {
			for _, v := range s.Variants {
				found = found || v.Name == n
			}
		}
		if !found {
			return fmt.Errorf("no variant %q", n)
		}
	}
	return nil
}

// preflight checks for root and the programs the lab runs.
func preflight() error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("needs root (network namespaces)"))
	}
	for _, p := range append([]string{"ip", "ping"}, testbed.OVSPrograms...) {
		if _, err := exec.LookPath(p); err != nil {
			errs = append(errs, fmt.Errorf("needs %s on PATH", p))
		}
	}
	if _, err := os.Stat(testbed.Schema); err != nil {
		errs = append(errs, fmt.Errorf("needs the Open vSwitch schema: %w", err))
	}
	if len(errs) > 0 {
		errs = append(errs, errors.New("(`sudo make deps` installs iproute2, iputils-ping and openvswitch-switch)"))
	}
	return errors.Join(errs...)
}

// binaries returns the teamd-go binary to run in the namespaces and the
// binary that runs the helpers.
func binaries() (daemon, self string, err error) {
	self, err = os.Executable()
	if err != nil {
		return "", "", fmt.Errorf("find own executable: %w", err)
	}
	daemon = self
	if d := os.Getenv(DaemonEnv); d != "" {
		daemon = d
	}
	if _, err := os.Stat(daemon); err != nil {
		return "", "", fmt.Errorf("teamd-go binary (%s): %w", DaemonEnv, err)
	}
	return daemon, self, nil
}
