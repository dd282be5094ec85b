//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// CPU plan for the 2-core machine: the traffic generator on CPU 0, the
// forwarding daemon (ovs-vswitchd, teamd-go) on CPU 1. Kernel forwarding
// (veth, Linux bridge) runs in softirq on the sender's CPU. iperf3 is not
// pinned: with a daemon in the path three busy threads share two CPUs and
// the scheduler places them best.
const (
	genCPU = "0"
	fwdCPU = "1"
)

// warmup is traffic sent before the counters are read.
const warmup = time.Second

// trafgenConfig is one 64-byte frame (60 bytes + the FCS a real NIC adds):
// Ethernet to the receiver's MAC, IPv4, UDP to the discard port, 18 bytes
// of zeros. The IPv4 destination is sinkIP, an address the receiver does
// not have: with forwarding off it drops the frame after one route lookup,
// so the receiver's stack costs little and the rate measures the path.
func trafgenConfig(p *path) (string, error) {
	src, err := net.ParseMAC(p.srcMAC)
	if err != nil {
		return "", err
	}
	dst, err := net.ParseMAC(p.dstMAC)
	if err != nil {
		return "", err
	}
	sip, dip := net.ParseIP(p.srcIP).To4(), net.ParseIP(sinkIP).To4()
	if sip == nil || dip == nil {
		return "", fmt.Errorf("addresses %s, %s are not IPv4", p.srcIP, p.dstIP)
	}
	hex := func(b []byte) string {
		s := make([]string, len(b))
		for i, c := range b {
			s[i] = fmt.Sprintf("0x%02x", c)
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf(`/* 64-byte frame written by teamd-go bench */
{
  %s,
  %s,
  c16(0x0800),
  0x45, 0x00, c16(46), c16(0), 0x40, 0x00, 64, 17, csumip(14, 33),
  %s,
  %s,
  c16(1024), c16(9), c16(26), c16(0),
  fill(0x00, 18),
}
`, hex(dst), hex(src), hex(sip), hex(dip)), nil
}

// startTrafgen sends the path's frame at full rate from one process on
// the generator CPU. --no-sock-mem and --notouch-irq keep trafgen from
// changing machine-wide settings (the machine is shared).
func startTrafgen(cl *cleanups, o *options, p *path) (*proc, error) {
	cfg, err := trafgenConfig(p)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(o.dir, "frame-"+p.name+".cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return startProc(cl, p.snd, "taskset", "-c", genCPU,
		"trafgen", "--dev", p.txDev, "--conf", file, "--cpus", "1", "--no-sock-mem", "--notouch-irq")
}

// measurePPS runs trafgen for d after a warm-up and returns the receive
// and transmit rates from the interface counters.
func measurePPS(ctx context.Context, cl *cleanups, o *options, p *path) (rx, tx float64, err error) {
	rxc, err := openCounters(p.rcv.Name)
	if err != nil {
		return 0, 0, err
	}
	defer rxc.close()
	txc, err := openCounters(p.snd.Name)
	if err != nil {
		return 0, 0, err
	}
	defer txc.close()

	mark := cl.depth()
	defer cl.unwindTo(mark)
	gen, err := startTrafgen(cl, o, p)
	if err != nil {
		return 0, 0, err
	}
	if !sleep(ctx, warmup) {
		return 0, 0, ctx.Err()
	}
	if gen.exited() {
		return 0, 0, fmt.Errorf("trafgen exited: %s", gen.lastLine())
	}
	read := func() (r, t uint64, at time.Time, err error) {
		at = time.Now()
		if r, err = rxc.sum(p.rxDevs, true); err != nil {
			return
		}
		t, err = txc.sum([]string{p.txDev}, false)
		return
	}
	r0, t0, at0, err := read()
	if err != nil {
		return 0, 0, err
	}
	if !sleep(ctx, o.duration) {
		return 0, 0, ctx.Err()
	}
	r1, t1, at1, err := read()
	if err != nil {
		return 0, 0, err
	}
	if gen.exited() {
		return 0, 0, fmt.Errorf("trafgen exited: %s", gen.lastLine())
	}
	gen.stop(syscall.SIGINT)
	secs := at1.Sub(at0).Seconds()
	return float64(r1-r0) / secs, float64(t1-t0) / secs, nil
}

// counters reads interface statistics in a namespace over netlink.
type counters struct {
	nsh netns.NsHandle
	h   *netlink.Handle
}

func openCounters(ns string) (*counters, error) {
	nsh, err := netns.GetFromName(ns)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		nsh.Close()
		return nil, fmt.Errorf("netlink in %s: %w", ns, err)
	}
	return &counters{nsh: nsh, h: h}, nil
}

func (c *counters) close() {
	c.h.Close()
	c.nsh.Close()
}

// sum adds rx_packets (rx) or tx_packets of devs.
func (c *counters) sum(devs []string, rx bool) (uint64, error) {
	var n uint64
	for _, d := range devs {
		l, err := c.h.LinkByName(d)
		if err != nil {
			return 0, fmt.Errorf("link %s: %w", d, err)
		}
		st := l.Attrs().Statistics
		if st == nil {
			return 0, fmt.Errorf("link %s: no statistics", d)
		}
		if rx {
			n += st.RxPackets
		} else {
			n += st.TxPackets
		}
	}
	return n, nil
}

// measureTCP runs an iperf3 client in the sender against a server in the
// receiver for d and returns the received throughput in Gbit/s.
func measureTCP(ctx context.Context, cl *cleanups, o *options, p *path) (float64, error) {
	mark := cl.depth()
	defer cl.unwindTo(mark)
	const port = "5201"
	srv, err := startProc(cl, p.rcv, "iperf3", "-s", "-1", "-B", p.dstIP, "-p", port)
	if err != nil {
		return 0, err
	}
	// Wait until it listens; a probe connection would count as a test.
	for i := 0; ; i++ {
		out, _ := p.rcv.Run("ss", "-Hltn", "sport = :"+port)
		if strings.TrimSpace(out) != "" {
			break
		}
		if srv.exited() || i == 100 {
			return 0, fmt.Errorf("iperf3 server not listening: %s", srv.lastLine())
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return 0, ctx.Err()
		}
	}
	secs := strconv.Itoa(int(math.Ceil(o.duration.Seconds())))
	cli, err := startProc(cl, p.snd, "iperf3", "-c", p.dstIP, "-p", port, "-t", secs, "-J", "--connect-timeout", "5000")
	if err != nil {
		return 0, err
	}
	select {
	case <-cli.done:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(o.duration + 30*time.Second):
		return 0, errors.New("iperf3 client did not finish")
	}
	var r struct {
		Error string `json:"error"`
		End   struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(cli.out.String()), &r); err != nil {
		return 0, fmt.Errorf("iperf3 output: %w: %.200s", err, cli.out.String())
	}
	if r.Error != "" {
		return 0, fmt.Errorf("iperf3: %s", r.Error)
	}
	if cli.err != nil {
		return 0, fmt.Errorf("iperf3: %w", cli.err)
	}
	return r.End.SumReceived.BitsPerSecond / 1e9, nil
}

// rss is a process's VmRSS in kB.
func rss(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// measureMemory sends at full rate for o.memory and samples the daemon's
// RSS every second. start is the sample after the first second of
// traffic, so buffers sized at first use count as the baseline.
func measureMemory(ctx context.Context, cl *cleanups, o *options, p *path) (start, end, peak int64, err error) {
	mark := cl.depth()
	defer cl.unwindTo(mark)
	gen, err := startTrafgen(cl, o, p)
	if err != nil {
		return 0, 0, 0, err
	}
	n := int(o.memory / time.Second)
	if n < 2 {
		n = 2
	}
	for i := 1; i <= n; i++ {
		if !sleep(ctx, time.Second) {
			return 0, 0, 0, ctx.Err()
		}
		if gen.exited() {
			return 0, 0, 0, fmt.Errorf("trafgen exited: %s", gen.lastLine())
		}
		v, err := rss(p.daemonPid)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("daemon gone during the memory run: %w", err)
		}
		if i == 1 {
			start = v
		}
		end, peak = v, max(peak, v)
	}
	gen.stop(syscall.SIGINT)
	return start, end, peak, nil
}
