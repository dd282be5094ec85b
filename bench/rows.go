//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

// Addresses of the two ends of every row.
const (
	srcMAC = "02:74:67:62:00:01"
	dstMAC = "02:74:67:62:00:02"
	srcIP  = "10.201.0.1"
	dstIP  = "10.201.0.2"
	sinkIP = "10.201.0.99" // pps frames' destination, on no interface
	prefix = "/24"
)

// path is one built row: who sends, who receives, through what.
type path struct {
	name           string
	snd, rcv       *nstest.NS
	txDev          string   // sender's interface (in snd)
	rxDevs         []string // receiver's interfaces counted (in rcv)
	srcMAC, dstMAC string
	srcIP, dstIP   string
	daemonPid      int // teamd-go's pid, for the memory run; 0 if none
	notes          []string
}

// row is one line of the table.
type row struct {
	name  string
	build func(ctx context.Context, cl *cleanups, o *options) (*path, error)
}

// unavailable marks a row that cannot run here (a missing program, a
// daemon that does not start): reported as "not available: reason".
type unavailable struct{ reason string }

func (u *unavailable) Error() string { return u.reason }

func notAvailable(format string, args ...any) error {
	return &unavailable{reason: fmt.Sprintf(format, args...)}
}

func allRows() []row {
	return []row{
		{"veth", buildVeth},
		{"linux-bridge", buildLinuxBridge},
		{"ovs-netdev", func(ctx context.Context, cl *cleanups, o *options) (*path, error) {
			return buildOVS(ctx, cl, o, false)
		}},
		{"ovs-netdev-tso", func(ctx context.Context, cl *cleanups, o *options) (*path, error) {
			return buildOVS(ctx, cl, o, true)
		}},
		{"teamd-go-af_packet", func(ctx context.Context, cl *cleanups, o *options) (*path, error) {
			return buildTeamd(ctx, cl, o, "af_packet")
		}},
		{"teamd-go-xdp", func(ctx context.Context, cl *cleanups, o *options) (*path, error) {
			return buildTeamd(ctx, cl, o, "xdp")
		}},
	}
}

func findRow(rows []row, name string) (row, bool) {
	for _, r := range rows {
		if r.name == name {
			return r, true
		}
	}
	return row{}, false
}

func rowNames(rows []row) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.name)
	}
	return strings.Join(s, ", ")
}

// runRow builds a row, measures it and tears it down.
func runRow(ctx context.Context, cl *cleanups, o *options, r row) (res Result) {
	res.Name = r.name
	mark := cl.depth()
	defer func() {
		cl.unwindTo(mark)
		// Let the kernel finish tearing down before the next row.
		time.Sleep(500 * time.Millisecond)
	}()
	fail := func(what string, err error) {
		var u *unavailable
		switch {
		case errors.As(err, &u):
			res.note("not available: %s", u.reason)
		case ctx.Err() != nil:
			res.note("%s: interrupted", what)
		default:
			res.note("%s: %v", what, err)
		}
	}

	p, err := r.build(ctx, cl, o)
	if err != nil {
		fail("setup", err)
		return res
	}
	p.name = r.name
	if err := reach(ctx, p, 10*time.Second); err != nil {
		if p.daemonPid != 0 {
			err = notAvailable("%v", err)
		}
		fail("setup", err)
		return res
	}
	for _, n := range p.notes {
		res.note("%s", n)
	}

	logf("   pps for %v", o.duration)
	if rx, tx, err := measurePPS(ctx, cl, o, p); err != nil {
		fail("pps", err)
	} else {
		rx, tx = math.Round(rx), math.Round(tx)
		res.PPSRx, res.PPSTx = &rx, &tx
	}
	if ctx.Err() != nil {
		return res
	}
	logf("   tcp for %v", o.duration)
	if g, err := measureTCP(ctx, cl, o, p); err != nil {
		fail("tcp", err)
	} else {
		g = math.Round(g*1000) / 1000
		res.TCPGbps = &g
	}
	if ctx.Err() != nil || p.daemonPid == 0 || o.memory <= 0 {
		return res
	}
	logf("   memory for %v", o.memory)
	start, end, peak, err := measureMemory(ctx, cl, o, p)
	if err != nil {
		fail("memory", err)
		return res
	}
	res.RSSKBStart, res.RSSKBEnd, res.RSSKBMax = &start, &end, &peak
	if float64(end-start) < 0.1*float64(start) {
		res.note("rss flat over %v", o.memory)
	} else {
		res.note("rss grew %.0f%% over %v", 100*float64(end-start)/float64(start), o.memory)
	}
	return res
}

