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
