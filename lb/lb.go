// Package lb holds the team's transmit balancers: given a parsed frame and
// the set of members that may carry traffic, a balancer picks one.
//
// A Balancer is shared by the whole team; each transmit goroutine asks it
// for its own Picker, so per-flow state needs no lock. Balancers see only
// parsed frames and member sets: they know nothing of sockets or modes.
//
// New makes a balancer by its config name (see the constants ActiveBackup,
// HyperVPort, AddressHash, RoundRobin and Dynamic for what each does on the
// wire). Every algorithm picks without allocating and without locks; the
// team decides on source-MAC rewrite itself, balancers never touch frames.
package lb

import (
	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// View is an immutable snapshot of the team as the balancers see it. The
// team builds a new View whenever membership, link state or homes change
// and publishes it atomically; a View is never modified once published
// (Pickers cache what they derive from a View, keyed by its address).
type View struct {
	// Members lists the IDs of the members that may carry traffic, most
	// preferred first (Members[0] is the active member for active-backup).
	// A member ID is a small integer, stable while the member is in the
	// team, below MaxMembers.
	Members []int
	// Home maps a vnic ID to the member ID its MAC is registered on in
	// switch-independent mode (-1: none). Balancers that keep a vnic on
	// one member (hyperv-port) use it; it may be nil in other modes.
	Home []int
}

// MaxMembers bounds member IDs.
const MaxMembers = 64

// Picker chooses a member for each frame of one transmit goroutine.
type Picker interface {
	// Pick returns the member ID (an element of v.Members, which is never
	// empty) for a frame of size bytes from vnic, at monotonic time now
	// (nanoseconds). It must not allocate.
	Pick(v *View, f *frame.Frame, vnic int, size int, now int64) int
}

// Balancer is one balancing algorithm with its configuration.
type Balancer interface {
	// Name is the algorithm's config name, e.g. "address-hash".
	Name() string
	// NewPicker returns a Picker for one goroutine.
	NewPicker() Picker
}

// Statser is implemented by balancers that count their decisions
// (dynamic). The counts are shared by all Pickers of the Balancer.
type Statser interface {
	Stats() Stats
}

// Stats counts a balancer's decisions since New.
type Stats struct {
	// Moves counts flowlets that left on a different member than the
	// previous flowlet of the same flow (flowlet switching at work).
	Moves uint64
	// Reassigned counts flows moved at once, mid-flowlet if need be,
	// because their member left the View.
	Reassigned uint64
	// Refused counts flowlets that would have moved with a fixed gap
	// equal to the margin but stayed, because they had been idle for less
	// than the measured delay difference plus the margin (Options.Delays).
	Refused uint64
}
