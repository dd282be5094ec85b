//go:build linux

package afxdp

import (
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// forward copies frames between two Ports in both directions, as the
// team's data path does, until the test ends.
func forward(t *testing.T, a, b *Port) {
	var wg sync.WaitGroup
	run := func(src, dst *Port) {
		defer wg.Done()
		frames, sizes := newBatch()
		out := make([][]byte, len(frames))
		for {
			n, err := src.Read(frames, sizes)
			if err != nil {
				if !errors.Is(err, dataplane.ErrClosed) {
					t.Errorf("read %s: %v", src.Name(), err)
				}
				return
			}
			for i := range n {
				out[i] = frames[i][:sizes[i]]
			}
			if _, err := dst.Write(out[:n]); err != nil {
				if !errors.Is(err, dataplane.ErrClosed) {
					t.Errorf("write %s: %v", dst.Name(), err)
				}
				return
			}
		}
	}
	wg.Add(2)
	go run(a, b)
	go run(b, a)
	t.Cleanup(func() {
		a.Close()
		b.Close()
		wg.Wait()
	})
}

// TestForwardTCP runs TCP from a "VM" namespace whose veth keeps its
// default offloads (TSO, checksum offload) through two Ports joined by a
// forwarder to a peer, and compares the data by hash. With the XDP
// program on the forwarder's end, the kernel takes GSO off the VM's veth
// (veth_xdp_set), so only wire-sized frames arrive and none is dropped as
// a super-frame.
func TestForwardTCP(t *testing.T) {
	nstest.Require(t)
	vm, fwd, peer := newNS(t, "vm"), newNS(t, "fwd"), newNS(t, "peer")
	nstest.Veth(t, vm, "vm0", fwd, "fa0")
	nstest.Veth(t, fwd, "fb0", peer, "pe0")
	vm.Addr(t, "vm0", "10.99.0.1/24")
	peer.Addr(t, "pe0", "10.99.0.2/24")
	before := vm.MustRun(t, "ethtool", "-k", "vm0")
	pa := openIn(t, fwd, "fa0", Options{})
	pb := openIn(t, fwd, "fb0", Options{})
	forward(t, pa, pb)
	after := vm.MustRun(t, "ethtool", "-k", "vm0")
	t.Logf("vm0 TSO before: %s; with the program attached: %s", feature(before, "tcp-segmentation-offload"), feature(after, "tcp-segmentation-offload"))

	start := time.Now()
	sent, got, n := tcpTransfer(t, vm, peer, "10.99.0.2:5201", 32<<20)
	el := time.Since(start)
	if sent != got {
		t.Fatalf("peer received %d bytes with sha256 %x, VM sent %x", n, got, sent)
	}
	sa, sb := pa.Stats(), pb.Stats()
	t.Logf("%d MiB intact in %v (%.0f Mbit/s); fa0 %+v; fb0 %+v", n>>20, el, float64(n)*8/el.Seconds()/1e6, sa, sb)
	if sa.GSODropped+sb.GSODropped+sa.WriteErrors+sb.WriteErrors != 0 {
		t.Errorf("super-frames or write errors")
	}
	if sa.Partial == 0 || sb.Partial == 0 {
		t.Errorf("no partial checksums seen (fa0 %d, fb0 %d): the test did not test checksum offload", sa.Partial, sb.Partial)
	}
}

func feature(ethtoolK, name string) string {
	for _, l := range strings.Split(ethtoolK, "\n") {
		if strings.HasPrefix(l, name+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, name+":"))
		}
	}
	return "?"
}

// tcpTransfer sends size bytes of pseudo-random data from a client in ns
// from to a server in ns to listening on addr, and returns the sha256 of
// what was sent and of what arrived, and how much arrived.
func tcpTransfer(t *testing.T, from, to *nstest.NS, addr string, size int) (sent, got [32]byte, n int64) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(60 * time.Second)
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(deadline)
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		done <- r
	}()
	var c net.Conn
	if err := from.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 10*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for left := size; left > 0; left -= len(buf) {
		b := buf[:min(left, len(buf))]
		rng.Read(b)
		h.Write(b)
		if _, err := c.Write(b); err != nil {
			t.Fatalf("client write: %v", err)
		}
	}
	copy(sent[:], h.Sum(nil))
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("server: %v after %d bytes", r.err, r.n)
	}
	return sent, r.sum, r.n
}