// twoHosts makes the sender and receiver namespaces.
func twoHosts(cl *cleanups, sndRole, rcvRole string) (snd, rcv *nstest.NS, err error) {
	if snd, err = newNS(cl, sndRole); err != nil {
		return nil, nil, err
	}
	if rcv, err = newNS(cl, rcvRole); err != nil {
		return nil, nil, err
	}
	return snd, rcv, nil
}

func newPath(snd, rcv *nstest.NS, txDev string, rxDevs ...string) *path {
	return &path{snd: snd, rcv: rcv, txDev: txDev, rxDevs: rxDevs,
		srcMAC: srcMAC, dstMAC: dstMAC, srcIP: srcIP, dstIP: dstIP}
}

// buildVeth: sender eth0 <-> receiver eth0.
func buildVeth(_ context.Context, cl *cleanups, _ *options) (*path, error) {
	snd, rcv, err := twoHosts(cl, "snd", "rcv")
	if err != nil {
		return nil, err
	}
	if err := veth(snd, "eth0", rcv, "eth0"); err != nil {
		return nil, err
	}
	if err := hostPair(snd, "eth0", rcv, "eth0"); err != nil {
		return nil, err
	}
	p := newPath(snd, rcv, "eth0", "eth0")
	p.notes = []string{"default offloads"}
	return p, nil
}

func hostPair(snd *nstest.NS, sdev string, rcv *nstest.NS, rdev string) error {
	if err := host(snd, sdev, srcMAC, srcIP+prefix); err != nil {
		return err
	}
	return host(rcv, rdev, dstMAC, dstIP+prefix)
}

// middle builds sender eth0 <-> mid tgbs, mid tgbr <-> receiver eth0.
func middle(cl *cleanups) (snd, mid, rcv *nstest.NS, err error) {
	if snd, rcv, err = twoHosts(cl, "snd", "rcv"); err != nil {
		return
	}
	if mid, err = newNS(cl, "mid"); err != nil {
		return
	}
	if err = veth(snd, "eth0", mid, "tgbs"); err != nil {
		return
	}
	if err = veth(mid, "tgbr", rcv, "eth0"); err != nil {
		return
	}
	err = hostPair(snd, "eth0", rcv, "eth0")
	return
}

// buildLinuxBridge: a Linux bridge in a middle namespace.
func buildLinuxBridge(_ context.Context, cl *cleanups, _ *options) (*path, error) {
	snd, mid, rcv, err := middle(cl)
	if err != nil {
		return nil, err
	}
	if err := linuxBridge(mid, "tgbbr0", "tgbs", "tgbr"); err != nil {
		return nil, err
	}
	p := newPath(snd, rcv, "eth0", "eth0")
	p.notes = []string{"default offloads"}
	return p, nil
}

