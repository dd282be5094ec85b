//go:build linux

package afxdp

import (
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
// two veths, while a generator Port floods the first, as the afpacket
// benchmark of the same name does.
func BenchmarkForward64(b *testing.B) {
	nstest.Require(b)
	gen, fwd, sink := newNS(b, "gen"), newNS(b, "fwd"), newNS(b, "sink")
	nstest.Veth(b, gen, "g0", fwd, "fa0")
	nstest.Veth(b, fwd, "fb0", sink, "s0")
	g := openIn(b, gen, "g0", Options{})
	pa := openIn(b, fwd, "fa0", Options{})
	pb := openIn(b, fwd, "fb0", Options{})
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
	for done := 0; done < 10000; {
		done += forward()
	}
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
	b.ReportMetric(float64(after.RXDropped-before.RXDropped)/float64(b.N), "rxdrops/op")
}

func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRTT measures the round-trip time of pings at 100 per second
// from a "VM" namespace to a peer through two Ports joined by a forwarder,
// in microseconds (median and 99th percentile); b.N is the number of
// pings.
func BenchmarkRTT(b *testing.B) {
	nstest.Require(b)
	nstest.RequireTool(b, "ping")
	vm, fwd, peer := newNS(b, "vm"), newNS(b, "fwd"), newNS(b, "peer")
	nstest.Veth(b, vm, "vm0", fwd, "fa0")
	nstest.Veth(b, fwd, "fb0", peer, "pe0")
	vm.Addr(b, "vm0", "10.98.0.1/24")
	peer.Addr(b, "pe0", "10.98.0.2/24")
	pa := openIn(b, fwd, "fa0", Options{})
	pb := openIn(b, fwd, "fb0", Options{})
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
	defer func() { pa.Close(); pb.Close(); wg.Wait() }()
	vm.MustRun(b, "ping", "-c", "3", "-i", "0.01", "-W", "1", "10.98.0.2")
	b.ResetTimer()
	out := vm.MustRun(b, "ping", "-c", strconv.Itoa(max(b.N, 10)), "-i", "0.01", "-W", "1", "10.98.0.2")
	b.StopTimer()
	var rtts []float64
	for _, m := range regexp.MustCompile(`time=([0-9.]+) ms`).FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			rtts = append(rtts, v*1000)
		}
	}
	if len(rtts) == 0 {
		b.Fatalf("no replies:\n%s", out)
	}
	slices.Sort(rtts)
	b.ReportMetric(rtts[len(rtts)/2], "p50-µs")
	b.ReportMetric(rtts[len(rtts)*99/100], "p99-µs")
	b.ReportMetric(0, "ns/op")
}
