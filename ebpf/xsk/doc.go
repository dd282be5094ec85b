// Package xskprog loads and attaches the XDP program of the xdp backend
// (xsk.c beside this file): it redirects every frame an interface
// receives on RX queue q into the AF_XDP socket registered for q, and
// passes frames of a queue without a socket to the kernel stack.
//
// In driver mode the program is loaded bound to the interface
// (BPF_F_XDP_DEV_BOUND_ONLY, Linux 6.3), which lets it ask the driver
// for a VLAN tag held beside the frame (bpf_xdp_metadata_rx_vlan_tag,
// Linux 6.8; veth and NICs with receive VLAN stripping hold tags so) and
// hand it to the socket in the frame's metadata (Meta*). Generic mode
// has no such kfunc: a tag the driver stripped is lost there, so a NIC
// used in generic mode needs rx-vlan-offload off to carry VLANs.
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
	VLANTags   uint64 // out-of-band VLAN tags put in the frame's metadata
	VLANLost   uint64 // out-of-band VLAN tags with no room for the metadata
}

// Metadata the program writes in front of a redirected frame (struct
// xsk_meta in xsk.c), when flags has MetaVLAN: the frame's VLAN tag,
// which the driver held beside it. The reader puts the tag back after the
// MAC addresses and clears flags.
const (
	MetaLen   = 8 // bytes in front of the frame
	MetaTCI   = 0 // offset of the TCI, host order
	MetaTPID  = 2 // offset of the TPID, network order
	MetaFlags = 4 // offset of the flags word, host order
	MetaVLAN  = 1 // flag: the TCI and TPID are set
)

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
