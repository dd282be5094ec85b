// Package xskprog loads and attaches the XDP program of the xdp backend
// (xsk.c beside this file): it redirects every frame an interface
// receives on RX queue q into the AF_XDP socket registered for q, and
// passes frames of a queue without a socket to the kernel stack.
//
// The program is compiled by bpf2go (go generate, or make generate, with
// Debian's clang); the objects for both byte orders and their Go loaders
// are committed, so building needs no clang. CI regenerates them and
// fails when a committed file differs.
//
// The program is attached through a BPF link held by the process: when
// the daemon exits, however it exits, the kernel detaches the program and
// frees its maps. Nothing is pinned (bpffs is not needed).
//
// Linux only; elsewhere Attach fails with errors.ErrUnsupported.
package xskprog

// Counters of the program, summed over CPUs.
type Counters struct {
	Redirected uint64 // frames handed to a registered socket
	Passed     uint64 // frames of a queue without a socket, passed to the stack
}

// Mode is how the program is attached to the interface.
type Mode int

const (
	// ModeAuto tries the driver's native XDP and falls back to generic
	// (skb) mode if the driver refuses; Program.DriverErr says why.
	ModeAuto Mode = iota
	// ModeDriver is native XDP only.
	ModeDriver
	// ModeGeneric is the kernel's generic XDP, for drivers without it.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeDriver:
		return "driver"
	case ModeGeneric:
		return "generic"
	}
	return "unknown"
}

// MaxQueues is the number of RX queues the program has socket slots for
// (the size of its XSKMAP).
const MaxQueues = 256
