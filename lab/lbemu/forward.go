package lbemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// port is a frame socket: one frame per Read and per Write. Close
// unblocks Read. *os.File over an AF_PACKET socket is one.
type port interface {
	io.ReadWriteCloser
}

// iface is an interface of the Router with its socket.
type iface struct {
	cfg  Interface
	ip   [4]byte
	mac  frame.MAC
	mtu  int
	port port
	// vnet: every frame read from or written to port starts with a
	// virtio-net header (PACKET_VNET_HDR). Both interfaces of a Router
	// agree.
	vnet bool
}

// Router is the emulated load balancer. Create it with Open; Run
// forwards until its context ends.
type Router struct {
	cfg  Config
	log  *slog.Logger
	ifs  [2]*iface
	now  func() time.Time
	stop sync.Once
	// vh is the length of the virtio-net header in front of every frame
	// the ports move: dataplane.VnetHdrLen, or 0 for ports without one
	// (the unit tests' in-memory ports).
	vh int

	mu      sync.Mutex
	conns   map[connKey]*conn
	arp     map[[4]byte]arpEntry
	pending map[[4]byte]*pending
	stats   Stats
}

// connKey identifies a connection in the direction of its opening frame.
// It is comparable and pointer-free.
type connKey struct {
	proto      uint8
	src, dst   [4]byte
	sport, dpt uint16
}

func (k connKey) reverse() connKey {
	return connKey{proto: k.proto, src: k.dst, dst: k.src, sport: k.dpt, dpt: k.sport}
}

type conn struct {
	side     Side
	lastHop  frame.MAC
	seen     time.Time
	report   int // index in stats.Conns, -1 if not reported
	returned uint64
}

type arpEntry struct {
	mac     frame.MAC
	side    Side
	expires time.Time
}

// pending is an address being resolved, with the frames waiting for it.
type pending struct {
	side   Side
	frames [][]byte
	tries  int
	next   time.Time
}

const (
	arpTimeout     = 60 * time.Second
	arpRetry       = 300 * time.Millisecond
	arpTries       = 3
	maxPending     = 16
	tickInterval   = 100 * time.Millisecond
	etherTypeIPv4  = 0x0800
	etherTypeARP   = neigh.EtherTypeARP
	protoICMP      = 1
	protoTCP       = 6
	protoUDP       = 17
	ethHeaderLen   = 14
	ipv4MinHdrLen  = 20
	minFrameLength = 60
)

// newRouter builds a Router over two ports (MAC and MTU as given): Open
// for real sockets, tests for in-memory ones.
func newRouter(cfg Config, in, out *iface) (*Router, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if in.vnet != out.vnet {
		return nil, fmt.Errorf("%w: one interface with a virtio-net header and one without", ErrConfig)
	}
	in.cfg, out.cfg = cfg.Inside, cfg.Outside
	in.ip, out.ip = cfg.Inside.Addr.Addr().As4(), cfg.Outside.Addr.Addr().As4()
	// Longest prefix first, so the first match is the best.
	cfg.Routes = slices.Clone(cfg.Routes)
	slices.SortStableFunc(cfg.Routes, func(a, b Route) int { return b.Dst.Bits() - a.Dst.Bits() })
	r := &Router{
		cfg:     cfg,
		log:     cfg.Log,
		ifs:     [2]*iface{in, out},
		now:     time.Now,
		conns:   make(map[connKey]*conn),
		arp:     make(map[[4]byte]arpEntry),
		pending: make(map[[4]byte]*pending),
	}
	if in.vnet {
		r.vh = dataplane.VnetHdrLen
	}
	r.stats.LastHop = cfg.LastHop
	r.stats.LastHopMACs = map[string]uint64{}
	r.stats.Openers = map[string]uint64{}
	r.stats.InsideMACs = map[string]uint64{}
	return r, nil
}

// Run forwards frames until ctx ends or a socket fails, then closes the
// sockets. It returns nil when ctx ended.
func (r *Router) Run(ctx context.Context) error {
	r.log.Info("load balancer emulator running",
		"inside", r.cfg.Inside.Name, "inside_mac", r.ifs[Inside].mac.String(), "inside_addr", r.cfg.Inside.Addr,
		"outside", r.cfg.Outside.Name, "outside_mac", r.ifs[Outside].mac.String(), "outside_addr", r.cfg.Outside.Addr,
		"last_hop", r.cfg.LastHop)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	for _, s := range []Side{Inside, Outside} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- r.receive(s)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(tickInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.tick()
			}
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	r.Close()
	wg.Wait()
	return err
}

// Close closes both sockets; Run returns. It may be called more than once.
func (r *Router) Close() {
	r.stop.Do(func() {
		for _, i := range r.ifs {
			_ = i.port.Close()
		}
	})
}

// receive is one interface's reader.
func (r *Router) receive(s Side) error {
	buf := make([]byte, r.vh+1<<16+ethHeaderLen)
	var out []output
	for {
		n, err := r.ifs[s].port.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read %s: %w", r.ifs[s].cfg.Name, err)
		}
		out = r.handle(s, buf[:n], out[:0])
		r.send(out)
	}
}

