//go:build linux

package dataplanetest

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// BenchForward measures how many 64-byte frames (60 bytes without the
// FCS) per second one goroutine forwards with Read on in then Write on
// out, while gen floods in's peer: the pps metric, and the forwarding
// thread's CPU time per frame (cpu-ns/op); drops reads in's drop
// counter, whose growth per frame is the metric dropsUnit. The frames go
// to an address nobody has, with an EtherType nobody handles, so that
// out's peer drops them as cheaply as it can.
func BenchForward(b *testing.B, gen, in, out dataplane.Port, genMAC [6]byte, drops func() uint64, dropsUnit string) {
	foreign := [6]byte{2, 0, 0, 0, 0xbe, 0xef}
	batch := make([][]byte, dataplane.BatchSize)
	for i := range batch {
		batch[i] = Frame(foreign, genMAC, 0xbe7c, uint32(i), 60)
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
			if _, err := gen.Write(batch); err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	frames, sizes := NewBatch()
	fwd := make([][]byte, len(frames))
	forward := func() int {
		n, err := in.Read(frames, sizes)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			fwd[i] = frames[i][:sizes[i]]
		}
		if _, err := out.Write(fwd[:n]); err != nil {
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
	drops0, cpu0 := drops(), threadCPU(b)
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		done += forward()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	drops1, cpu1 := drops(), threadCPU(b)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pps")
	b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(drops1-drops0)/float64(b.N), dropsUnit)
	if !bytes.Equal(fwd[0][dataplane.VnetHdrLen:dataplane.VnetHdrLen+6], foreign[:]) {
		b.Errorf("forwarded frame %x is not a generator frame", fwd[0])
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