// buildOVS: Open vSwitch's userspace datapath in a middle namespace,
// ovs-vswitchd on the forwarding CPU. Without userspace TSO the hosts'
// offloads go off (see ovstest); with it they keep the defaults.
func buildOVS(_ context.Context, cl *cleanups, o *options, tso bool) (*path, error) {
	if err := ovstest.Available(); err != nil {
		return nil, notAvailable("%v", err)
	}
	snd, mid, rcv, err := middle(cl)
	if err != nil {
		return nil, err
	}
	opts := []ovstest.Option{ovstest.CPUs(fwdCPU)}
	if tso {
		opts = append(opts, ovstest.UserspaceTSO())
	}
	// In the run's directory, so that removeStale finds it after a crash.
	dir := filepath.Join(o.dir, "ovs")
	cl.push(func() { _ = os.RemoveAll(dir) })
	sw, err := ovstest.StartProcess(mid.Name, dir, opts...)
	if err != nil {
		return nil, err
	}
	cl.push(func() { _ = sw.Stop() })
	if err := sw.AddBridge("tgbbr0"); err != nil {
		return nil, err
	}
	for _, port := range []string{"tgbs", "tgbr"} {
		if err := sw.AddPort("tgbbr0", port); err != nil {
			return nil, err
		}
	}
	p := newPath(snd, rcv, "eth0", "eth0")
	version, _ := sw.Vsctl("--version")
	version, _, _ = strings.Cut(version, "\n")
	version = strings.TrimPrefix(version, "ovs-vsctl (Open vSwitch) ")
	if tso {
		p.notes = []string{"ovs " + version + ", userspace-tso-enable, default offloads", "ovs-vswitchd on cpu" + fwdCPU}
		return p, nil
	}
	for _, h := range []*nstest.NS{snd, rcv} {
		if err := offloadsOff(h, "eth0"); err != nil {
			return nil, err
		}
	}
	p.notes = []string{"ovs " + version + ", offloads off on hosts", "ovs-vswitchd on cpu" + fwdCPU}
	return p, nil
}

// buildTeamd: the sender is a VM whose veth's host end is a vnic of a
// teamd-go team in a host namespace; the team's two members are veths to
// the receiver, which bridges its two ends. The VM keeps default offloads:
// the team must carry GSO frames.
//
//	vm: eth0 --- host: tgbvm1 [teamd-go] tgbm1 --- rcv: tgbr1 \ tgbbr0
//	                                     tgbm2 --- rcv: tgbr2 /
func buildTeamd(ctx context.Context, cl *cleanups, o *options, backend string) (*path, error) {
	bin, err := filepath.Abs(o.teamd)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil {
		return nil, notAvailable("%s: %v (build it: go build -o bin/teamd-go ./cmd/teamd-go)", o.teamd, errors.Unwrap(err))
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return nil, notAvailable("%s is not an executable", o.teamd)
	}
	vm, rcv, err := twoHosts(cl, "vm", "rcv")
	if err != nil {
		return nil, err
	}
	hostNS, err := newNS(cl, "host")
	if err != nil {
		return nil, err
	}
	if err := veth(vm, "eth0", hostNS, "tgbvm1"); err != nil {
		return nil, err
	}
	if err := host(vm, "eth0", srcMAC, srcIP+prefix); err != nil {
		return nil, err
	}
	for _, i := range []string{"1", "2"} {
		if err := veth(hostNS, "tgbm"+i, rcv, "tgbr"+i); err != nil {
			return nil, err
		}
	}
	if err := linuxBridge(rcv, "tgbbr0", "tgbr1", "tgbr2"); err != nil {
		return nil, err
	}
	if err := host(rcv, "tgbbr0", dstMAC, dstIP+prefix); err != nil {
		return nil, err
	}

	team := "tgbbench"
	cfg := filepath.Join(o.dir, "teamd-go-"+backend+".yaml")
	conf := fmt.Sprintf(`# written by teamd-go bench
team: %s
mode: switch-independent
balance: hyperv-port
backend: %s
members:
  - name: tgbm1
    primary: true
  - name: tgbm2
vnics:
  - name: tgbvm1
`, team, backend)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	d, err := startProc(cl, hostNS, "taskset", "-c", fwdCPU, bin, "-c", cfg)
	if err != nil {
		return nil, notAvailable("%v", err)
	}
	// A daemon that exits at once (unsupported backend, bad config) is
	// "not available"; one that stays up is checked by reach.
	if !sleep(ctx, time.Second) {
		return nil, ctx.Err()
	}
	if d.exited() {
		return nil, notAvailable("teamd-go exited at start (%v): %s", d.err, d.lastLine())
	}
	p := newPath(vm, rcv, "eth0", "tgbr1", "tgbr2")
	p.daemonPid = d.cmd.Process.Pid
	p.notes = []string{"switch-independent hyperv-port, VM default offloads", "teamd-go on cpu" + fwdCPU}
	return p, nil
}
