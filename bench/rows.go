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

	"github.com/teamd-go/teamd-go/internal/testbed"
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
	snd, rcv       *testbed.NS
	txDev          string   // sender's interface (in snd)
	rxDevs         []string // receiver's interfaces counted (in rcv)
	srcMAC, dstMAC string
	srcIP, dstIP   string
	daemonPid      int    // the forwarding daemon's pid (teamd-go, ovs-vswitchd); 0 if none
	memoryRun      bool   // the daemon's RSS is sampled over a full-rate run (teamd-go)
	slowGen        bool   // trafgen runs on its sendto path (see startTrafgen)
	slowWhy        string // what its fast path said
	notes          []string
}

// row is one line of the table.
type row struct {
	name  string
	build func(ctx context.Context, b *testbed.Bed, o *options) (*path, error)
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
		{"ovs-netdev", func(ctx context.Context, b *testbed.Bed, o *options) (*path, error) {
			return buildOVS(ctx, b, o, false)
		}},
		{"ovs-netdev-tso", func(ctx context.Context, b *testbed.Bed, o *options) (*path, error) {
			return buildOVS(ctx, b, o, true)
		}},
		{"teamd-go-af_packet", func(ctx context.Context, b *testbed.Bed, o *options) (*path, error) {
			return buildTeamd(ctx, b, o, testbed.AFPacket, false)
		}},
		{"teamd-go-af_packet-vlan", func(ctx context.Context, b *testbed.Bed, o *options) (*path, error) {
			return buildTeamd(ctx, b, o, testbed.AFPacket, true)
		}},
		{"teamd-go-xdp", func(ctx context.Context, b *testbed.Bed, o *options) (*path, error) {
			return buildTeamd(ctx, b, o, testbed.XDP, false)
		}},
		{"teamd-go-xdp-vlan", func(ctx context.Context, b *testbed.Bed, o *options) (*path, error) {
			return buildTeamd(ctx, b, o, testbed.XDP, true)
		}},
	}
}

func (r row) named() string { return r.name }

// find returns the item of l called name.
func find[T interface{ named() string }](l []T, name string) (T, bool) {
	for _, x := range l {
		if x.named() == name {
			return x, true
		}
	}
	var zero T
	return zero, false
}

// names lists l's names, comma-separated.
func names[T interface{ named() string }](l []T) string {
	var s []string
	for _, x := range l {
		s = append(s, x.named())
	}
	return strings.Join(s, ", ")
}

