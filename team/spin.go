package team

import (
	"runtime"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
)

// A reader goroutine that blocks in Read as soon as its ring is empty
// pays, on the next frame, the wakeup of a sleeping thread: on a host
// whose CPU went idle meanwhile, the CPU's own wakeup first (tens of
// microseconds in a VM, where an idle vCPU halts and its wakeup is a VM
// exit), then the thread switch. Spinning on the ring for a while after
// the last frame catches a frame that follows soon without any of that,
// at the price of a busy CPU while it spins. readLoop spins for an
// adaptive window (spinWindow) that follows the gaps between the port's
// frames, bounded by the team's busy_poll (config.DefaultBusyPoll by
// default), and that is zero when the gaps are longer than the bound: a
// port with no traffic, or a lone LACPDU or ARP a second, never spins.

// spinWindow is one reader's adaptive spin window. It is pure: every
// time is passed in (monotonic nanoseconds), so tests drive it with a
// virtual clock.
//
// The window is the time to spin after the reader handled its last
// frames. A gap the window caught (a hit) keeps it, shrinking it slowly
// towards a quarter more than the gaps seen; a gap it missed but a
// window within the bound would have caught grows it to that; a gap
// longer than the bound, which no allowed spin would have caught, sets
// it to zero until a short gap is seen again.
//
// A spin that lost its CPU (the clock jumped by more than spinStolen
// between two checks: another thread had the CPU) means the CPU is
// contended. A spinning thread has used up its share of it, so the
// scheduler lets it wait a full slice (milliseconds) behind the others,
// where a thread that slept preempts them as soon as its frame wakes it.
// Spinning then makes latency worse: the reader stops spinning for
// spinBackoff.
type spinWindow struct {
	max    int64 // bound, ns; 0: never spin
	window int64 // current window, ns
	idle   int64 // when the reader went idle, ns; -1 before the first frames
	quiet  int64 // no spin before this time (a stolen spin), ns
}

// spinStolen is the jump of the clock between two checks of a spin that
// means its thread lost the CPU: more than a batch's work takes, less
// than a scheduler slice.
const spinStolen = int64(500 * time.Microsecond)

// spinBackoff is how long a reader whose spin was stolen does not spin.
const spinBackoff = int64(time.Second)

func newSpinWindow(max time.Duration) spinWindow {
	return spinWindow{max: int64(max), idle: -1}
}

// wentIdle records that the reader handled its frames at now and finds
// its ring empty; the spin, if any, ends at now + the returned window.
func (w *spinWindow) wentIdle(now int64) int64 {
	w.idle = now
	if now < w.quiet {
		return 0
	}
	return w.window
}

// stolen records that a spin that ended at now lost its CPU.
func (w *spinWindow) stolen(now int64) { w.quiet = now + spinBackoff }

// arrived records that frames arrived at now, after the gap since the
// reader went idle.
func (w *spinWindow) arrived(now int64) {
	if w.idle < 0 || w.max <= 0 {
		return
	}
	gap := max(now-w.idle, 0)
	w.idle = -1
	want := gap + gap/4
	switch {
	case gap <= w.window:
		w.window = min(max(w.window-w.window/8, want), w.max)
	case gap <= w.max:
		w.window = min(want, w.max)
	default:
		w.window = 0
	}
}

// spinClock is the real monotonic clock of the spin, in nanoseconds: the
// team's own clock may be virtual (tests), and a spin must end in real
// time.
var spinStart = time.Now()

func spinClock() int64 { return int64(time.Since(spinStart)) }

// spinUntil checks r until it is ready or the clock passes until, and
// reports whether it is ready, and whether the spin lost its CPU on the
// way (spinStolen). Between checks it yields the processor: with
// GOMAXPROCS=1 (a daemon pinned to one CPU) a goroutine that spun
// without yielding would starve the others, among them the reader of the
// port where the reply to the frame just sent is arriving.
func spinUntil(r dataplane.Readier, until int64, clock func() int64) (ready, stolen bool) {
	last := clock()
	for {
		if r.Ready() {
			return true, stolen
		}
		now := clock()
		if now-last > spinStolen {
			stolen = true
		}
		if now >= until {
			return false, stolen
		}
		last = now
		runtime.Gosched()
	}
}

// spinLimit is how many of a team's readers may spin at once. With one
// processor they take turns on it, so however many spin they take at
// most that one CPU; with more, each spinner would take a CPU of its own,
// so only one spins at a time and the others block in Read.
func spinLimit() int32 {
	if runtime.GOMAXPROCS(0) == 1 {
		return 1 << 30
	}
	return 1
}

// spinTake claims one of the team's spin slots; spinGive returns it.
func (t *Team) spinTake() bool {
	if t.spinners.Add(1) <= t.spinSlots {
		return true
	}
	t.spinners.Add(-1)
	return false
}

func (t *Team) spinGive() { t.spinners.Add(-1) }
