package team

import (
	"errors"
	"time"
)

// The control goroutine.
//
// One goroutine per team, loop, owns every piece of mutable control
// state: the running configuration, the members and vnics, homes, the
// active member, the LACP runner, the arp_ping watcher and
// rx_translation's settings. Every control operation is a message to it
// and runs there to completion, one at a time: reloads and the exported
// operations (operations.go), link events, State and Config reads,
// Toggle, Close; and so do the team's own events: LACP frames and
// deadlines, arp_ping rounds, MAC aging, repeated announcements.
//
// Nothing is locked, so nothing is unlocked half-way. At the end of an
// operation that changed something (it called changed), one new snapshot
// is published for the data path; ports the operation removed are closed
// only after that (a data-path goroutine still holding the snapshot
// before may write to one; that batch is counted as tx_dropped).
//
// The data-path goroutines never wait for the control goroutine (LACP
// frames are queued without blocking), so an operation may wait for
// them: removing a port waits for its reader to end.

// op is one control operation: fn runs on the control goroutine and its
// error is sent back on done.
type op struct {
	fn   func() error
	done chan error
}

// do runs fn on the control goroutine and returns its error, or
// ErrClosed when the team was closed before fn could run.
func (t *Team) do(fn func() error) error {
	o := op{fn: fn, done: make(chan error, 1)}
	select {
	case t.ops <- o:
		return <-o.done
	case <-t.loopDone:
		return ErrClosed
	}
}

// changed records that the current operation changed what the data path
// sees; the snapshot is published once, when the operation ends. why is
// logged with what the publication moves (the first reason is kept).
func (t *Team) changed(why string) {
	if t.dirty == "" {
		t.dirty = why
	}
}

// closeLater closes p once the current operation has published.
func (t *Team) closeLater(p *port, kind string) {
	t.closing = append(t.closing, closingPort{p, kind})
}

type closingPort struct {
	p    *port
	kind string
}

// deferred is work the control goroutine does at a later time.
type deferred struct {
	at time.Time
	fn func()
}

// after runs fn on the control goroutine once d has passed (unless the
// team closes first).
func (t *Team) after(d time.Duration, fn func()) {
	t.later = append(t.later, deferred{at: time.Now().Add(d), fn: fn})
}

// agingInterval is how often learned MACs and bindings are aged.
const agingInterval = time.Second

// loop is the control goroutine.
func (t *Team) loop() {
	defer close(t.loopDone)
	aging := time.NewTicker(agingInterval)
	defer aging.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for !t.closed {
		var pingTick <-chan time.Time
		if t.pingw != nil {
			pingTick = t.pingw.tick.C
		}
		select {
		case o := <-t.ops:
			err := o.fn()
			if err != nil && !t.reopened {
				// A rejected operation has undone what it did: there
				// is nothing new to publish (unless it reopened a
				// vnic: the old port is gone, the snapshot must name
				// the new one).
				t.dirty = ""
			}
			t.reopened = false
			o.done <- errors.Join(err, t.finish())
		case f := <-t.slowRx:
			// PDUs that arrived together (a partner sends on all its
			// ports at once) run together: one snapshot for them.
			t.lacpFrame(f)
		drain:
			for range cap(t.slowRx) {
				select {
				case f := <-t.slowRx:
					t.lacpFrame(f)
				default:
					break drain
				}
			}
			_ = t.finish()
		case <-pingTick:
			t.pingWatchTick()
			_ = t.finish()
		case <-aging.C:
			t.age()
			_ = t.finish()
		case <-wake.C:
			t.runDeferred()
			_ = t.finish()
		}
		wake.Reset(t.nextWake())
	}
}

// finish ends an operation or event: LACP runs up to now and sends what
// it must, one snapshot is published if anything changed, and ports that
// were removed are closed. It returns the errors of closing them.
func (t *Team) finish() error {
	t.expireHolds()
	if t.lacp != nil {
		t.lacpRun()
		t.fallbackRun()
	}
	if t.dirty != "" {
		t.publish(t.dirty)
		t.dirty = ""
	}
	var errs []error
	for _, c := range t.closing {
		if err := c.p.shut(); err != nil {
			errs = append(errs, err)
			t.log.Warn("close "+c.kind, c.kind, c.p.name, "err", err)
		}
		<-c.p.done
	}
	t.closing = t.closing[:0]
	return errors.Join(errs...)
}

// runDeferred runs the deferred work that is due.
func (t *Team) runDeferred() {
	now := time.Now()
	keep := t.later[:0]
	var due []deferred
	for _, d := range t.later {
		if now.Before(d.at) {
			keep = append(keep, d)
		} else {
			due = append(due, d)
		}
	}
	t.later = keep
	for _, d := range due {
		d.fn()
	}
}

// nextWake is how long the control goroutine may sleep before a LACP
// deadline or deferred work is due.
func (t *Team) nextWake() time.Duration {
	d := time.Hour
	if t.lacp != nil {
		if next, ok := t.lacp.r.NextDeadline(); ok {
			d = min(d, max(next-t.monotonic(), 0))
		}
	}
	if t.lacp != nil {
		if next, ok := t.lacp.fb.next(); ok {
			d = min(d, time.Duration(max(next-t.now(), 0)))
		}
		if next, ok := t.lacp.fb.handoverEnd(t.now()); ok {
			d = min(d, time.Duration(max(next-t.now(), 0)))
		}
	}
	if next, ok := t.nextHold(); ok {
		d = min(d, time.Duration(max(next-t.now(), 0)))
	}
	now := time.Now()
	for _, l := range t.later {
		d = min(d, max(l.at.Sub(now), 0))
	}
	return d
}
