package lab

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/lab/lbemu"
)

// Helpers are the lab's own programs, run inside namespaces as
// `teamd-go lab --helper NAME ARGS` (or, from a test binary whose
// TestMain checks HelperEnv, `TESTBINARY lab --helper NAME ARGS`).
// They are not part of the user-facing command line.
func helper(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "teamd-go lab --helper: lb | tcp-server | tcp-client | garp")
		return 2
	}
	switch args[0] {
	case "garp":
		return garpHelper(args[1:], stderr)
	case "lb":
		return lbHelper(args[1:], stderr)
	case "tcp-server":
		return tcpServerHelper(args[1:], stderr)
	case "tcp-client":
		return tcpClientHelper(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "teamd-go lab --helper: unknown helper %q\n", args[0])
	return 2
}

// lbHelper runs the load balancer emulator in the current namespace:
//
//	--helper lb -inside NAME=ADDR/LEN -outside NAME=ADDR/LEN
//	            [-route DST/LEN=VIA]... [-last-hop=false] -stats SOCKET
//
// Each connection to the Unix socket SOCKET gets the emulator's Stats as
// JSON. It runs until SIGTERM or SIGINT.
func lbHelper(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg lbemu.Config
	fs.Func("inside", "inside interface as NAME=ADDR/LEN", ifaceFlag(&cfg.Inside))
	fs.Func("outside", "outside interface as NAME=ADDR/LEN", ifaceFlag(&cfg.Outside))
	fs.Func("route", "a route as DST/LEN=VIA (repeatable)", func(s string) error {
		dst, via, ok := strings.Cut(s, "=")
		p, err := netip.ParsePrefix(dst)
		if err != nil || !ok {
			return fmt.Errorf("want DST/LEN=VIA, got %q", s)
		}
		gw, err := netip.ParseAddr(via)
		if err != nil {
			return err
		}
		cfg.Routes = append(cfg.Routes, lbemu.Route{Dst: p, Via: gw})
		return nil
	})
	fs.BoolVar(&cfg.LastHop, "last-hop", true, "auto last hop: return traffic to the MAC that opened the connection")
	fs.DurationVar(&cfg.IdleTimeout, "idle", lbemu.DefaultIdleTimeout, "connection idle timeout")
	statsPath := fs.String("stats", "", "Unix socket serving the counters as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Log = log
	r, err := lbemu.Open(cfg)
	if err != nil {
		log.Error("start load balancer emulator", "err", err)
		return 1
	}
	if *statsPath != "" {
		_ = os.Remove(*statsPath)
		ln, err := net.Listen("unix", *statsPath)
		if err != nil {
			log.Error("stats socket", "err", err)
			return 1
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = json.NewEncoder(c).Encode(r.Stats())
				_ = c.Close()
			}
		}()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := r.Run(ctx); err != nil {
		log.Error("load balancer emulator failed", "err", err)
		return 1
	}
	st := r.Stats()
	log.Info("load balancer emulator stopped", "from_inside", st.FromInside, "from_outside", st.FromOutside,
		"to_last_hop", st.ToLastHop, "routed", st.Routed, "connections", st.Connections, "gso", st.GSO)
	return 0
}

func ifaceFlag(i *lbemu.Interface) func(string) error {
	return func(s string) error {
		name, addr, ok := strings.Cut(s, "=")
		p, err := netip.ParsePrefix(addr)
		if !ok || err != nil || name == "" {
			return fmt.Errorf("want NAME=ADDR/LEN, got %q", s)
		}
		i.Name, i.Addr = name, p
		return nil
	}
}

// lbStats asks a load balancer helper for its counters.
func lbStats(ctx context.Context, socket string) (lbemu.Stats, error) {
	var st lbemu.Stats
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return st, fmt.Errorf("load balancer stats: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := json.NewDecoder(c).Decode(&st); err != nil {
		return st, fmt.Errorf("load balancer stats: %w", err)
	}
	return st, nil
}

// garpHelper announces an address by gratuitous ARP, as `arping -U` does
// (without needing iputils-arping):
//
//	--helper garp -dev NAME -ip ADDR [-count N] [-interval D]
func garpHelper(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("garp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.String("dev", "", "interface to send on")
	ipStr := fs.String("ip", "", "IPv4 address to announce")
	count := fs.Int("count", 1, "how many")
	interval := fs.Duration("interval", time.Second, "between two")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ip, err := netip.ParseAddr(*ipStr)
	if err != nil || *dev == "" || *count < 1 {
		fmt.Fprintln(stderr, "garp: want -dev NAME -ip IPV4 [-count N >= 1]")
		return 2
	}
	if err := sendGARP(*dev, ip, *count, *interval); err != nil {
		fmt.Fprintln(stderr, "garp:", err)
		return 1
	}
	return 0
}
