package nstest

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

// QuietNS is NewNS with IPv6 off, so that the kernel sends no neighbour
// discovery or router solicitations of its own: the only frames on the
// namespace's links are the ones a test provokes. Like Require, it skips
// (fails in CI) where namespaces cannot be made.
func QuietNS(t testing.TB, name string) *NS {
	t.Helper()
	Require(t)
	RequireTool(t, "sysctl")
	ns := NewNS(t, name)
	ns.MustRun(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// QuietPair returns two QuietNS namespaces, a and b, joined by a veth
// pair a0 (in a) — b0 (in b).
func QuietPair(t testing.TB) (a, b *NS) {
	t.Helper()
	a, b = QuietNS(t, "a"), QuietNS(t, "b")
	Veth(t, a, "a0", b, "b0")
	return a, b
}

// OpenIn calls open (which opens a socket or creates an interface) inside
// ns, fails the test on error, and closes what it returns at cleanup.
func OpenIn[P io.Closer](t testing.TB, ns *NS, open func() (P, error)) P {
	t.Helper()
	var p P
	if err := ns.Do(func() (err error) {
		p, err = open()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TCPTransfer sends size bytes of pseudo-random data from a client in
// from to a server in to listening on addr (host:port; port 0 picks
// one), and returns the sha256 of what was sent and of what arrived, and
// how much arrived. The transfer has a minute.
func TCPTransfer(t testing.TB, from, to *NS, addr string, size int) (sent, got [32]byte, n int64) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
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
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
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

// PingRTT measures the round-trip time of pings at 100 per second from
// ns to addr, b.N of them (at least 10), after three to warm up the
// neighbour caches, and reports the median and 99th percentile in
// microseconds (p50-µs, p99-µs).
func (ns *NS) PingRTT(b *testing.B, addr string) {
	b.Helper()
	RequireTool(b, "ping")
	ns.MustRun(b, "ping", "-c", "3", "-i", "0.01", "-W", "1", addr)
	b.ResetTimer()
	out := ns.MustRun(b, "ping", "-c", strconv.Itoa(max(b.N, 10)), "-i", "0.01", "-W", "1", addr)
	b.StopTimer()
	rtts := pingTimes(out)
	if len(rtts) == 0 {
		b.Fatalf("no replies:\n%s", out)
	}
	slices.Sort(rtts)
	b.ReportMetric(rtts[len(rtts)/2], "p50-µs")
	b.ReportMetric(rtts[len(rtts)*99/100], "p99-µs")
	b.ReportMetric(0, "ns/op")
}

var pingTime = regexp.MustCompile(`time=([0-9.]+) ms`)

// pingTimes returns the round-trip times in ping's output, in µs.
func pingTimes(out string) []float64 {
	var rtts []float64
	for _, m := range pingTime.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			rtts = append(rtts, v*1000)
		}
	}
	return rtts
}
