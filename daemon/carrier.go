package daemon

import (
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/link"
)

// The members' carrier.
//
// The link monitor's rtnetlink notifications tell the team of every
// carrier change, but the kernel sends them from its linkwatch work,
// which runs an event at once only when it is urgent
// (link.Event.CarrierNotifiedAtOnce): a veth's or a VLAN's carrier
// changes are announced within a fraction of a millisecond (measured on
// veth: 0.1–0.3 ms after the carrier, the same as a tight loop of
// probes), a physical NIC's carrier loss up to 1 s later. So the
// members whose notifications are not urgent have their carrier read
// from the driver every carrierPoll as well, like bonding's miimon, and
// the others are not polled at all: the daemon then sets no timer for
// the carrier, and an idle daemon sleeps (a 100 Hz poll of every member
// was most of its idle CPU, and its timer kept the Go runtime's sysmon
// awake too).
//
// Whichever of the notification and the poll sees a change first tells
// the team; the other then agrees and says nothing new. The watch
// remembers what it last told the team per member, from either source,
// and the poll reports only a reading that differs from it: a late
// notification that contradicts an earlier poll is corrected by the
// next poll.

// carrierPoll is how often a polled member's carrier is read (bonding's
// miimon is usually set to 100 ms; a read costs one ioctl).
const carrierPoll = 10 * time.Millisecond

// carrierWatch polls the carrier of the members whose carrier changes
// the kernel announces late, and passes the link monitor's carrier
// events on to the team.
type carrierWatch struct {
	interval time.Duration
	probe    func(name string) (bool, error) // link.Prober.Carrier
	members  func() []string                 // the team's members now
	report   func(name string, carrier bool) // team.LinkChanged
	log      *slog.Logger

	kick chan struct{} // something changed: which members to poll
	stop chan struct{}
	done chan struct{}

	// mu orders the reports of the monitor's goroutine and the poll's,
	// so that told is what the team was told last.
	mu     sync.Mutex
	prompt map[string]bool // by name: the kernel's notifications are urgent (from link events)
	told   map[string]bool // by name: the carrier last reported to the team
	broken map[string]bool // by name: members whose carrier cannot be read (logged once)
}

// newCarrierWatch starts a watch. It polls no member until the first
// kick; every call of event or membersChanged kicks it.
func newCarrierWatch(interval time.Duration, probe func(string) (bool, error), members func() []string, report func(string, bool), log *slog.Logger) *carrierWatch {
	w := &carrierWatch{
		interval: interval,
		probe:    probe,
		members:  members,
		report:   report,
		log:      log,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		prompt:   make(map[string]bool),
		told:     make(map[string]bool),
		broken:   make(map[string]bool),
	}
	go w.run()
	return w
}

// event passes a link monitor event's carrier to the team and learns
// whether the interface's notifications are urgent.
func (w *carrierWatch) event(ev link.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	was, known := w.prompt[ev.Name]
	if ev.Deleted {
		delete(w.prompt, ev.Name)
		delete(w.told, ev.Name)
		delete(w.broken, ev.Name)
		w.wake()
		return
	}
	if now := ev.CarrierNotifiedAtOnce(); !known || now != was {
		w.prompt[ev.Name] = now
		w.wake()
	}
	w.told[ev.Name] = ev.Carrier
	w.report(ev.Name, ev.Carrier)
}

// membersChanged tells the watch that the team's members may have
// changed (a reload, a port added or removed).
func (w *carrierWatch) membersChanged() { w.wake() }

func (w *carrierWatch) wake() {
	select {
	case w.kick <- struct{}{}:
	default: // a kick is pending: it will read the latest state
	}
}

// close stops the watch and waits for its goroutine.
func (w *carrierWatch) close() {
	close(w.stop)
	<-w.done
}

// polled returns the members to poll: those not known to be notified
// at once (an interface the monitor has not described yet is polled).
func (w *carrierWatch) polled() []string {
	names := w.members()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.DeleteFunc(names, func(n string) bool { return w.prompt[n] || w.broken[n] })
}

// run holds a ticker only while some member must be polled.
func (w *carrierWatch) run() {
	defer close(w.done)
	var (
		names  []string
		ticker *time.Ticker
		tick   <-chan time.Time
	)
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
			prev := names
			names = w.polled()
			if !slices.Equal(prev, names) {
				w.log.Debug("carrier poll", "members", names, "interval", w.interval)
			}
			switch {
			case len(names) > 0 && w.interval > 0 && ticker == nil:
				ticker = time.NewTicker(w.interval)
				tick = ticker.C
			case (len(names) == 0 || w.interval <= 0) && ticker != nil:
				ticker.Stop()
				ticker, tick = nil, nil
			}
		case <-tick:
			w.poll(names)
		}
	}
}

// poll reads each name's carrier and tells the team of those that
// differ from what it was told last. The read and the report are one
// step under mu, so a notification cannot come between them.
func (w *carrierWatch) poll(names []string) {
	for _, n := range names {
		w.mu.Lock()
		up, err := w.probe(n)
		switch {
		case errors.Is(err, link.ErrNotFound):
			// Gone or renamed: the monitor's event follows.
		case err != nil:
			// A driver without get_link: its notifications alone
			// follow it.
			if !w.broken[n] {
				w.broken[n] = true
				w.log.Warn("member carrier cannot be polled; following its link notifications only (a carrier loss may be seen up to 1 s late)", "member", n, "err", err)
				w.wake()
			}
		default:
			if told, ok := w.told[n]; !ok || told != up {
				w.told[n] = up
				w.report(n, up)
			}
		}
		w.mu.Unlock()
	}
}
