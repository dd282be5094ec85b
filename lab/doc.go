// Package lab is `teamd-go lab` (docs/contract.md §5): it builds a scenario's
// network in namespaces once per variant, runs traffic through teamd-go,
// prints one row per variant with a verdict and the reason for it, and
// removes everything.
//
//	teamd-go lab [SCENARIO] [--json] [--keep] [--variant NAME,...] [--backend af_packet|xdp] [--pcap DIR]
//	teamd-go lab down
//
// # Scenarios
//
// allScenarios lists them; each is a scenario value with its variants,
// each variant a topology (internal/testbed.Topology, built by
// testbed.Build) and a measurement that fills a result row.
// A row prints as a table line or as one flat JSON object: scenario,
// variant, attempts, succeeded, verdict ("ok", "broken", or "error" when
// the variant could not be measured), then expected, why and the
// scenario's own fields. The exit status is 0 when every verdict is the
// expected one. There are two, the field bugs of docs/bugs.md:
// auto-last-hop (see autoLastHop) and stale-mac (see staleMAC).
//
// # What runs where
//
// The daemon is the teamd-go binary itself (os.Executable, or the file
// named by $TEAMD_GO_LAB_DAEMON), started as `teamd-go -c FILE` in a
// namespace and read with `teamd-go ctl -t TEAM state`, like a user would.
// The lab's other programs are helpers of the same binary
// (`teamd-go lab --helper lb|tcp-server|tcp-client|garp`): the load
// balancer emulator (lab/lbemu), the traffic generator and a gratuitous
// ARP sender (what `arping -U` sends). Open vSwitch runs as a private
// ovsdb-server and ovs-vswitchd pair per variant, userspace datapath with
// userspace TSO.
//
// # Offloads
//
// No interface of a lab has its offloads turned off: the veths keep the
// kernel's defaults (TSO, checksum offload), so TCP leaves the hosts as
// GSO super-frames with checksums left to the device. teamd-go, Open
// vSwitch (other_config:userspace-tso-enable, set before ovs-vswitchd
// starts) and the load balancer emulator (PACKET_VNET_HDR) all read and
// write their packet sockets with a virtio-net header and pass such
// frames through; the kernel segments them only where a device cannot
// take them.
//
// # Names and cleanup
//
// A lab run is tgl<pid>. Its namespaces are tgl<pid>-<variant>-<role>, its
// teams tgl<pid>-<n> (tgl<pid>-<n>a, -<n>b with a daemon per host), its
// files (configs, logs, sockets, OVS databases) are in
// /run/tgl/tgl<pid>/<variant>/, and /run/tgl/tgl<pid>/lab.json
// records the process running it. Long-lived processes are detached (a
// session of their own, output to a log file), so that --keep can leave a
// working lab behind. After each variant, unless --keep, the lab stops its
// processes (SIGTERM, then SIGKILL), then whatever else runs in its
// namespaces, deletes the namespaces and the files; on SIGINT or SIGTERM
// it does the same for the variant in progress before exiting. `lab down`
// finds what a kept or crashed lab left by those names (namespaces,
// processes whose command line points into /run/tgl, directories, stale
// control sockets) and removes it, leaving labs that still run alone.
package lab
