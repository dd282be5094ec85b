//go:build linux

package tap

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/test/nstest"
)

var (
	tapMAC  = [6]byte{0x02, 0x7a, 0x70, 0, 0, 1}
	peerMAC = [6]byte{0x02, 0x7a, 0x70, 0, 0, 2}
)

// newNS returns a fresh namespace with IPv6 off, so the only frames the
// kernel sends are the ones a test provokes.
var newNS = nstest.QuietNS

// createIn makes a TAP in ns, closed at cleanup.
func createIn(t *testing.T, ns *nstest.NS, name string, mac [6]byte) *Port {
	t.Helper()
	return nstest.OpenIn(t, ns, func() (*Port, error) { return Create(name, mac) })
}

var newBatch = dataplanetest.NewBatch

// arpFrame builds a plain frame (zero virtio-net header) holding an ARP
// packet over Ethernet.
func arpFrame(op neigh.Op, dst, sha [6]byte, spa netip.Addr, tha [6]byte, tpa netip.Addr) []byte {
	return neigh.AppendFrame(make([]byte, dataplane.VnetHdrLen), dst, sha,
		&neigh.Packet{Op: op, SenderMAC: sha, SenderIP: spa.As4(), TargetMAC: tha, TargetIP: tpa.As4()})
}

// isARPReply reports whether frame is an ARP reply from spa to tha.
func isARPReply(frame []byte, spa netip.Addr, tha [6]byte) bool {
	eth := dataplane.Eth(frame)
	if len(eth) < neigh.EthernetLen || binary.BigEndian.Uint16(eth[12:]) != neigh.EtherTypeARP {
		return false
	}
	a := neigh.ARP(eth[neigh.EthernetLen:])
	return a.IsValid() && a.Op() == neigh.OpReply && a.SenderIP() == spa.As4() && a.TargetMAC() == tha
}

// readUntil reads from p until match accepts a frame or the timeout passes.
func readUntil(t *testing.T, p *Port, timeout time.Duration, match func([]byte) bool) []byte {
	t.Helper()
	found := make(chan []byte, 1)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		frames, sizes := newBatch()
		for {
			n, err := p.Read(frames, sizes)
			if err != nil {
				done <- err
				return
			}
			for i := range n {
				if match(frames[i][:sizes[i]]) {
					found <- bytes.Clone(frames[i][:sizes[i]])
					done <- nil
					return
				}
			}
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
		}
	}()
	select {
	case f := <-found:
		<-done
		return f
	case err := <-done:
		t.Fatalf("read: %v", err)
	case <-time.After(timeout):
		close(stop)
		// The reader may still sit in Read; closing the port frees it.
		p.Close()
		<-done
		t.Fatalf("no matching frame within %v", timeout)
	}
	return nil
}

