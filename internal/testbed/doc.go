// Package testbed builds throw-away networks of Linux network namespaces
// for the integration tests, `teamd-go lab` and the bench: namespaces,
// veth pairs and Linux bridges, processes with their output kept, a
// private Open vSwitch per namespace (userspace datapath), and teamd-go
// daemons read through `teamd-go ctl state` as a typed team.State.
//
// A network is described as data, a Topology (namespaces, links,
// interface settings, bridges, switches with their bonds, daemons), and
// made by one function, Build. Everything it makes belongs to a Bed,
// which records how to undo it and undoes it newest first (Close, or
// UnwindTo a mark for a part of a run). Tests use it through the thin
// adapters test/nstest and test/ovstest, which tie each resource to
// t.Cleanup; this package never imports testing.
//
// # Process lifetimes
//
// A Bed starts its processes with one of three Lifetimes: Attached (a
// plain child: what tests start), Owned (its own process group, stopped as
// a group and killed by the kernel if the caller dies: the bench, the
// switches of tests) or Detached (its own session, output to a log file
// in the Bed's directory, outliving the caller: `teamd-go lab --keep`).
//
// # Offloads
//
// The userspace datapath of Open vSwitch reads its ports with AF_PACKET.
// Unless userspace TSO is on (UserspaceTSO), it takes frames as plain
// buffers: it cannot forward GSO super-frames, and frames whose checksum
// is left to the NIC (CHECKSUM_PARTIAL, what a veth sends by default)
// leave it with that checksum unfilled. ARP and ICMP pass, but TCP does
// not even connect. So without UserspaceTSO turn offloads off on every
// interface whose traffic the switch receives (NS.OffloadsOff). With
// other_config:userspace-tso-enable=true, OVS 3.1 opens its ports with a
// virtio-net header and takes GSO and checksum-partial frames, so hosts
// keep the kernel's defaults. The setting only affects ports added after
// it is seen and cannot be turned off without restarting ovs-vswitchd,
// which is why it is a start option. teamd-go's tests and labs always use
// it; only the bench's plain "ovs-netdev" row measures OVS the other way.
package testbed
