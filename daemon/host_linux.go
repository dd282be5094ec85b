//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/afpacket"
	"github.com/teamd-go/teamd-go/dataplane/afxdp"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/link"
	"github.com/teamd-go/teamd-go/dataplane/tap"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
)

// host opens members and vnics on this machine, on the team's backend:
//
//   - af_packet: an AF_PACKET socket with a TPACKET_V2 ring on each
//     interface, TAP vnics with offloads on.
//   - xdp: the XDP program of ebpf/xsk and an AF_XDP socket per RX queue
//     on each interface (members, and vnics that are interfaces), attached
//     through a BPF link so that the kernel detaches it when the daemon
//     exits, even on kill -9. TAP vnics keep their own fd beside them (a
//     TAP's frames come from the host's own stack, there is no driver to
//     run XDP in), opened without offloads so that no super-frame enters
//     a team whose AF_XDP ports carry only wire frames.
//
// On xdp the team's AF_XDP ports share one UMEM (afxdp.UMEM), made at
// the first port opened with frames that fit its MTU: a frame one port
// receives is sent on another by descriptor, not copied. A port whose
// MTU needs larger frames keeps a UMEM of its own.
type host struct {
	backend string
	log     *slog.Logger

	mu   sync.Mutex
	umem *afxdp.UMEM // xdp: the team's shared UMEM, made at the first open
}

var _ team.Host = (*host)(nil)

func newHost(backend string, log *slog.Logger) (*host, error) {
	switch backend {
	case config.BackendAFPacket, "":
		return &host{backend: config.BackendAFPacket, log: log}, nil
	case config.BackendXDP:
		return &host{backend: config.BackendXDP, log: log}, nil
	}
	return nil, fmt.Errorf("backend: unknown backend %q", backend)
}

// takenPort is a socket on an interface that was taken over: closing it
// closes the socket and puts the interface back as it was.
type takenPort struct {
	dataplane.Port
	taken *link.Taken
}

func (p takenPort) Close() error {
	return errors.Join(p.Port.Close(), p.taken.Restore())
}

// queuedPort is a takenPort whose socket reports its transmit queue
// (dataplane.TxQueuer, AF_PACKET's SIOCOUTQ): the wrapper must keep that
// method visible, or flowlet_gap: auto measures nothing on the member.
type queuedPort struct {
	takenPort
	q dataplane.TxQueuer
}

func (p queuedPort) TxQueued() (int, error) { return p.q.TxQueued() }

var _ dataplane.TxQueuer = queuedPort{}

// lendingPort is a queuedPort whose socket lends its received frames
// (dataplane.Loaner, AF_XDP's UMEM): the wrapper keeps that visible too,
// or the team copies every frame out of the UMEM again.
type lendingPort struct {
	queuedPort
	l dataplane.Loaner
}

func (p lendingPort) ReadLoan(frames [][]byte, sizes []int) (int, error) {
	return p.l.ReadLoan(frames, sizes)
}
func (p lendingPort) Release() { p.l.Release() }

var (
	_ dataplane.TxQueuer = lendingPort{}
	_ dataplane.Loaner   = lendingPort{}
)

// readyPort is a queuedPort whose socket also offers a readiness check
// (dataplane.Readier, AF_PACKET): without it the team's readers cannot
// spin, and sleep in Read after every frame. lendingReadyPort is the
// same for a lendingPort (AF_XDP).
type readyPort struct {
	queuedPort
	r dataplane.Readier
}

func (p readyPort) Ready() bool { return p.r.Ready() }

type lendingReadyPort struct {
	lendingPort
	r dataplane.Readier
}

func (p lendingReadyPort) Ready() bool { return p.r.Ready() }

var (
	_ dataplane.Readier = readyPort{}
	_ dataplane.Readier = lendingReadyPort{}
	_ dataplane.Loaner  = lendingReadyPort{}
)

