package ovstest_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

func TestMain(m *testing.M) {
	// Everything this package creates is recognisable as ours.
	nstest.Prefix = fmt.Sprintf("tgb%d", os.Getpid()%100000)
	os.Exit(m.Run())
}

// hosts builds two host namespaces, a and b, each with eth0 (10.99.0.1 and
// 10.99.0.2) plugged into an OVS bridge in a third namespace.
func hosts(t *testing.T, offloadsOff bool, opts ...ovstest.Option) (a, b *nstest.NS, sw *ovstest.Switch) {
	t.Helper()
	nstest.Require(t)
	nstest.RequireTool(t, "ethtool")
	swNS := nstest.NewNS(t, "sw")
	sw = ovstest.Start(t, swNS, opts...)
	a, b = nstest.NewNS(t, "a"), nstest.NewNS(t, "b")
	for i, h := range []*nstest.NS{a, b} {
		port := fmt.Sprintf("tgbp%d", i)
		nstest.Veth(t, swNS, port, h, "eth0")
		h.Addr(t, "eth0", fmt.Sprintf("10.99.0.%d/24", i+1))
		if offloadsOff {
			// The hosts' ends send into OVS: see the package doc.
			h.OffloadsOff(t, "eth0")
		}
	}
	if err := sw.AddBridge("tgbbr0"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"tgbp0", "tgbp1"} {
		if err := sw.AddPort("tgbbr0", p); err != nil {
			t.Fatal(err)
		}
	}
	return a, b, sw
}

func TestSwitchForwards(t *testing.T) {
	a, b, sw := hosts(t, true)

	out, err := sw.Vsctl("get", "Bridge", "tgbbr0", "datapath_type")
	if err != nil || strings.TrimSpace(out) != "netdev" {
		t.Fatalf("datapath_type = %q, %v; want netdev", out, err)
	}
	nstest.Eventually(t, 10*time.Second, func() error { return ping(a, "10.99.0.2") })
	nstest.Eventually(t, 10*time.Second, func() error { return ping(b, "10.99.0.1") })
	transfer(t, a, b, "10.99.0.2", 8<<20)
	transfer(t, b, a, "10.99.0.1", 8<<20)
}

// TestUserspaceTSO shows that with userspace TSO on, hosts with default
// offloads (GSO, checksum-partial) talk TCP through the netdev datapath.
func TestUserspaceTSO(t *testing.T) {
	a, b, sw := hosts(t, false, ovstest.UserspaceTSO())
	if out, _ := a.Run("ethtool", "-k", "eth0"); !strings.Contains(out, "tcp-segmentation-offload: on") {
		t.Fatalf("eth0 has TSO off; the test needs the defaults:\n%s", out)
	}
	if out, err := sw.Vsctl("get", "Open_vSwitch", ".", "other_config:userspace-tso-enable"); err != nil || !strings.Contains(out, "true") {
		t.Fatalf("userspace-tso-enable = %q, %v", out, err)
	}
	nstest.Eventually(t, 10*time.Second, func() error { return ping(a, "10.99.0.2") })
	transfer(t, a, b, "10.99.0.2", 32<<20)
}

// TestBondLACP runs LACP between two switches over two links.
func TestBondLACP(t *testing.T) {
	nstest.Require(t)
	left, right := nstest.NewNS(t, "l"), nstest.NewNS(t, "r")
	sl, sr := ovstest.Start(t, left), ovstest.Start(t, right)
	nstest.Veth(t, left, "tgbl1", right, "tgbr1")
	nstest.Veth(t, left, "tgbl2", right, "tgbr2")
	for _, side := range []struct {
		sw      *ovstest.Switch
		members []string
	}{{sl, []string{"tgbl1", "tgbl2"}}, {sr, []string{"tgbr1", "tgbr2"}}} {
		if err := side.sw.AddBridge("tgbbr0"); err != nil {
			t.Fatal(err)
		}
		if err := side.sw.AddBond("tgbbr0", "tgbbond0", side.members,
			"lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast"); err != nil {
			t.Fatal(err)
		}
	}
	nstest.Eventually(t, 15*time.Second, func() error {
		for _, sw := range []*ovstest.Switch{sl, sr} {
			out, err := sw.LACPShow("tgbbond0")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "negotiated") || strings.Count(out, "current attached") != 2 {
				return fmt.Errorf("lacp not negotiated on %s:\n%s", sw.NS, out)
			}
		}
		return nil
	})
	if out, err := sl.BondShow("tgbbond0"); err != nil || !strings.Contains(out, "bond_mode: balance-tcp") {
		t.Errorf("bond/show = %q, %v", out, err)
	}
}

func TestStopIsIdempotent(t *testing.T) {
	nstest.Require(t)
	ns := nstest.NewNS(t, "st")
	sw := ovstest.Start(t, ns)
	pid := sw.Pid()
	if err := sw.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := sw.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.HasPrefix(string(b), "ovs-vswitchd") {
			t.Fatalf("ovs-vswitchd %d still running after Stop", pid)
		}
	}
	if _, err := sw.Appctl("version"); err == nil {
		t.Fatal("appctl answered after Stop")
	}
}

// ping sends one ICMP echo request from ns to dst and waits a second for
// the reply (no ping(8) on the test machines).
func ping(ns *nstest.NS, dst string) error {
	var c net.PacketConn
	if err := ns.Do(func() (err error) {
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	id := uint16(rand.Uint32())
	msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 't', 'g', 'b', '!'}
	sum := checksum(msg)
	msg[2], msg[3] = byte(sum>>8), byte(sum)
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
		return fmt.Errorf("ping %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("ping %s from %s: %w", dst, ns.Name, err)
		}
		if n >= 8 && buf[0] == 0 && uint16(buf[4])<<8|uint16(buf[5]) == id {
			return nil
		}
	}
}

// checksum is the Internet checksum of b.
func checksum(b []byte) uint16 { return ^dataplanetest.Fold(dataplanetest.Sum(b, 0)) }

// transfer sends size random bytes over TCP from one namespace to a
// listener on addr in another and checks they all arrive intact.
func transfer(t *testing.T, from, to *nstest.NS, addr string, size int) {
	t.Helper()
	start := time.Now()
	sent, got, n := nstest.TCPTransfer(t, from, to, net.JoinHostPort(addr, "0"), size)
	if n != int64(size) || got != sent {
		t.Fatalf("received %d of %d bytes (intact %v)", n, size, got == sent)
	}
	t.Logf("%d MiB %s -> %s in %v", size>>20, from.Name, addr, time.Since(start).Round(time.Millisecond))
}
