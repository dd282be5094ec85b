package team

import (
	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// Host opens the team's ports. The daemon's host opens AF_PACKET sockets
// and TAP devices; tests hand in fake ports.
type Host interface {
	// OpenMember takes over a physical NIC. Closing the returned port
	// gives the NIC back as it was.
	OpenMember(name string) (dataplane.Port, Link, error)
	// OpenVNIC attaches an existing interface, or creates a TAP, as a
	// port of the virtual switch. For a TAP, Link.MAC is its address,
	// which the vnic owns from the start.
	OpenVNIC(v config.VNIC) (dataplane.Port, Link, error)
}

// Link is what the host knows of an interface when it is opened.
type Link struct {
	MAC     frame.MAC
	Carrier bool
}
