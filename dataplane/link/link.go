// Package link is the control plane of the team's member interfaces: it
// follows their state through rtnetlink (Monitor), takes them over and
// gives them back as they were (Takeover, Restore), and answers one-off
// questions about them (ByName, Exists, Features).
//
// Everything works in the network namespace of the calling thread at the
// time of the call; a caller in another namespace locks its thread first.
package link

import "errors"

// ErrNotFound is returned for an interface that does not exist.
var ErrNotFound = errors.New("no such interface")

// Event is the state of one interface, as a Monitor delivers it and ByName
// returns it.
type Event struct {
	Name  string
	Index int
	MAC   [6]byte // all zero for interfaces without an Ethernet address
	// Carrier is true when the link layer is up: IFF_LOWER_UP is set and
	// the operational state is up (or unknown, for drivers that do not
	// track it). An admin-down interface has no carrier.
	Carrier bool
	AdminUp bool // IFF_UP
	// Deleted is set when the interface went away (or left the
	// namespace, or was renamed: see Monitor); the other fields are its
	// last state.
	Deleted bool
	MTU     int
	// Parent is the index the kernel gives as the device's link
	// (IFLA_LINK: a veth's peer, a VLAN's or macvlan's lower device),
	// sent only when it differs from Index; 0 for a device of its own,
	// such as a physical NIC.
	Parent int
}

// CarrierNotifiedAtOnce reports whether the kernel announces e's carrier
// changes at once. The rtnetlink notification is sent by the linkwatch
// work (net/core/link_watch.c), which runs an event at once only when it
// is urgent (linkwatch_urgent_event): the device is running and either
// its ifindex differs from its iflink (veth, VLAN, macvlan: exactly when
// the kernel sends IFLA_LINK, i.e. Parent is set), or it is a bonding or
// team port or master, or its carrier came up and its queues must be
// restarted. Every other event (a physical NIC losing carrier) waits
// for the next linkwatch run, at most one a second: up to 1 s late.
//
// The check is the kernel's, number for number: a veth whose peer, in
// another namespace, has the same ifindex as itself is not urgent
// either. A device whose ports are enslaved to a kernel bond or team is
// not reported here (a team member is not one); false is the safe
// answer, since the caller then polls the carrier.
func (e Event) CarrierNotifiedAtOnce() bool {
	return e.Parent != 0 && e.Parent != e.Index
}

// Offloads are the offloads an interface has on, as `ethtool -k` shows
// them.
type Offloads struct {
	TxChecksum bool // tx-checksumming (IPv4, IPv6 or generic)
	SG         bool // scatter-gather
	TSO        bool // tcp-segmentation-offload (any TSO flavour)
	GSO        bool // generic-segmentation-offload
	GRO        bool // generic-receive-offload
}
