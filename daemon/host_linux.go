//go:build linux

package daemon

import (
	"errors"
	"fmt"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/afpacket"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/link"
	"github.com/teamd-go/teamd-go/dataplane/tap"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/config"
)

// host opens members and vnics on this machine.
type host struct {
	backend string
}

var _ team.Host = (*host)(nil)

func newHost(backend string) (*host, error) {
	switch backend {
	case config.BackendAFPacket, "":
		return &host{backend: config.BackendAFPacket}, nil
	case config.BackendXDP:
		return nil, fmt.Errorf("backend: %q is not available in this build yet; use %q", backend, config.BackendAFPacket)
	}
	return nil, fmt.Errorf("backend: unknown backend %q", backend)
}

// takenPort is a socket on an interface that was taken over: closing it
// closes the socket and puts the interface back as it was.
type takenPort struct {
	*afpacket.Port
	taken *link.Taken
}

func (p takenPort) Close() error {
	return errors.Join(p.Port.Close(), p.taken.Restore())
}

func (h *host) open(name string) (dataplane.Port, team.Link, error) {
	taken, err := link.Takeover(name, link.TakeoverOptions{})
	if err != nil {
		return nil, team.Link{}, err
	}
	// Promiscuous through a socket membership: the kernel drops it when
	// the socket closes, even if the daemon is killed.
	p, err := afpacket.Open(name, afpacket.Options{Promisc: true})
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
	return takenPort{Port: p, taken: taken}, team.Link{MAC: frame.MAC(ev.MAC), Carrier: ev.Carrier}, nil
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
	p, err := tap.Create(v.Name, mac)
	if err != nil {
		return nil, team.Link{}, err
	}
	return p, team.Link{MAC: frame.MAC(p.MAC()), Carrier: true}, nil
}
