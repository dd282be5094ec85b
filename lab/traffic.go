package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The traffic generator: short TCP request/response exchanges, each on a
// connection of its own, from a client in one namespace to a server in
// another. Both run as helpers (`teamd-go lab --helper tcp-client|
// tcp-server`), so the sockets live in the right namespace and the server
// keeps running in a kept lab.
//
// An exchange: connect, send "req N\n", read the server's one-line
// answer up to its close, close. It succeeds if the answer is the
// expected one within the timeout. Exchange N uses local port Port+N, so
// every run opens the same connections (same 5-tuples) and a failure can
// be looked up by port in the load balancer's connection table.

// exchanges configures a run of the client.
type exchanges struct {
	To          netip.AddrPort // the server
	From        netip.Addr     // local address
	Port        uint16         // local port of exchange 0
	N           int            // how many exchanges
	Concurrency int            // how many at once
	Timeout     time.Duration  // per exchange, connect included
}

// exchangeResult is what the client prints (as JSON).
type exchangeResult struct {
	Attempts  int       `json:"attempts"`
	Succeeded int       `json:"succeeded"`
	Failures  []failure `json:"failures,omitempty"`
	Seconds   float64   `json:"seconds"`

	mu sync.Mutex
}

// failure is one failed exchange.
type failure struct {
	LocalPort uint16 `json:"local_port"`
	Stage     string `json:"stage"` // "connect" or "exchange"
	Err       string `json:"error"`
}

// Run runs the exchanges in the calling thread's network namespace.
func (x exchanges) Run(ctx context.Context) *exchangeResult {
	res := &exchangeResult{Attempts: x.N}
	start := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range max(x.Concurrency, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= x.N || ctx.Err() != nil {
					return
				}
				port := x.Port + uint16(i)
				stage, err := x.exchange(ctx, i, port)
				res.mu.Lock()
				if err != nil {
					res.Failures = append(res.Failures, failure{LocalPort: port, Stage: stage, Err: err.Error()})
				} else {
					res.Succeeded++
				}
				res.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	return res
}

func (x exchanges) exchange(ctx context.Context, i int, port uint16) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, x.Timeout)
	defer cancel()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(x.From, port))}
	c, err := d.DialContext(ctx, "tcp4", x.To.String())
	if err != nil {
		return "connect", err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "req %d\n", i); err != nil {
		return "exchange", err
	}
	b, err := io.ReadAll(c)
	if err != nil {
		return "exchange", err
	}
	if want := fmt.Sprintf("resp %d ", i); !strings.HasPrefix(string(b), want) {
		return "exchange", fmt.Errorf("answer %q, want %q...", b, want)
	}
	return "", nil
}

// serveExchanges answers exchanges on ln until it is closed: one line
// in, "resp N" plus a little padding out, then close.
func serveExchanges(ln net.Listener) {
	pad := strings.Repeat("x", 200)
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				return
			}
			n, _ := strings.CutPrefix(strings.TrimSpace(line), "req ")
			fmt.Fprintf(c, "resp %s %s\n", n, pad)
		}()
	}
}

// tcpServerHelper: --helper tcp-server -listen ADDR [-ready FILE]
func tcpServerHelper(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("tcp-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "address:port to listen on")
	ready := fs.String("ready", "", "file to create once listening")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		fmt.Fprintln(stderr, "tcp-server:", err)
		return 1
	}
	go serveExchanges(ln)
	fmt.Fprintln(stderr, "tcp-server: listening on", ln.Addr())
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			fmt.Fprintln(stderr, "tcp-server:", err)
			return 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	_ = ln.Close()
	return 0
}

// tcpClientHelper: --helper tcp-client -to ADDR:PORT -from ADDR
// [-port P] [-n N] [-c C] [-timeout D]; prints an ExchangeResult.
func tcpClientHelper(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tcp-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "server address:port")
	from := fs.String("from", "", "local address")
	port := fs.Uint("port", 40000, "local port of the first exchange")
	n := fs.Int("n", 100, "exchanges")
	c := fs.Int("c", 25, "exchanges at once")
	timeout := fs.Duration("timeout", 2*time.Second, "per exchange")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	x := exchanges{Port: uint16(*port), N: *n, Concurrency: *c, Timeout: *timeout}
	var err error
	if x.To, err = netip.ParseAddrPort(*to); err == nil {
		x.From, err = netip.ParseAddr(*from)
	}
	if err == nil && (int(x.Port)+x.N > 65535 || x.N <= 0) {
		err = errors.New("ports out of range")
	}
	if err != nil {
		fmt.Fprintln(stderr, "tcp-client:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res := x.Run(ctx)
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return 1
	}
	return 0
}
