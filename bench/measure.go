//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/teamd-go/teamd-go/internal/testbed"
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
//
// trafgen's fast path fills a TX_RING and flushes it with a non-blocking
// sendto, and gives up on any error of that flush but ENOBUFS. When the
// sender's veth peer runs an XDP program (the xdp row's vnic), the veth
// hands each frame to the peer's NAPI through a ring of 256 skbs instead
// of the backlog, and the skbs stay charged to trafgen's socket until
// that NAPI has redirected them into the AF_XDP socket. If the NAPI falls
// behind (deferred to ksoftirqd on a loaded CPU 0), the socket's send
// buffer (net.core.wmem_default, about 166 such skbs; --no-sock-mem
// keeps it, and it cannot be raised per namespace) is full before the
// ring is, the skb allocation fails, and the flush returns EAGAIN:
// "Flushing TX_RING failed: Resource temporarily unavailable". So a
// trafgen that dies of that flush is restarted on its slow path (-t 0:
// one blocking sendto per frame, which waits for send-buffer room
// instead of failing) and the row says so; p.slowGen keeps it for the
// row's later runs.
func startTrafgen(b *testbed.Bed, o *options, p *path) (*testbed.Proc, error) {
	cfg, err := trafgenConfig(p)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(o.dir, "frame-"+p.name+".cfg")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-c", genCPU, "trafgen", "--dev", p.txDev, "--conf", file, "--cpus", "1", "--no-sock-mem", "--notouch-irq"}
	if p.slowGen {
		args = append(args, "-t", "0")
	}
	return b.Start(p.snd, "trafgen", nil, "taskset", args...)
}

// flushFailed reports whether trafgen died of its TX_RING flush (see
// startTrafgen).
func flushFailed(gen *testbed.Proc) bool {
	return gen.Exited() && strings.Contains(gen.Output(), "Flushing TX_RING failed")
}

// startGenerator starts trafgen and checks it survives the warm-up,
// falling back once to trafgen's slow path when the TX_RING flush fails
// (see startTrafgen).
func startGenerator(ctx context.Context, b *testbed.Bed, o *options, p *path) (*testbed.Proc, error) {
	for {
		gen, err := startTrafgen(b, o, p)
		if err != nil {
			return nil, err
		}
		if !testbed.Sleep(ctx, warmup) {
			return nil, ctx.Err()
		}
		if flushFailed(gen) && !p.slowGen {
			logf("   trafgen: %s; again on its sendto path (-t 0)", gen.LastLine())
			p.slowGen, p.slowWhy = true, strings.TrimSpace(gen.LastLine())
			continue
		}
		if gen.Exited() {
			return nil, fmt.Errorf("trafgen exited: %s", gen.LastLine())
		}
		return gen, nil
	}
}

// measurePPS runs trafgen for d after a warm-up and returns the receive
// and transmit rates from the interface counters. A trafgen that dies of
// its TX_RING flush during the measurement (after a clean warm-up) is
// restarted once on its slow path and the measurement taken again.
func measurePPS(ctx context.Context, b *testbed.Bed, o *options, p *path) (rx, tx float64, err error) {
	for {
		rx, tx, gen, err := measurePPSOnce(ctx, b, o, p)
		if err != nil && slowAgain(p, gen) {
			continue
		}
		return rx, tx, err
	}
}

// slowAgain reports whether a run whose generator died should be taken
// again on trafgen's slow path: it died of its TX_RING flush and was not
// on the slow path yet (see startTrafgen). It switches p to it.
func slowAgain(p *path, gen *testbed.Proc) bool {
	if gen == nil || !flushFailed(gen) || p.slowGen {
		return false
	}
	logf("   trafgen: %s during the run; again on its sendto path (-t 0)", gen.LastLine())
	p.slowGen, p.slowWhy = true, strings.TrimSpace(gen.LastLine())
	return true
}

// measurePPSOnce is one measurement of measurePPS; it returns the
// generator it ran, if it started one.
func measurePPSOnce(ctx context.Context, b *testbed.Bed, o *options, p *path) (rx, tx float64, _ *testbed.Proc, err error) {
	rxc, err := openCounters(p.rcv.Name)
	if err != nil {
		return 0, 0, nil, err
	}
	defer rxc.close()
	txc, err := openCounters(p.snd.Name)
	if err != nil {
		return 0, 0, nil, err
	}
	defer txc.close()

	mark := b.Depth()
	defer b.UnwindTo(mark)
	gen, err := startGenerator(ctx, b, o, p)
	if err != nil {
		return 0, 0, nil, err
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
		return 0, 0, gen, err
	}
	if !testbed.Sleep(ctx, o.duration) {
		return 0, 0, gen, ctx.Err()
	}
	r1, t1, at1, err := read()
	if err != nil {
		return 0, 0, gen, err
	}
	if gen.Exited() {
		return 0, 0, gen, fmt.Errorf("trafgen exited: %s", gen.LastLine())
	}
	gen.Stop(syscall.SIGINT, 5*time.Second)
	secs := at1.Sub(at0).Seconds()
	return float64(r1-r0) / secs, float64(t1-t0) / secs, gen, nil
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
func measureTCP(ctx context.Context, b *testbed.Bed, o *options, p *path) (float64, error) {
	mark := b.Depth()
	defer b.UnwindTo(mark)
	ip, err := startIperf(ctx, b, o, p, seconds(o.duration))
	if err != nil {
		return 0, err
	}
	r, err := ip.wait(ctx)
	return r.gbps, err
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
// traffic, so buffers sized at first use count as the baseline. A
// generator that dies of its flush is handled as in measurePPS.
func measureMemory(ctx context.Context, b *testbed.Bed, o *options, p *path) (start, end, peak int64, err error) {
	for {
		var gen *testbed.Proc
		start, end, peak, gen, err = measureMemoryOnce(ctx, b, o, p)
		if err != nil && slowAgain(p, gen) {
			continue
		}
		return start, end, peak, err
	}
}

func measureMemoryOnce(ctx context.Context, b *testbed.Bed, o *options, p *path) (start, end, peak int64, gen *testbed.Proc, err error) {
	mark := b.Depth()
	defer b.UnwindTo(mark)
	gen, err = startGenerator(ctx, b, o, p)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	n := int(o.memory / time.Second)
	if n < 2 {
		n = 2
	}
	for i := 1; i <= n; i++ {
		if !testbed.Sleep(ctx, time.Second) {
			return 0, 0, 0, gen, ctx.Err()
		}
		if gen.Exited() {
			return 0, 0, 0, gen, fmt.Errorf("trafgen exited: %s", gen.LastLine())
		}
		v, err := rss(p.daemonPid)
		if err != nil {
			return 0, 0, 0, gen, fmt.Errorf("daemon gone during the memory run: %w", err)
		}
		if i == 1 {
			start = v
		}
		end, peak = v, max(peak, v)
	}
	gen.Stop(syscall.SIGINT, 5*time.Second)
	return start, end, peak, gen, nil
}
