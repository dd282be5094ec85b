// Command teamd-go is a userspace NIC-teaming daemon with a small virtual
// switch on top. See README.md and docs/contract.md §2 for the command line.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/teamd-go/teamd-go/daemon"
	"github.com/teamd-go/teamd-go/lab"
	"github.com/teamd-go/teamd-go/team/control"
	"github.com/teamd-go/teamd-go/team/teamdctl"
)

// version is stamped by the Makefile from git.
var version = "dev"

func main() {
	daemon.Version = version
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  teamd-go -c FILE                 run the daemon in the foreground
      [--socket-dir DIR]           control socket directory (default /run/teamd-go)
      [--teamd-socket-dir DIR]     teamd-compatible socket directory (default /var/run/teamd)
  teamd-go -c FILE --check         validate FILE; exit 1 if invalid
  teamd-go ctl [-t TEAM] [--socket-dir DIR] state [view]
  teamd-go ctl [-t TEAM] reload
  teamd-go ctl [-t TEAM] toggle        re-read the rx_translation table (as toggling the team adapter)
  teamd-go ctl [-t TEAM] config dump
  teamd-go ctl [-t TEAM] port add|remove|present NAME
  teamd-go ctl [-t TEAM] mac forget MAC    the switch forgets a learned MAC (another vnic may then own it)
  teamd-go ctl [-t TEAM] explain (--from-vnic NAME | --from-member NAME) [--json] FRAME
                                       where a frame goes and why (FRAME: --src-mac --dst-mac ...,
                                       --hex HEX or --pcap FILE [--index N]; see ctl explain -h)
  teamd-go lab [SCENARIO] [--json] [--keep] [--pcap DIR]
  teamd-go lab down
  teamd-go --version
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "ctl":
			return ctl(args[1:], stdout, stderr)
		case "lab":
			return runLab(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("teamd-go", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	cfgPath := fs.String("c", "", "configuration file (YAML, or teamd JSON)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	debug := fs.Bool("debug", false, "log at debug level")
	fs.StringVar(&control.Dir, "socket-dir", control.Dir, "directory of the control socket (TEAM.sock)")
	fs.StringVar(&teamdctl.Dir, "teamd-socket-dir", teamdctl.Dir, "directory of the teamd-compatible socket (TEAM.sock) that teamdctl uses")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "teamd-go", version)
		return 0
	}
	if *cfgPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	if *check {
		cfg, err := daemon.Check(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "%s: warning: %s\n", *cfgPath, w)
		}
		fmt.Fprintf(stdout, "%s: ok (team %s, mode %s, balance %s, %d members, %d vnics)\n",
			*cfgPath, cfg.Team, cfg.Mode, cfg.Balance, len(cfg.Members), len(cfg.VNICs))
		return 0
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	log.Info("teamd-go starting", "version", version, "config", *cfgPath)
	if path := os.Getenv("TEAMD_GO_CPUPROFILE"); path != "" {
		// A debugging aid for performance work: a CPU profile of the
		// whole run, written when the daemon stops.
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	if err := daemon.Run(context.Background(), *cfgPath, log); err != nil {
		fmt.Fprintln(stderr, "teamd-go:", err)
		return 1
	}
	return 0
}

func ctl(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("teamd-go ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	teamName := fs.String("t", "", "team name (may be left out when exactly one team runs)")
	fs.StringVar(&control.Dir, "socket-dir", control.Dir, "directory of the daemon's control socket")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return 2
	}
	name := *teamName
	if name == "" {
		teams := control.Teams()
		switch len(teams) {
		case 0:
			fmt.Fprintf(stderr, "teamd-go ctl: no team is running (no socket in %s)\n", control.Dir)
			return 1
		case 1:
			name = teams[0]
		default:
			fmt.Fprintf(stderr, "teamd-go ctl: %d teams run (%s); choose one with -t\n", len(teams), strings.Join(teams, ", "))
			return 2
		}
	}
	path := control.SocketPath(name)
	call := func(cmd string, a ...string) (json.RawMessage, bool) {
		res, err := control.Call(path, cmd, a...)
		if err != nil {
			fmt.Fprintf(stderr, "teamd-go ctl: %s: %v\n", cmd, err)
			return nil, false
		}
		return res, true
	}
	switch {
	case rest[0] == "state" && len(rest) == 1:
		res, ok := call("state")
		if !ok {
			return 1
		}
		var buf bytes.Buffer
		_ = json.Indent(&buf, res, "", "  ")
		fmt.Fprintln(stdout, buf.String())
	case rest[0] == "state" && len(rest) == 2 && rest[1] == "view":
		res, ok := call("state")
		if !ok {
			return 1
		}
		if err := printStateView(stdout, res); err != nil {
			fmt.Fprintln(stderr, "teamd-go ctl:", err)
			return 1
		}
	case rest[0] == "reload" && len(rest) == 1:
		if _, ok := call("reload"); !ok {
			return 1
		}
		fmt.Fprintln(stdout, "reloaded")
	case rest[0] == "toggle" && len(rest) == 1:
		if _, ok := call("toggle"); !ok {
			return 1
		}
		fmt.Fprintln(stdout, "toggled: rx_translation table re-read")
	case rest[0] == "config" && len(rest) == 2 && rest[1] == "dump":
		res, ok := call("config-dump")
		if !ok {
			return 1
		}
		var s string
		_ = json.Unmarshal(res, &s)
		fmt.Fprint(stdout, s)
	case rest[0] == "mac" && len(rest) == 3 && rest[1] == "forget":
		if _, ok := call("mac", rest[1], rest[2]); !ok {
			return 1
		}
		fmt.Fprintf(stdout, "mac %s forgotten: the next vnic that sends from it owns it\n", rest[2])
	case rest[0] == "explain":
		return ctlExplain(rest[1:], call, stdout, stderr)
	case rest[0] == "port" && len(rest) == 3:
		if _, ok := call("port", rest[1], rest[2]); !ok {
			return 1
		}
		if rest[1] != "present" {
			fmt.Fprintf(stdout, "port %s: %s done\n", rest[2], rest[1])
		}
	default:
		fmt.Fprintf(stderr, "teamd-go ctl: unknown command %q\n", strings.Join(rest, " "))
		fs.Usage()
		return 2
	}
	return 0
}

func runLab(args []string, stdout, stderr io.Writer) int {
	return lab.Main(args, stdout, stderr)
}
