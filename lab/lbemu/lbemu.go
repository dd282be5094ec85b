// Package lbemu emulates the part of a hardware load balancer that the
// auto-last-hop bug (docs/bugs.md) is about: a router with "auto last hop"
// (F5 BIG-IP) or "MAC based forwarding" (Citrix NetScaler).
//
// # The box
//
// A Router forwards IPv4 between two Ethernet interfaces of one network
// namespace: inside, on the servers' subnet, where it is the servers'
// default gateway, and outside, towards the clients. The kernel of that
// namespace holds the two gateway addresses, so it answers ARP and ping
// for them, but runs with net.ipv4.ip_forward=0: it drops every frame
// that is addressed to the box's MAC but not to one of its IPs. The
// Router reads those frames from an AF_PACKET socket on each interface
// (PACKET_IGNORE_OUTGOING, so it never sees what it sent) and forwards
// them itself, like any router:
//
//  1. an IPv4 frame whose destination MAC is the receiving interface's and
//     whose destination IP is none of the box's (frames for the box are
//     the kernel's; ARP is only read, to learn);
//  2. TTL decremented, the header checksum updated incrementally (RFC 1624);
//     a frame arriving with TTL 1 or 0 is dropped and counted, no ICMP;
//  3. a next hop chosen (below), the source MAC set to the egress
//     interface's and the destination MAC to the next hop's, and the frame
//     written to the egress interface's socket.
//
// # Offloads
//
// The neighbours keep their default offloads. A veth with TSO and
// checksum offload on hands its peer GSO super-frames (up to 64 KiB, one
// TCP segment per MSS later) and frames whose L4 checksum is left to the
// device (CHECKSUM_PARTIAL). The Router reads and writes its sockets with
// PACKET_VNET_HDR, like teamd-go and Open vSwitch's userspace TSO: each
// frame comes with the 10-byte virtio-net header that describes exactly
// that (GSO type and segment size, checksum start and offset), and the
// Router writes the header back out unchanged with the frame it forwards.
// That is sound because forwarding moves nothing and touches nothing the
// header describes: the MACs, the TTL and the IPv4 header checksum change
// in place; the L4 checksum's pseudo-header holds neither TTL nor MACs.
// The IPv4 header checksum is the super-frame's; when a super-frame is
// segmented further on (by the kernel, for a device without TSO), each
// segment gets its own total length, ID and a recomputed header checksum.
// A super-frame is longer than the egress MTU by design and is forwarded
// (counted in Stats.GSO); a plain frame longer than the MTU is dropped
// and counted as TooBig. Frames the Router builds itself (ARP requests)
// carry an all-zero header.
//
// # Next hop: by ARP, or the auto last hop
//
// Without Config.LastHop the Router is an ordinary router: the next hop is
// the destination itself on a connected subnet, or a route's gateway, and
// its MAC comes from ARP. The cache learns from ARP replies and from ARP
// requests addressed to the box, by the ARP sender hardware address, never
// by the Ethernet source (which a NIC team may have rewritten). A frame
// that waits for a reply is queued (up to 16 per address); the request is
// sent up to three times, 300 ms apart, then the queue is dropped and
// counted as Unresolved.
//
// With Config.LastHop the Router also keeps a connection table keyed by
// protocol, both addresses and both ports (an ICMP echo's identifier
// stands in for the ports; other protocols have none). The first frame
// of a connection creates its entry and records that frame's Ethernet
// source MAC and the interface it came in on: the last hop. Frames of the
// same connection arriving from the other interface (the return traffic)
// are sent to that MAC, on that interface, without looking at their
// destination IP: no route, no ARP. Later frames never change the entry,
// so a retransmitted SYN cannot repair it; an entry goes after
// Config.IdleTimeout without frames.
//
// That shortcut is sound as long as the source MAC of a frame names the
// box that will accept the reply. A switch-independent team with
// source-MAC rewrite (teamd-go's source_mac_rewrite: auto, Windows'
// Dynamic and Address Hash algorithms) breaks it: a VM's SYN that leaves
// on a member other than the VM's home member carries that member's MAC,
// the Router remembers the member's MAC, and the SYN-ACK arrives at the
// team addressed to a MAC that no vnic owns, where it is dropped
// (rx_dropped_not_owned). The connection never opens.
//
// # What it counts
//
// Stats counts forwarded frames per direction, frames sent to a
// remembered last hop (in total and per MAC), frames sent to a next hop
// resolved by ARP, connections per opening MAC, and every drop by reason;
// Stats.Conns lists the connections themselves (the first 4096), so a
// failed exchange can be traced to the MAC its replies went to.
package lbemu

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Side names an interface of the Router.
type Side int

const (
	// Inside is the interface on the servers' subnet.
	Inside Side = iota
	// Outside is the interface towards the clients.
	Outside
)