func TestCreate(t *testing.T) {
	ns := newNS(t, "create")
	tests := []struct {
		name, ifname string
		mac          [6]byte
	}{
		{name: "named with MAC", ifname: "tapmac", mac: tapMAC},
		{name: "kernel name and MAC", ifname: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := createIn(t, ns, tc.ifname, tc.mac)
			if tc.ifname != "" && p.Name() != tc.ifname {
				t.Errorf("Name() = %q, want %q", p.Name(), tc.ifname)
			}
			if p.Name() == "" || p.Index() <= 0 {
				t.Errorf("Name() = %q, Index() = %d", p.Name(), p.Index())
			}
			var link netlink.Link
			if err := ns.Do(func() (err error) {
				link, err = netlink.LinkByName(p.Name())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			a, mac := link.Attrs(), p.MAC()
			if a.Index != p.Index() || !bytes.Equal(a.HardwareAddr, mac[:]) || a.Flags&net.FlagUp == 0 {
				t.Errorf("kernel has index %d MAC %s flags %v; Port has index %d MAC %x", a.Index, a.HardwareAddr, a.Flags, p.Index(), p.MAC())
			}
			if tc.mac != ([6]byte{}) && p.MAC() != tc.mac {
				t.Errorf("MAC() = %x, want %x", p.MAC(), tc.mac)
			}
			if p.MAC() == ([6]byte{}) {
				t.Errorf("MAC() is zero")
			}
		})
	}
	t.Run("exists", func(t *testing.T) {
		createIn(t, ns, "tapdup", [6]byte{})
		err := ns.Do(func() error {
			p, err := Create("tapdup", [6]byte{})
			if err == nil {
				p.Close()
			}
			return err
		})
		if err == nil {
			t.Error("second Create of the same name succeeded")
		}
	})
}

// TestARP writes an ARP request into the TAP and reads the kernel's reply.
func TestARP(t *testing.T) {
	ns := newNS(t, "arp")
	p := createIn(t, ns, "tap0", tapMAC)
	ns.Addr(t, "tap0", "10.9.0.1/24")
	me, peer := netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2")

	req := arpFrame(neigh.OpRequest, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, peerMAC, peer, [6]byte{}, me)
	if n, err := p.Write([][]byte{req}); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	reply := readUntil(t, p, 5*time.Second, func(f []byte) bool { return isARPReply(f, me, peerMAC) })
	if h := dataplane.DecodeVnetHdr(reply); h != (dataplane.VnetHdr{}) {
		t.Errorf("ARP reply has virtio-net header %+v, want zero", h)
	}
	if eth := dataplane.Eth(reply); !bytes.Equal(eth[0:6], peerMAC[:]) || !bytes.Equal(eth[6:12], tapMAC[:]) {
		t.Errorf("ARP reply from %x to %x, want from %x to %x", eth[6:12], eth[0:6], tapMAC, peerMAC)
	}
	// The request taught the kernel our address.
	out := ns.MustRun(t, "ip", "neigh", "show", "10.9.0.2", "dev", "tap0")
	if !bytes.Contains([]byte(out), []byte(net.HardwareAddr(peerMAC[:]).String())) {
		t.Errorf("neighbour table: %q, want %s", out, net.HardwareAddr(peerMAC[:]))
	}
}

// TestGSOForward joins two namespaces through two TAPs and a userspace
// forwarder that passes frames, header and all, from one to the other, then
// runs a TCP transfer across: the data must arrive intact, and the sending
// kernel must have handed us TCP super-frames.
func TestGSOForward(t *testing.T) {
	nsA, nsB := newNS(t, "gsoa"), newNS(t, "gsob")
	a := createIn(t, nsA, "tapa", tapMAC)
	b := createIn(t, nsB, "tapb", peerMAC)
	nsA.Addr(t, "tapa", "10.9.1.1/24")
	nsB.Addr(t, "tapb", "10.9.1.2/24")

	var maxGSO atomic.Int64 // largest super-frame seen from A
	var gsoType atomic.Uint32
	var wg sync.WaitGroup
	wg.Add(2)
	go forward(t, &wg, a, b, func(f []byte) {
		h := dataplane.DecodeVnetHdr(f)
		if h.GSOType != dataplane.VnetGSONone && int64(len(f)) > maxGSO.Load() {
			maxGSO.Store(int64(len(f)))
			gsoType.Store(uint32(h.GSOType))
			if h.Flags&dataplane.VnetFlagNeedsCsum == 0 || h.GSOSize == 0 {
				t.Errorf("super-frame of %d bytes with header %+v", len(f), h)
			}
		}
	})
	go forward(t, &wg, b, a, func([]byte) {})
	t.Cleanup(func() {
		a.Close()
		b.Close()
		wg.Wait()
	})

	var ln net.Listener
	if err := nsB.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "10.9.1.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan [32]byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
			got <- [32]byte{}
			return
		}
		defer c.Close()
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			t.Error(err)
		}
		got <- [32]byte(h.Sum(nil))
	}()

	var c net.Conn
	if err := nsA.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 16<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(data)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := c.Write(data[off : off+1<<20]); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	select {
	case sum := <-got:
		if sum != sha256.Sum256(data) {
			t.Fatal("data arrived corrupted")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("transfer did not finish")
	}
	if maxGSO.Load() <= dataplane.VnetHdrLen+1514 {
		t.Fatalf("no TCP super-frame from the kernel (largest GSO frame %d bytes)", maxGSO.Load())
	}
	if typ := gsoType.Load() &^ dataplane.VnetGSOECN; typ != dataplane.VnetGSOTCPv4 {
		t.Errorf("GSO type %d, want TCPv4", typ)
	}
	t.Logf("largest super-frame: %d bytes", maxGSO.Load())
}

// forward copies frames from one Port to another until either is closed,
// dropping a frame the destination refuses.
func forward(t *testing.T, wg *sync.WaitGroup, from, to *Port, seen func([]byte)) {
	defer wg.Done()
	frames, sizes := newBatch()
	out := make([][]byte, 0, len(frames))
	for {
		n, err := from.Read(frames, sizes)
		if err != nil {
			if !errors.Is(err, dataplane.ErrClosed) {
				t.Errorf("forward read: %v", err)
			}
			return
		}
		out = out[:0]
		for i := range n {
			seen(frames[i][:sizes[i]])
			out = append(out, frames[i][:sizes[i]])
		}
		for len(out) > 0 {
			w, err := to.Write(out)
			if err == nil {
				break
			}
			if errors.Is(err, dataplane.ErrClosed) {
				return
			}
			t.Logf("forward write: dropped frame: %v", err)
			out = out[w+1:]
		}
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	ns := newNS(t, "close")
	p := createIn(t, ns, "tapc", tapMAC)
	res := make(chan error, 1)
	go func() {
		frames, sizes := newBatch()
		for {
			if _, err := p.Read(frames, sizes); err != nil {
				res <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let Read block; the result is the same if it has not
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, dataplane.ErrClosed) {
			t.Errorf("Read after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	frames, sizes := newBatch()
	if _, err := p.Read(frames, sizes); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Read on closed port: %v, want ErrClosed", err)
	}
	if _, err := p.Write(frames[:1]); !errors.Is(err, dataplane.ErrClosed) {
		t.Errorf("Write on closed port: %v, want ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	err := ns.Do(func() error {
		_, err := netlink.LinkByName("tapc")
		return err
	})
	if _, ok := err.(netlink.LinkNotFoundError); !ok {
		t.Errorf("device after Close: LinkByName = %v, want LinkNotFoundError", err)
	}
}

func TestAllocs(t *testing.T) {
	ns := newNS(t, "allocs")
	p := createIn(t, ns, "tapz", tapMAC)
	ns.Addr(t, "tapz", "10.9.2.1/24")
	me, peer := netip.MustParseAddr("10.9.2.1"), netip.MustParseAddr("10.9.2.2")
	req := [][]byte{arpFrame(neigh.OpRequest, [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, peerMAC, peer, [6]byte{}, me)}
	frames, sizes := newBatch()
	// Each request gets a reply, so Read never waits for long.
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := p.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Read(frames, sizes); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Write+Read allocate %v times, want 0", allocs)
	}
}