// wrap returns the taken port, keeping the optional interfaces of p (a
// Loaner or a Readier is a TxQueuer too: both backends' ports are).
func wrap(p dataplane.Port, taken *link.Taken) dataplane.Port {
	tp := takenPort{Port: p, taken: taken}
	q, isQ := p.(dataplane.TxQueuer)
	if !isQ {
		return tp
	}
	qp := queuedPort{takenPort: tp, q: q}
	l, lends := p.(dataplane.Loaner)
	r, ready := p.(dataplane.Readier)
	switch {
	case lends && ready:
		return lendingReadyPort{lendingPort: lendingPort{queuedPort: qp, l: l}, r: r}
	case lends:
		return lendingPort{queuedPort: qp, l: l}
	case ready:
		return readyPort{queuedPort: qp, r: r}
	}
	return qp
}

func (h *host) open(name string) (dataplane.Port, team.Link, error) {
	taken, err := link.Takeover(name, link.TakeoverOptions{})
	if err != nil {
		return nil, team.Link{}, err
	}
	// Promiscuous through a socket membership: the kernel drops it when
	// the socket closes, even if the daemon is killed.
	var p dataplane.Port
	switch h.backend {
	case config.BackendXDP:
		var xp *afxdp.Port
		var u *afxdp.UMEM
		if u, err = h.sharedUMEM(name); err != nil {
			_ = taken.Restore()
			return nil, team.Link{}, err
		}
		xp, err = afxdp.Open(name, afxdp.Options{Promisc: true, UMEM: u})
		if err == nil {
			p = xp
			if xp.DriverErr != nil {
				h.log.Warn("native XDP refused; the program runs in generic mode, where VLAN tags the driver strips are lost", "interface", name, "reason", xp.DriverErr)
			}
			if xp.SharedErr != nil {
				h.log.Warn("AF_XDP sockets could not share the team's UMEM: frames to and from this interface are copied", "interface", name, "reason", xp.SharedErr)
			}
			if xp.VLANErr != nil {
				h.log.Warn("XDP program not bound to the device: VLAN tags the driver strips are lost", "interface", name, "reason", xp.VLANErr)
			}
		}
	default:
		p, err = afpacket.Open(name, afpacket.Options{Promisc: true})
	}
	if err != nil {
		_ = taken.Restore()
		return nil, team.Link{}, err
	}
	ev, err := link.ByName(name)
	if err != nil {
		_ = p.Close()
		_ = taken.Restore()
		return nil, team.Link{}, err
	}
	return wrap(p, taken), team.Link{MAC: frame.MAC(ev.MAC), Carrier: ev.Carrier}, nil
}

// sharedUMEM returns the team's UMEM, made for the MTU of interface
// name if it is the first.
func (h *host) sharedUMEM(name string) (*afxdp.UMEM, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.umem != nil {
		return h.umem, nil
	}
	size := afxdp.DefaultFrameSize
	if ifi, err := net.InterfaceByName(name); err == nil && ifi.MTU+18 > size-256 {
		size = 4096 // XDP's headroom, an Ethernet header and a tag (see afxdp)
	}
	u, err := afxdp.NewUMEM(afxdp.UMEMOptions{FrameSize: size})
	if err != nil {
		return nil, err
	}
	h.umem = u
	return u, nil
}

func (h *host) OpenMember(name string) (dataplane.Port, team.Link, error) {
	return h.open(name)
}

func (h *host) OpenVNIC(v config.VNIC) (dataplane.Port, team.Link, error) {
	if !v.TAP {
		return h.open(v.Name)
	}
	var mac [6]byte
	if v.MAC != "" {
		m, err := frame.ParseMAC(v.MAC)
		if err != nil {
			return nil, team.Link{}, fmt.Errorf("vnic %q mac: %w", v.Name, err)
		}
		mac = m
	}
	p, err := tap.CreateWith(v.Name, mac, tap.Options{NoOffloads: h.backend == config.BackendXDP})
	if err != nil {
		return nil, team.Link{}, err
	}
	return p, team.Link{MAC: frame.MAC(p.MAC()), Carrier: true}, nil
}