// output is a frame to write to a side, starting with its virtio-net
// header when the Router's ports have one (Router.vh bytes).
type output struct {
	side  Side
	frame []byte
}

func (r *Router) send(out []output) {
	for _, o := range out {
		if _, err := r.ifs[o.side].port.Write(o.frame); err != nil {
			r.mu.Lock()
			r.stats.WriteErrs++
			r.mu.Unlock()
		}
	}
}

// handle processes one received frame and appends what to send. pkt is
// the frame as the port delivered it: the virtio-net header (r.vh bytes),
// then the Ethernet frame. It is modified in place and may be among the
// outputs.
//
// The header goes out as it came in. It describes a GSO super-frame
// (segment size, type) and a checksum left to the device (where the L4
// checksum starts and where it goes), and forwarding changes none of what
// that depends on: the MACs, the TTL and the IPv4 header checksum are
// rewritten in place, nothing moves, and the L4 checksum's pseudo-header
// has neither TTL nor MACs. The IPv4 header checksum stays the super-
// frame's own; whoever segments it later (the kernel, a switch) writes
// each segment's total length and ID and recomputes its header checksum.
func (r *Router) handle(s Side, pkt []byte, out []output) []output {
	if len(pkt) < r.vh+ethHeaderLen {
		return out
	}
	hdr, fr := pkt[:r.vh], pkt[r.vh:]
	in := r.ifs[s]
	switch binary.BigEndian.Uint16(fr[12:14]) {
	case etherTypeARP:
		return r.handleARP(s, fr[ethHeaderLen:], out)
	case etherTypeIPv4:
	default:
		return out
	}
	if frame.MAC(fr[0:6]) != in.mac {
		return out // broadcast, multicast, or another box's
	}
	ip := fr[ethHeaderLen:]
	if len(ip) < ipv4MinHdrLen || ip[0]>>4 != 4 {
		r.count(&r.stats.Malformed)
		return out
	}
	hl := int(ip[0]&0xf) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if hl < ipv4MinHdrLen || total < hl || total > len(ip) {
		r.count(&r.stats.Malformed)
		return out
	}
	dst := [4]byte(ip[16:20])
	if r.isLocal(dst) {
		return out // the kernel's
	}
	if da := netip.AddrFrom4(dst); da.IsMulticast() || dst == [4]byte{255, 255, 255, 255} {
		return out
	}
	key := keyOf(ip[:total], hl)
	src := frame.MAC(fr[6:12])
	now := r.now()

	r.mu.Lock()
	defer r.mu.Unlock()
	if ip[8] <= 1 {
		r.stats.TTLExpired++
		return out
	}
	egress, nextMAC, ok := Side(0), frame.MAC{}, false
	if r.cfg.LastHop {
		egress, nextMAC, ok = r.lastHop(s, key, src, now)
	}
	var nh [4]byte
	if !ok {
		egress, nh, ok = r.route(dst)
		if !ok {
			r.stats.NoRoute++
			return out
		}
	}
	gso := r.vh > 0 && hdr[1]&^dataplane.VnetGSOECN != dataplane.VnetGSONone
	if total > r.ifs[egress].mtu && !gso {
		// A super-frame is longer than the MTU by design: each of its
		// segments fits.
		r.stats.TooBig++
		return out
	}
	if gso {
		r.stats.GSO++
	}
	pkt = pkt[:r.vh+ethHeaderLen+total] // drop Ethernet padding
	decrementTTL(ip)
	copy(fr[6:12], r.ifs[egress].mac[:])
	if s == Inside {
		r.stats.FromInside++
	} else {
		r.stats.FromOutside++
	}
	if nextMAC != (frame.MAC{}) {
		r.stats.ToLastHop++
		r.stats.LastHopMACs[nextMAC.String()]++
		return r.emit(egress, nextMAC, pkt, out)
	}
	if e, ok := r.arp[nh]; ok && e.side == egress && now.Before(e.expires) {
		r.stats.Routed++
		return r.emit(egress, e.mac, pkt, out)
	}
	return r.queue(egress, nh, pkt, now, out)
}

// emit addresses pkt (virtio-net header and frame) to dst and appends it
// to out. Called with r.mu held.
func (r *Router) emit(egress Side, dst frame.MAC, pkt []byte, out []output) []output {
	copy(pkt[r.vh:r.vh+6], dst[:])
	if egress == Inside {
		r.stats.InsideMACs[dst.String()]++
	}
	return append(out, output{egress, pkt})
}