func (s Side) String() string {
	if s == Inside {
		return "inside"
	}
	return "outside"
}

// Interface is one of the Router's interfaces.
type Interface struct {
	// Name is the interface in the Router's namespace, e.g. "in0".
	Name string
	// Addr is the interface's address with its subnet, e.g. 10.61.1.1/24.
	// The kernel must hold the same address: it answers ARP for it.
	Addr netip.Prefix
}

// Route sends traffic for Dst to the gateway Via, which must be on the
// subnet of one of the interfaces.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

// Config is a Router's configuration.
type Config struct {
	Inside, Outside Interface
	// Routes are consulted, longest prefix first, for destinations on
	// neither interface's subnet.
	Routes []Route
	// LastHop turns the auto-last-hop feature on (see the package doc).
	LastHop bool
	// IdleTimeout removes a connection after this long without frames.
	// Default 60 s.
	IdleTimeout time.Duration
	// Log receives rare events (start, errors); nil discards them.
	Log *slog.Logger
}

// DefaultIdleTimeout is Config.IdleTimeout's default.
const DefaultIdleTimeout = 60 * time.Second

// MaxConns bounds the connection table; a connection beyond it is routed
// as if LastHop were off, and counted in Stats.TableFull.
const MaxConns = 1 << 16

// MaxReportedConns bounds Stats.Conns.
const MaxReportedConns = 4096

// ErrConfig is returned (wrapped) for an invalid Config.
var ErrConfig = errors.New("invalid load balancer config")

func (c *Config) validate() error {
	for _, i := range []Interface{c.Inside, c.Outside} {
		if i.Name == "" || !i.Addr.IsValid() || !i.Addr.Addr().Is4() {
			return fmt.Errorf("%w: interface %q needs a name and an IPv4 address/prefix", ErrConfig, i.Name)
		}
	}
	if c.Inside.Name == c.Outside.Name {
		return fmt.Errorf("%w: inside and outside are both %q", ErrConfig, c.Inside.Name)
	}
	for _, r := range c.Routes {
		if !r.Dst.IsValid() || !r.Via.Is4() {
			return fmt.Errorf("%w: route %v via %v", ErrConfig, r.Dst, r.Via)
		}
		if !c.Inside.Addr.Masked().Contains(r.Via) && !c.Outside.Addr.Masked().Contains(r.Via) {
			return fmt.Errorf("%w: route %v: gateway %v is on neither interface's subnet", ErrConfig, r.Dst, r.Via)
		}
	}
	return nil
}

// Stats are a Router's counters since it started. Directions are named by
// the interface a frame came in on.
type Stats struct {
	LastHop bool `json:"last_hop"`
	// Forwarded counts frames forwarded, by ingress side.
	FromInside  uint64 `json:"forwarded_from_inside"`
	FromOutside uint64 `json:"forwarded_from_outside"`
	// ToLastHop counts frames sent to a remembered last-hop MAC;
	// LastHopMACs splits it per MAC.
	ToLastHop   uint64            `json:"to_last_hop"`
	LastHopMACs map[string]uint64 `json:"last_hop_macs"`
	// Routed counts frames sent to a next hop resolved by ARP.
	Routed uint64 `json:"routed"`
	// InsideMACs counts the frames sent out of the inside interface per
	// destination MAC, however it was found: who got the replies.
	InsideMACs map[string]uint64 `json:"inside_macs"`
	// Connections counts connection entries created; Openers splits it by
	// the source MAC of the opening frame.
	Connections uint64            `json:"connections"`
	Openers     map[string]uint64 `json:"openers"`
	// Conns lists the first MaxReportedConns connections.
	Conns []Conn `json:"conns,omitempty"`

	// GSO counts forwarded GSO super-frames (passed through whole).
	GSO uint64 `json:"forwarded_gso"`

	ARPRequests uint64 `json:"arp_requests"`
	ARPLearned  uint64 `json:"arp_learned"`

	// Drops, by reason.
	TTLExpired uint64 `json:"dropped_ttl_expired"`
	NoRoute    uint64 `json:"dropped_no_route"`
	Unresolved uint64 `json:"dropped_unresolved"`
	TooBig     uint64 `json:"dropped_too_big"`
	Malformed  uint64 `json:"dropped_malformed"`
	TableFull  uint64 `json:"table_full"`
	WriteErrs  uint64 `json:"write_errors"`
}

// Conn is one connection of the table as Stats reports it.
type Conn struct {
	Proto uint8 `json:"proto"`
	// Src and Dst are the addresses (with ports, if any) of the opening
	// frame.
	Src netip.AddrPort `json:"src"`
	Dst netip.AddrPort `json:"dst"`
	// Side is where the opening frame came in; LastHop its source MAC.
	Side    string `json:"side"`
	LastHop string `json:"last_hop"`
	// Returned counts frames sent to LastHop for this connection.
	Returned uint64 `json:"returned"`
}
