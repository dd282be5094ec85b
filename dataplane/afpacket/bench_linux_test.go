//go:build linux

package afpacket

import (
	"bytes"
	"runtime"
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