// lastHop looks the frame's connection up (creating it for a first frame)
// and returns where to send the frame if it is return traffic.
// Called with r.mu held.
func (r *Router) lastHop(s Side, key connKey, src frame.MAC, now time.Time) (Side, frame.MAC, bool) {
	if c, ok := r.conns[key]; ok {
		// The opener's direction: routed as usual.
		c.seen = now
		return 0, frame.MAC{}, false
	}
	if c, ok := r.conns[key.reverse()]; ok {
		c.seen = now
		if c.side == s {
			return 0, frame.MAC{}, false
		}
		c.returned++
		if c.report >= 0 {
			r.stats.Conns[c.report].Returned = c.returned
		}
		return c.side, c.lastHop, true
	}
	if len(r.conns) >= MaxConns {
		r.stats.TableFull++
		return 0, frame.MAC{}, false
	}
	c := &conn{side: s, lastHop: src, seen: now, report: -1}
	r.conns[key] = c
	r.stats.Connections++
	r.stats.Openers[src.String()]++
	if len(r.stats.Conns) < MaxReportedConns {
		c.report = len(r.stats.Conns)
		r.stats.Conns = append(r.stats.Conns, Conn{
			Proto:   key.proto,
			Src:     netip.AddrPortFrom(netip.AddrFrom4(key.src), key.sport),
			Dst:     netip.AddrPortFrom(netip.AddrFrom4(key.dst), key.dpt),
			Side:    s.String(),
			LastHop: src.String(),
		})
	}
	return 0, frame.MAC{}, false
}

// route returns the egress side and next-hop address for dst.
func (r *Router) route(dst [4]byte) (Side, [4]byte, bool) {
	a := netip.AddrFrom4(dst)
	for _, s := range []Side{Inside, Outside} {
		if r.ifs[s].cfg.Addr.Masked().Contains(a) {
			return s, dst, true
		}
	}
	for _, rt := range r.cfg.Routes {
		if rt.Dst.Contains(a) {
			for _, s := range []Side{Inside, Outside} {
				if r.ifs[s].cfg.Addr.Masked().Contains(rt.Via) {
					return s, rt.Via.As4(), true
				}
			}
		}
	}
	return 0, [4]byte{}, false
}

func (r *Router) isLocal(a [4]byte) bool {
	return a == r.ifs[Inside].ip || a == r.ifs[Outside].ip
}

func (r *Router) count(c *uint64) {
	r.mu.Lock()
	*c++
	r.mu.Unlock()
}

// keyOf builds the connection key of an IPv4 packet with header length hl.
func keyOf(ip []byte, hl int) connKey {
	k := connKey{proto: ip[9], src: [4]byte(ip[12:16]), dst: [4]byte(ip[16:20])}
	if binary.BigEndian.Uint16(ip[6:8])&0x1fff != 0 {
		return k // a later fragment: no transport header
	}
	l4 := ip[hl:]
	switch k.proto {
	case protoTCP, protoUDP:
		if len(l4) >= 4 {
			k.sport = binary.BigEndian.Uint16(l4[0:2])
			k.dpt = binary.BigEndian.Uint16(l4[2:4])
		}
	case protoICMP:
		// An echo and its reply share a key in opposite directions: the
		// identifier is the request's source "port" and the reply's
		// destination "port".
		if len(l4) >= 6 {
			id := binary.BigEndian.Uint16(l4[4:6])
			switch l4[0] {
			case 8:
				k.sport = id
			case 0:
				k.dpt = id
			}
		}
	}
	return k
}

// decrementTTL lowers an IPv4 header's TTL by one and updates the header
// checksum incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func decrementTTL(ip []byte) {
	old := binary.BigEndian.Uint16(ip[8:10]) // TTL and protocol
	ip[8]--
	binary.BigEndian.PutUint16(ip[10:12],
		updateChecksum(binary.BigEndian.Uint16(ip[10:12]), old, binary.BigEndian.Uint16(ip[8:10])))
}

func updateChecksum(hc, old, new uint16) uint16 {
	s := uint32(^hc) + uint32(^old) + uint32(new)
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return ^uint16(s)
}

// tick retries ARP requests, gives up on unresolved addresses and expires
// idle connections.
func (r *Router) tick() {
	now := r.now()
	var out []output
	r.mu.Lock()
	for a, p := range r.pending {
		if now.Before(p.next) {
			continue
		}
		if p.tries >= arpTries {
			r.stats.Unresolved += uint64(len(p.frames))
			delete(r.pending, a)
			continue
		}
		out = append(out, output{p.side, r.arpRequest(p.side, a)})
		p.tries++
		p.next = now.Add(arpRetry)
	}
	for k, c := range r.conns {
		if now.Sub(c.seen) > r.cfg.IdleTimeout {
			delete(r.conns, k)
		}
	}
	for a, e := range r.arp {
		if now.After(e.expires) {
			delete(r.arp, a)
		}
	}
	r.mu.Unlock()
	r.send(out)
}

// Stats returns a copy of the counters.
func (r *Router) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.LastHopMACs = maps.Clone(r.stats.LastHopMACs)
	s.Openers = maps.Clone(r.stats.Openers)
	s.InsideMACs = maps.Clone(r.stats.InsideMACs)
	s.Conns = slices.Clone(r.stats.Conns)
	return s
}