// runRow builds a row, measures it and tears it down.
func runRow(ctx context.Context, b *testbed.Bed, o *options, r row) (res Result) {
	res.Name = r.name
	mark := b.Depth()
	defer func() {
		b.UnwindTo(mark)
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

	p, err := r.build(ctx, b, o)
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

	if o.rttCount > 0 {
		logf("   rtt, %d pings at %d/s", o.rttCount, o.rttRate)
		if r, err := measureRTT(ctx, o, p); err != nil {
			fail("rtt", err)
		} else {
			res.RTTP50, res.RTTP99, res.RTTMax = &r.p50, &r.p99, &r.max
			res.RTTReplies, res.RTTLost = &r.replies, &r.lost
			if r.cpuPct >= 0 {
				pct := math.Round(r.cpuPct*100) / 100
				res.RTTCPUPct = &pct
			}
		}
		if ctx.Err() != nil {
			return res
		}
	}
	logf("   pps for %v", o.duration)
	if rx, tx, err := measurePPS(ctx, b, o, p); err != nil {
		fail("pps", err)
	} else {
		rx, tx = math.Round(rx), math.Round(tx)
		res.PPSRx, res.PPSTx = &rx, &tx
	}
	if p.slowGen {
		res.note("trafgen -t 0: %s", p.slowWhy)
	}
	if ctx.Err() != nil {
		return res
	}
	logf("   tcp for %v", o.duration)
	if g, err := measureTCP(ctx, b, o, p); err != nil {
		fail("tcp", err)
	} else {
		g = math.Round(g*1000) / 1000
		res.TCPGbps = &g
	}
	if ctx.Err() != nil || p.daemonPid == 0 {
		return res
	}
	if p.memoryRun && o.memory > 0 {
		logf("   memory for %v", o.memory)
		if start, end, peak, err := measureMemory(ctx, b, o, p); err != nil {
			fail("memory", err)
		} else {
			res.RSSKBStart, res.RSSKBEnd, res.RSSKBMax = &start, &end, &peak
			if float64(end-start) < 0.1*float64(start) {
				res.note("rss flat over %v", o.memory)
			} else {
				res.note("rss grew %.0f%% over %v", 100*float64(end-start)/float64(start), o.memory)
			}
		}
		if ctx.Err() != nil {
			return res
		}
	}
	// Last, after all the traffic: a daemon that keeps spinning once
	// the traffic is gone shows here.
	logf("   idle for %v", o.idle)
	if pct, kb, err := measureIdle(ctx, o, p.daemonPid); err != nil {
		fail("idle", err)
	} else {
		pct = math.Round(pct*100) / 100
		res.IdleCPUPct, res.RSSKB = &pct, &kb
	}
	return res
}

// The two hosts' addresses.
var (
	sndHost = testbed.Iface{NS: "snd", Dev: "eth0", MAC: srcMAC, Addrs: []string{srcIP + prefix}}
	rcvHost = testbed.Iface{NS: "rcv", Dev: "eth0", MAC: dstMAC, Addrs: []string{dstIP + prefix}}
)

func newPath(snd, rcv *testbed.NS, txDev string, rxDevs ...string) *path {
	return &path{snd: snd, rcv: rcv, txDev: txDev, rxDevs: rxDevs,
		srcMAC: srcMAC, dstMAC: dstMAC, srcIP: srcIP, dstIP: dstIP}
}

// vethTopology: sender eth0 <-> receiver eth0.
var vethTopology = testbed.Topology{
	Namespaces: testbed.Roles("snd", "rcv"),
	Links:      []testbed.Link{testbed.Pair("snd", "eth0", "rcv", "eth0")},
	Ifaces:     []testbed.Iface{sndHost, rcvHost},
}

// middleTopology: sender eth0 <-> mid tgbs, mid tgbr <-> receiver eth0,
// and whatever forwards in mid.
func middleTopology() testbed.Topology {
	return testbed.Topology{
		Namespaces: testbed.Roles("snd", "rcv", "mid"),
		Links: []testbed.Link{
			testbed.Pair("snd", "eth0", "mid", "tgbs"),
			testbed.Pair("mid", "tgbr", "rcv", "eth0"),
		},
		Ifaces: []testbed.Iface{sndHost, rcvHost},
	}
}

// hostsPath builds t and returns the path from snd's eth0 to rcv's.
func hostsPath(ctx context.Context, b *testbed.Bed, t testbed.Topology, notes ...string) (*path, *testbed.Net, error) {
	n, err := testbed.Build(ctx, b, t)
	if err != nil {
		return nil, n, err
	}
	p := newPath(n.NS("snd"), n.NS("rcv"), "eth0", "eth0")
	p.notes = notes
	return p, n, nil
}

func buildVeth(ctx context.Context, b *testbed.Bed, _ *options) (*path, error) {
	p, _, err := hostsPath(ctx, b, vethTopology, "default offloads")
	return p, err
}

// buildLinuxBridge: a Linux bridge in a middle namespace.
func buildLinuxBridge(ctx context.Context, b *testbed.Bed, _ *options) (*path, error) {
	t := middleTopology()
	t.Bridges = []testbed.Bridge{{NS: "mid", Name: "tgbbr0", Ports: []string{"tgbs", "tgbr"}}}
	p, _, err := hostsPath(ctx, b, t, "default offloads")
	return p, err
}

// buildOVS: Open vSwitch's userspace datapath in a middle namespace,
// ovs-vswitchd on the forwarding CPU. Without userspace TSO the hosts'
// offloads go off (see internal/testbed); with it they keep the defaults.
func buildOVS(ctx context.Context, b *testbed.Bed, _ *options, tso bool) (*path, error) {
	if err := testbed.OVSAvailable(); err != nil {
		return nil, notAvailable("%v", err)
	}
	t := middleTopology()
	sw := testbed.SwitchSpec{NS: "mid", Name: "ovs", Options: []testbed.OVSOption{testbed.CPUs(fwdCPU)},
		Bridges: []testbed.OVSBridge{{Name: "tgbbr0", Ports: []string{"tgbs", "tgbr"}}}}
	note := "offloads off on hosts"
	if tso {
		sw.Options = append(sw.Options, testbed.UserspaceTSO())
		note = "userspace-tso-enable, default offloads"
	} else {
		for i := range t.Ifaces {
			t.Ifaces[i].OffloadsOff = []string{"tx", "tso", "gso", "gro"}
		}
	}
	t.Switches = []testbed.SwitchSpec{sw}
	p, n, err := hostsPath(ctx, b, t)
	if err != nil {
		return nil, err
	}
	p.daemonPid = n.Switch("mid").Pid()
	p.notes = []string{"ovs " + n.Switch("mid").Version() + ", " + note, "ovs-vswitchd on cpu" + fwdCPU}
	return p, nil
}

// daemonBin checks the teamd-go binary the bench runs.
func daemonBin(o *options) (string, error) {
	bin, err := filepath.Abs(o.teamd)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(bin); err != nil {
		return "", notAvailable("%s: %v (build it: go build -o bin/teamd-go ./cmd/teamd-go)", o.teamd, errors.Unwrap(err))
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", notAvailable("%s is not an executable", o.teamd)
	}
	return bin, nil
}

// teamdTopology: the sender is a VM whose veth's host end is a vnic of a
// teamd-go team in a host namespace; the team's two members are veths to
// the receiver. The VM keeps default offloads: the team must carry GSO
// frames. The daemon runs on the forwarding CPU. With vlan the vnic is an
// access port of VLAN 10: the team pushes the tag on every frame to the
// members and pops it on the way back, and the receiver's ends are VLAN
// 10 endpoints (vlanEndpoints).
//
// The receiver is a host with two NICs of one MAC, the address on the
// first (as the end of a switch-independent team would be), not a bridge
// over them: a frame costs it what it costs the veth row's receiver (one
// route lookup, then the drop), and the row measures what the team adds.
// A bridge there would charge the daemon's CPU with its lookups and
// br_netfilter's hooks (about a fifth of that CPU at 64 bytes), since a
// veth delivers in the sender's softirq. Replies leave on tgbr1; a frame
// the team sends on tgbm2 is received and counted the same way.
//
//	vm: eth0 --- host: tgbvm1 [teamd-go] tgbm1 --- rcv: tgbr1 (dstMAC, dstIP)
//	                                     tgbm2 --- rcv: tgbr2 (dstMAC)
func teamdTopology(o *options, backend string, vlan bool) testbed.Topology {
	name, vnic := "teamd-go-"+backend, "  - name: tgbvm1\n"
	if vlan {
		name += "-vlan"
		vnic += "    vlan: {access: 10}\n"
	}
	return testbed.Topology{
		Namespaces: testbed.Roles("vm", "rcv", "host"),
		Links: []testbed.Link{
			testbed.Pair("vm", "eth0", "host", "tgbvm1"),
			testbed.Pair("host", "tgbm1", "rcv", "tgbr1"),
			testbed.Pair("host", "tgbm2", "rcv", "tgbr2"),
		},
		Ifaces: []testbed.Iface{
			{NS: "vm", Dev: "eth0", MAC: srcMAC, Addrs: []string{srcIP + prefix}},
			{NS: "rcv", Dev: "tgbr1", MAC: dstMAC, Addrs: []string{dstIP + prefix}},
			// Loose reverse-path filtering: a reply to the VM leaves on
			// tgbr1 whichever end the VM's frames came in on.
			{NS: "rcv", Dev: "tgbr2", MAC: dstMAC, Sysctls: []string{"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.tgbr2.rp_filter=0"}},
		},
		Daemons: []testbed.DaemonAt{{Name: "team", NS: "host", Spec: testbed.DaemonSpec{
			Team: "tgbbench", Backend: backend, CPUs: fwdCPU,
			ConfigPath: filepath.Join(o.dir, name+".yaml"),
			Config: `mode: switch-independent
balance: hyperv-port
members:
  - name: tgbm1
    primary: true
  - name: tgbm2
vnics:
` + vnic}}},
	}
}

// vlanEndpoints makes the receiver's ends tgbr1 and tgbr2 endpoints of
// VLAN 10, as 802.1Q devices on them would be (this bench's kernel may
// have none): tc programs take the tag off what arrives, before the
// stack, and put it (out of band, as tx-vlan-offload would) on what
// leaves.
func vlanEndpoints(b *testbed.Bed, rcv *testbed.NS) error {
	for _, dev := range []string{"tgbr1", "tgbr2"} {
		pop, err := rcv.PopVLAN(dev)
		if err != nil {
			return err
		}
		b.Defer(pop.Close)
		push, err := rcv.PushVLAN(dev, 0x8100, 10)
		if err != nil {
			return err
		}
		b.Defer(push.Close)
	}
	return nil
}

// buildTeamd: teamdTopology. A daemon that does not come up (unsupported
// backend, bad config) makes the row "not available".
func buildTeamd(ctx context.Context, b *testbed.Bed, o *options, backend string, vlan bool) (*path, error) {
	if _, err := daemonBin(o); err != nil {
		return nil, err
	}
	n, err := testbed.Build(ctx, b, teamdTopology(o, backend, vlan))
	if errors.Is(err, testbed.ErrDaemonStart) {
		return nil, notAvailable("%v", err)
	} else if err != nil {
		return nil, err
	}
	p := newPath(n.NS("vm"), n.NS("rcv"), "eth0", "tgbr1", "tgbr2")
	p.daemonPid, p.memoryRun = n.Daemon("team").Proc.Pid(), true
	p.notes = []string{"switch-independent hyperv-port, VM default offloads", "teamd-go on cpu" + fwdCPU}
	if vlan {
		if err := vlanEndpoints(b, n.NS("rcv")); err != nil {
			return nil, err
		}
		p.notes = append(p.notes, "vnic access VLAN 10, members tagged")
	}
	return p, nil
}
