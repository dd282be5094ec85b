//go:build linux

package afpacket

import (
	"bytes"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// BenchmarkForward64 measures how many 64-byte frames (60 bytes without
// the FCS) per second one goroutine forwards with Read then Write between
// two veths, while a generator port floods the first; with the qdisc
// bypassed (the default) and not.
func BenchmarkForward64(b *testing.B) {
	nstest.Require(b)
	b.Run("bypass", func(b *testing.B) { benchForward(b, Options{}) })
	b.Run("qdisc", func(b *testing.B) { benchForward(b, Options{NoQdiscBypass: true}) })
}

func benchForward(b *testing.B, o Options) {
	gen, fwd, sink := newNS(b, "gen"), newNS(b, "fwd"), newNS(b, "sink")
	nstest.Veth(b, gen, "g0", fwd, "fa0")
	nstest.Veth(b, fwd, "fb0", sink, "s0")
	g := openIn(b, gen, "g0", Options{})
	pa := openIn(b, fwd, "fa0", o)
	pb := openIn(b, fwd, "fb0", o)

	// To an address nobody has, with an EtherType nobody handles: the
	// sink's kernel drops them as cheaply as it can.
	foreign := [6]byte{2, 0, 0, 0, 0xbe, 0xef}
	batch := make([][]byte, dataplane.BatchSize)
	for i := range batch {
		batch[i] = testFrame(foreign, g.MAC(), 0xbe7c, uint32(i), 60)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := g.Write(batch); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	frames, sizes := newBatch()
	out := make([][]byte, len(frames))
	forward := func() int {
		n, err := pa.Read(frames, sizes)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			out[i] = frames[i][:sizes[i]]
		}
		if _, err := pb.Write(out[:n]); err != nil {
			b.Fatal(err)
		}
		return n
	}
	for done := 0; done < 10000; { // warm up
		done += forward()
	}
	// The forwarder thread's CPU time per frame (user and system; softirq
	// work done in its context is included unless the kernel accounts IRQ
	// time apart) depends less on the generator and on other load on the
	// machine than the rate does.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, cpu0 := pa.Stats(), threadCPU(b)
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		done += forward()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	after, cpu1 := pa.Stats(), threadCPU(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pps")
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(after.RingDrops-before.RingDrops)/float64(b.N), "ringdrops/op")
	if !bytes.Equal(out[0][dataplane.VnetHdrLen:dataplane.VnetHdrLen+6], foreign[:]) {
		b.Errorf("forwarded frame %x is not a generator frame", out[0])
	}
}

// threadCPU returns the user and system time of the calling thread.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRTT measures the round-trip time of pings at 100 per second
// from a "VM" namespace to a peer through two Ports joined by a forwarder
// (the path a team's frame takes: read on one interface, write on the
// other), next to the same topology joined by a Linux bridge. It reports
// the median and 99th percentile in microseconds; b.N is the number of
// pings.
func BenchmarkRTT(b *testing.B) {
	nstest.Require(b)
	nstest.RequireTool(b, "ping")
	for _, path := range []string{"bridge", "port"} {
		b.Run(path, func(b *testing.B) {
			vm, fwd, peer := newNS(b, "vm"), newNS(b, "fwd"), newNS(b, "peer")
			nstest.Veth(b, vm, "vm0", fwd, "fa0")
			nstest.Veth(b, fwd, "fb0", peer, "pe0")
			vm.Addr(b, "vm0", "10.98.0.1/24")
			peer.Addr(b, "pe0", "10.98.0.2/24")
			if path == "bridge" {
				fwd.Bridge(b, "br0", "fa0", "fb0")
			} else {
				pa := openIn(b, fwd, "fa0", Options{})
				pb := openIn(b, fwd, "fb0", Options{})
				stop := forwardBoth(b, pa, pb)
				defer stop()
			}
			// Warm up neighbour caches.
			vm.MustRun(b, "ping", "-c", "3", "-i", "0.01", "-W", "1", "10.98.0.2")
			b.ResetTimer()
			out := vm.MustRun(b, "ping", "-c", strconv.Itoa(max(b.N, 10)), "-i", "0.01", "-W", "1", "10.98.0.2")
			b.StopTimer()
			rtts := pingTimes(out)
			if len(rtts) == 0 {
				b.Fatalf("no replies:\n%s", out)
			}
			slices.Sort(rtts)
			b.ReportMetric(rtts[len(rtts)/2], "p50-µs")
			b.ReportMetric(rtts[len(rtts)*99/100], "p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}
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

// forwardBoth copies frames between a and b in both directions until the
// returned function is called.
func forwardBoth(b *testing.B, pa, pb *Port) (stop func()) {
	var wg sync.WaitGroup
	run := func(src, dst *Port) {
		defer wg.Done()
		frames, sizes := newBatch()
		out := make([][]byte, len(frames))
		for {
			n, err := src.Read(frames, sizes)
			if err != nil {
				return
			}
			for i := range n {
				out[i] = frames[i][:sizes[i]]
			}
			if _, err := dst.Write(out[:n]); err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go run(pa, pb)
	go run(pb, pa)
	return func() {
		pa.Close()
		pb.Close()
		wg.Wait()
	}
}
