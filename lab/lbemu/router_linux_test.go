//go:build linux

package lbemu

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/test/nstest"
)

func TestMain(m *testing.M) {
	// tgle, not tgl<digits>: `teamd-go lab down` must not take these.
	nstest.Prefix = fmt.Sprintf("tgle%d", os.Getpid()%100000)
	os.Exit(m.Run())
}

// net3 is the test network, a Router in ns lb between two hosts:
//
//	ns vm  eth0 10.1.0.10/24 (gw .1) ── in0 10.1.0.1/24   ns lb (ip_forward=0)
//	ns cl  eth0 10.2.0.10/24 (gw .1) ── out0 10.2.0.1/24
//
// Every interface keeps the kernel's default offloads (TSO, checksum
// offload): the Router passes super-frames and partial checksums through
// with their virtio-net header (see the package doc).
type net3 struct {
	vm, lb, cl *nstest.NS
	r          *Router
	vmMAC      frame.MAC
	inMAC      frame.MAC
}

func newNet3(t *testing.T, lastHop bool) *net3 {
	t.Helper()
	return newNet3Seg(t, lastHop, false)
}

// newNet3Seg is newNet3; with segment, the Router's own interfaces cannot
// send super-frames or leave checksums to the device (tso, gso, tx off),
// so the kernel segments and checksums in software every super-frame the
// Router writes, with the IPv4 header the Router rewrote.
func newNet3Seg(t *testing.T, lastHop, segment bool) *net3 {
	t.Helper()
	nstest.Require(t)
	nstest.RequireTool(t, "ethtool")
	n := &net3{vm: nstest.NewNS(t, "vm"), lb: nstest.NewNS(t, "lb"), cl: nstest.NewNS(t, "cl")}
	nstest.Veth(t, n.vm, "eth0", n.lb, "in0")
	nstest.Veth(t, n.cl, "eth0", n.lb, "out0")
	n.vm.SetMAC(t, "eth0", "02:00:00:01:00:10")
	n.lb.SetMAC(t, "in0", "02:00:00:01:0b:01")
	n.vm.Addr(t, "eth0", "10.1.0.10/24")
	n.cl.Addr(t, "eth0", "10.2.0.10/24")
	n.lb.Addr(t, "in0", "10.1.0.1/24")
	n.lb.Addr(t, "out0", "10.2.0.1/24")
	n.lb.MustRun(t, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	n.vm.MustRun(t, "ip", "route", "add", "default", "via", "10.1.0.1")
	n.cl.MustRun(t, "ip", "route", "add", "default", "via", "10.2.0.1")
	if segment {
		for _, dev := range []string{"in0", "out0"} {
			n.lb.MustRun(t, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off")
		}
	}
	n.vmMAC, _ = frame.ParseMAC("02:00:00:01:00:10")
	n.inMAC, _ = frame.ParseMAC("02:00:00:01:0b:01")
	if err := n.lb.Do(func() (err error) {
		n.r, err = Open(Config{
			Inside:  Interface{Name: "in0", Addr: netip.MustParsePrefix("10.1.0.1/24")},
			Outside: Interface{Name: "out0", Addr: netip.MustParsePrefix("10.2.0.1/24")},
			LastHop: lastHop,
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return n
}

// TestTCPThrough: connections from the VM reach the client and back,
// with the feature on and off, and the kernel never forwards.
func TestTCPThrough(t *testing.T) {
	for _, lastHop := range []bool{true, false} {
		t.Run(fmt.Sprintf("last_hop=%v", lastHop), func(t *testing.T) {
			n := newNet3(t, lastHop)
			var ln net.Listener
			if err := n.cl.Do(func() (err error) {
				ln, err = net.Listen("tcp", "10.2.0.10:7000")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() {
						defer c.Close()
						line, _ := bufio.NewReader(c).ReadString('\n')
						fmt.Fprintf(c, "echo %s", line)
					}()
				}
			}()
			for i := range 5 {
				var got string
				if err := n.vm.Do(func() error {
					c, err := net.DialTimeout("tcp", "10.2.0.10:7000", 3*time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(3 * time.Second))
					fmt.Fprintf(c, "hello %d\n", i)
					got, err = bufio.NewReader(c).ReadString('\n')
					return err
				}); err != nil {
					t.Fatalf("exchange %d: %v (stats %+v)", i, err, n.r.Stats())
				}
				if want := fmt.Sprintf("echo hello %d\n", i); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			st := n.r.Stats()
			if st.FromInside == 0 || st.FromOutside == 0 {
				t.Errorf("nothing forwarded: %+v", st)
			}
			if lastHop && (st.Connections != 5 || st.ToLastHop != st.FromOutside || st.LastHopMACs[n.vmMAC.String()] == 0) {
				t.Errorf("with the feature on, every return frame should go to the VM's remembered MAC: %+v", st)
			}
			if !lastHop && (st.ToLastHop != 0 || st.Connections != 0) {
				t.Errorf("with the feature off, nothing is remembered: %+v", st)
			}
		})
	}
}

// TestReplyToOpenerMAC sends a UDP datagram from the VM with a forged
// Ethernet source, as a team member would after a source-MAC rewrite,
// and looks at where the client's reply goes: to the forged MAC with the
// feature on, to the VM's own (found by ARP) with it off. The reply's TTL
// shows the Router decremented it.
func TestReplyToOpenerMAC(t *testing.T) {
	forged := frame.MAC{0x02, 0, 0, 0, 0x01, 0x02}
	for _, tc := range []struct {
		name    string
		lastHop bool
		forged  bool
	}{{"on", true, true}, {"off", false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet3(t, tc.lastHop)
			want := n.vmMAC
			if tc.forged {
				want = forged
			}
			// A UDP echo server on the client.
			var pc net.PacketConn
			if err := n.cl.Do(func() (err error) {
				pc, err = net.ListenPacket("udp4", "10.2.0.10:9999")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			go func() {
				buf := make([]byte, 1500)
				for {
					k, a, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					_, _ = pc.WriteTo(buf[:k], a)
				}
			}()
			// The VM's port, so its kernel keeps quiet when the reply
			// does reach it.
			var vmConn net.PacketConn
			if err := n.vm.Do(func() (err error) {
				vmConn, err = net.ListenPacket("udp4", "10.1.0.10:40404")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer vmConn.Close()
			fd := packetSocket(t, n.vm, "eth0")
			msg := udpFrame(n.inMAC, forged, "10.1.0.10", "10.2.0.10", 40404, 9999, []byte("tgl"))
			nstest.Eventually(t, 10*time.Second, func() error {
				if _, err := unix.Write(fd, msg); err != nil {
					return err
				}
				dst, ttl, err := readReply(fd, 40404, 500*time.Millisecond)
				if err != nil {
					return err
				}
				if dst != want || ttl != 63 {
					t.Fatalf("reply sent to %v with TTL %d, want %v with TTL 63", dst, ttl, want)
				}
				return nil
			})
			st := n.r.Stats()
			if tc.lastHop && st.LastHopMACs[forged.String()] == 0 {
				t.Errorf("stats do not show the forged MAC as last hop: %+v", st)
			}
		})
	}
}

func packetSocket(t *testing.T, ns *nstest.NS, dev string) int {
	t.Helper()
	var fd int
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// readReply waits for a UDP frame to port and returns its destination MAC
// and IPv4 TTL.
func readReply(fd int, port uint16, timeout time.Duration) (frame.MAC, uint8, error) {
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return frame.MAC{}, 0, err
		}
		fr := buf[:n]
		if n < 42 || binary.BigEndian.Uint16(fr[12:14]) != etherTypeIPv4 || fr[23] != protoUDP {
			continue
		}
		hl := int(fr[14]&0xf) * 4
		if binary.BigEndian.Uint16(fr[14+hl+2:]) == port {
			return frame.MAC(fr[0:6]), fr[22], nil
		}
	}
	return frame.MAC{}, 0, fmt.Errorf("no reply to port %d within %v", port, timeout)
}

func udpFrame(dst, src frame.MAC, sip, dip string, sport, dport uint16, payload []byte) []byte {
	fr := make([]byte, 14+20+8+len(payload))
	copy(fr[0:6], dst[:])
	copy(fr[6:12], src[:])
	binary.BigEndian.PutUint16(fr[12:14], etherTypeIPv4)
	ip := fr[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, protoUDP
	s, d := netip.MustParseAddr(sip).As4(), netip.MustParseAddr(dip).As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip[:20]))
	u := ip[20:]
	binary.BigEndian.PutUint16(u[0:2], sport)
	binary.BigEndian.PutUint16(u[2:4], dport)
	binary.BigEndian.PutUint16(u[4:6], uint16(8+len(payload)))
	copy(u[8:], payload) // checksum 0: none, allowed for UDP over IPv4
	return fr
}

// TestKernelDoesNotForward: with the Router stopped, nothing crosses the
// box, so every forwarded frame in the other tests was the Router's.
func TestKernelDoesNotForward(t *testing.T) {
	n := newNet3(t, true)
	n.r.Close()
	out, err := n.vm.Run("ping", "-c", "2", "-i", "0.2", "-W", "1", "10.2.0.10")
	if err == nil || !strings.Contains(out, "0 received") {
		t.Fatalf("ping crossed the box without the Router: %v\n%s", err, out)
	}
	if _, err := n.vm.Run("ping", "-c", "1", "-W", "2", "10.1.0.1"); err != nil {
		t.Fatalf("the kernel should still answer for its own address: %v", err)
	}
}

// TestBulkTCPWithOffloads moves 16 MiB each way between the VM and the
// client, both with the kernel's default offloads (TSO, checksum offload
// on their veths), through the Router: the super-frames and partial
// checksums cross it with their virtio-net header. With "segmented" the
// Router's interfaces cannot take super-frames, so the kernel segments
// each one the Router writes, recomputing every segment's IPv4 header
// checksum and L4 checksum: the receivers count no header or checksum
// error either way.
func TestBulkTCPWithOffloads(t *testing.T) {
	for _, segment := range []bool{false, true} {
		name := "passed-through"
		if segment {
			name = "segmented"
		}
		t.Run(name, func(t *testing.T) {
			n := newNet3Seg(t, true, segment)
			for _, h := range []*nstest.NS{n.vm, n.cl} {
				if out := h.MustRun(t, "ethtool", "-k", "eth0"); !strings.Contains(out, "tcp-segmentation-offload: on") ||
					!strings.Contains(out, "tx-checksumming: on") {
					t.Fatalf("%s eth0 does not have the default offloads:\n%s", h.Name, out)
				}
			}
			var ln net.Listener
			if err := n.cl.Do(func() (err error) {
				ln, err = net.Listen("tcp", "10.2.0.10:7001")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(60 * time.Second))
				_, _ = io.Copy(c, c) // echo
			}()
			data := make([]byte, 16<<20)
			rng := rand.NewChaCha8([32]byte{1})
			_, _ = rng.Read(data)
			var c net.Conn
			if err := n.vm.Do(func() (err error) {
				c, err = net.DialTimeout("tcp", "10.2.0.10:7001", 5*time.Second)
				return err
			}); err != nil {
				t.Fatalf("connect: %v (stats %+v)", err, n.r.Stats())
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(data)
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			h := sha256.New()
			got, err := io.Copy(h, c)
			if err != nil {
				t.Fatalf("read echo after %d bytes: %v (stats %+v)", got, err, n.r.Stats())
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(data); got != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("echoed %d bytes, want %d, or the data differs", got, len(data))
			}
			st := n.r.Stats()
			if st.GSO == 0 {
				t.Errorf("no super-frame crossed the Router: the test did not exercise offloads (%+v)", st)
			}
			if st.TooBig != 0 || st.Malformed != 0 || st.WriteErrs != 0 {
				t.Errorf("too big %d, malformed %d, write errors %d; want none", st.TooBig, st.Malformed, st.WriteErrs)
			}
			for _, h := range []*nstest.NS{n.vm, n.cl} {
				for _, c := range [][2]string{{"Ip", "InHdrErrors"}, {"Ip", "InCsumErrors"}, {"Tcp", "InCsumErrors"}} {
					if v := snmp(t, h, c[0], c[1]); v != 0 {
						t.Errorf("%s: %s %s = %d, want 0", h.Name, c[0], c[1], v)
					}
				}
			}
			t.Logf("%s: %d super-frames forwarded, %d from inside, %d from outside", name, st.GSO, st.FromInside, st.FromOutside)
		})
	}
}

// snmp reads a counter of /proc/net/snmp in ns ("Ip", "InHdrErrors").
func snmp(t *testing.T, ns *nstest.NS, proto, field string) uint64 {
	t.Helper()
	out := ns.MustRun(t, "cat", "/proc/net/snmp")
	var names []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != proto+":" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == field && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
		}
	}
	if proto == "Ip" && field == "InCsumErrors" {
		return 0 // not in every kernel's Ip: line
	}
	t.Fatalf("no %s %s in /proc/net/snmp of %s", proto, field, ns.Name)
	return 0
}
