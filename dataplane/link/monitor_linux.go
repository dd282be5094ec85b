//go:build linux

package link

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Monitor follows the state of every interface of one network namespace
// through rtnetlink and hands each change to a callback.
type Monitor struct {
	fn  func(Event)
	log *slog.Logger
	ns  netns.NsHandle  // the namespace followed
	h   *netlink.Handle // dumps, in ns

	stop     chan struct{} // closed by Close
	done     chan struct{} // closed when run returns
	stopOnce sync.Once

	known map[int]Event // last event delivered, by index; run only
}

// rcvbufSize is the receive buffer asked for the subscription socket, so a
// burst of changes does not overflow it (tests shrink it to force one).
var rcvbufSize = 1 << 20

// resubscribeDelay bounds the wait between failed attempts to subscribe
// again after the subscription broke.
const resubscribeDelay = 5 * time.Second

// NewMonitor starts following the interfaces of the calling thread's
// network namespace. fn is called from one goroutine, one event at a time:
// first with the state of every existing interface, then with each change.
//
// Events carry the whole state, so a change that does not alter any field
// of Event is not delivered. A rename is delivered as a Deleted event for
// the old name, then an event for the new one (same Index), so a team that
// knows its members by name sees one leave and maybe another arrive. If the
// subscription breaks (the socket overflowed and changes were lost), the
// Monitor subscribes again, dumps all interfaces and delivers what changed,
// with Deleted events for interfaces that vanished meanwhile; errors go to
// log (nil: discarded).
//
// fn must not call Close.
func NewMonitor(fn func(Event), log *slog.Logger) (*Monitor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("link monitor: %w", err)
	}
	// A plain handle opens its socket in the calling thread's namespace,
	// which is ns: no setns, so no CAP_SYS_ADMIN.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("link monitor: %w", err)
	}
	m := &Monitor{
		fn:    fn,
		log:   log,
		ns:    ns,
		h:     h,
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		known: make(map[int]Event),
	}
	sub, links, err := m.open()
	if err != nil {
		h.Close()
		ns.Close()
		return nil, fmt.Errorf("link monitor: %w", err)
	}
	go m.run(sub, links)
	return m, nil
}

// Close stops the Monitor and waits until fn has returned for the last
// time.
func (m *Monitor) Close() error {
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
	return nil
}

// subscription is one rtnetlink link subscription.
type subscription struct {
	ch   chan netlink.LinkUpdate
	done chan struct{} // closing it closes the socket
}

// open subscribes, then dumps: the updates that race with the dump are
// queued on the socket and delivered after it, so none is lost.
func (m *Monitor) open() (*subscription, []netlink.Link, error) {
	s := &subscription{
		ch:   make(chan netlink.LinkUpdate, 16),
		done: make(chan struct{}),
	}
	opts := netlink.LinkSubscribeOptions{
		ReceiveBufferSize: rcvbufSize,
		ErrorCallback: func(err error) {
			select {
			case <-s.done: // we closed the socket
			default:
				m.log.Warn("link monitor: netlink subscription", "err", err)
			}
		},
	}
	// Subscribing from a thread of another namespace (a resubscription
	// from a test that entered ns on one locked thread) must enter ns
	// (setns, CAP_SYS_ADMIN). A daemon living in one namespace never does.
	cur, err := netns.Get()
	if err != nil || !cur.Equal(m.ns) {
		opts.Namespace = &m.ns
	}
	if err == nil {
		cur.Close()
	}
	err = netlink.LinkSubscribeWithOptions(s.ch, s.done, opts)
	if err != nil {
		close(s.done)
		return nil, nil, fmt.Errorf("subscribe: %w", err)
	}
	links, err := linkList(m.h)
	if err != nil {
		s.close()
		return nil, nil, fmt.Errorf("list links: %w", err)
	}
	return s, links, nil
}

// close releases the socket and waits for netlink's reader goroutine,
// which may be blocked sending on ch, to finish.
func (s *subscription) close() {
	close(s.done)
	for range s.ch {
	}
}

func (m *Monitor) run(s *subscription, links []netlink.Link) {
	defer close(m.done)
	defer m.ns.Close()
	defer m.h.Close()
	for {
		m.sync(links)
		if !m.follow(s) {
			return
		}
		m.log.Warn("link monitor: subscription lost, resynchronising")
		var err error
		for delay := time.Duration(0); ; delay = min(2*delay+100*time.Millisecond, resubscribeDelay) {
			select {
			case <-m.stop:
				return
			case <-time.After(delay):
			}
			if s, links, err = m.open(); err == nil {
				break
			}
			m.log.Error("link monitor: resubscribe", "err", err, "retry_in", delay)
		}
	}
}

// follow delivers updates from s until Close (false) or until the
// subscription breaks (true).
func (m *Monitor) follow(s *subscription) bool {
	for {
		select {
		case <-m.stop:
			s.close()
			return false
		case u, ok := <-s.ch:
			if !ok {
				s.close()
				return true
			}
			e := eventOf(u.Link)
			e.Deleted = u.Header.Type == unix.RTM_DELLINK
			m.deliver(e)
		}
	}
}

// sync delivers a full dump: every interface's state, and a Deleted event
// for each one delivered before that is not there any more.
func (m *Monitor) sync(links []netlink.Link) {
	present := make(map[int]bool, len(links))
	for _, l := range links {
		e := eventOf(l)
		present[e.Index] = true
		m.deliver(e)
	}
	for i, e := range m.known {
		if !present[i] {
			e.Deleted = true
			m.deliver(e)
		}
	}
}

func (m *Monitor) deliver(e Event) {
	old, ok := m.known[e.Index]
	switch {
	case e.Deleted:
		delete(m.known, e.Index)
	case ok && old == e:
		return
	case ok && old.Name != e.Name:
		old.Deleted = true
		m.fn(old)
		fallthrough
	default:
		m.known[e.Index] = e
	}
	m.fn(e)
}
