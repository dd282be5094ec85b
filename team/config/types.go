// Package config reads, validates and compares teamd-go configurations: the
// YAML format of docs/contract.md §3 and teamd's JSON format
// (docs/contract.md §3.2).
package config

import (
	"fmt"
	"slices"
	"time"

	"github.com/teamd-go/teamd-go/lb"
)

// Team modes.
const (
	ModeSwitchIndependent = "switch-independent"
	ModeStatic            = "static"
	ModeLACP              = "lacp"
)

// Balancing algorithms: the balancers' own names (package lb says what
// each does).
const (
	BalanceHyperVPort   = lb.HyperVPort
	BalanceAddressHash  = lb.AddressHash
	BalanceDynamic      = lb.Dynamic
	BalanceActiveBackup = lb.ActiveBackup
	BalanceRoundRobin   = lb.RoundRobin
)

// Source-MAC rewrite policies (docs/contract.md §3.1).
const (
	RewriteAuto   = "auto"
	RewriteAlways = "always"
	RewriteNever  = "never"
)

// Backends.
const (
	BackendAFPacket = "af_packet"
	BackendXDP      = "xdp"
)

// Config is one team's validated configuration. The zero values of
// optional fields have already been replaced by their defaults (see
// defaults.go). Parse and Load return one; Dump writes it back as YAML.
type Config struct {
	Team       string        `yaml:"team"`
	Mode       string        `yaml:"mode"`
	Balance    string        `yaml:"balance"`
	Hash       []string      `yaml:"hash"`
	FlowletGap time.Duration `yaml:"flowlet_gap"`
	// FlowletGapAuto is "flowlet_gap: auto": the gap follows the members'
	// measured transmit delays (lb.Options.Delays), FlowletGap being the
	// margin added to the measured difference.
	FlowletGapAuto   bool   `yaml:"-"`
	SourceMACRewrite string `yaml:"source_mac_rewrite"`
	Backend          string `yaml:"backend"`
	// BusyPoll is how long at most a port's reader spins on its ring
	// after the last frame before it sleeps (busy_poll; 0: off, never
	// spins); BusyPollAuto is "busy_poll: auto", BusyPoll being
	// DefaultBusyPoll then.
	BusyPoll      time.Duration `yaml:"busy_poll"`
	BusyPollAuto  bool          `yaml:"-"`
	Members       []Member      `yaml:"members"`
	VNICs         []VNIC        `yaml:"vnics"`
	LACP          LACP          `yaml:"lacp"`
	LinkWatch     LinkWatch     `yaml:"link_watch"`
	RxTranslation RxTranslation `yaml:"rx_translation"`
	Metrics       string        `yaml:"metrics"`

	// Path is the file the configuration was read from (not a key).
	Path string `yaml:"-"`
	// Warnings lists harmless things that were ignored (teamd JSON).
	Warnings []string `yaml:"-"`
}

// Member is a physical NIC of the team.
type Member struct {
	Name    string `yaml:"name"`
	Primary bool   `yaml:"primary"`
	Standby bool   `yaml:"standby"`
	// Prio and Sticky select the active member for active-backup, as in
	// teamd: the highest prio wins; a sticky active member is not
	// replaced by a better one that returns.
	Prio   int  `yaml:"prio"`
	Sticky bool `yaml:"sticky"`
	// LACPPrio and LACPKey are the 802.1AX port priority and key.
	LACPPrio int `yaml:"lacp_prio"`
	LACPKey  int `yaml:"lacp_key"`
	// DelayUp and DelayDown are the member's hold times (see LinkWatch):
	// its own delay_up and delay_down keys, else the team's link_watch
	// ones (filled in by the parsers).
	DelayUp   time.Duration `yaml:"delay_up"`
	DelayDown time.Duration `yaml:"delay_down"`
}

// VNIC is a port of the virtual switch above the team.
type VNIC struct {
	Name string `yaml:"name"`
	TAP  bool   `yaml:"tap"`
	// MAC, if set, is the TAP's MAC address (TAPs only).
	MAC string `yaml:"mac"`
	// MACs pins the source MACs the vnic owns (as Hyper-V's static
	// MAC): no other vnic can take them, and with MACSpoofing false
	// (the default) a frame from any other source is dropped.
	MACs []string `yaml:"macs"`
	// MACSpoofing, with MACs, lets the vnic send from other sources
	// too (learned like a vnic without MACs). YAML only.
	MACSpoofing bool `yaml:"mac_spoofing"`
	// VLAN is the vnic's 802.1Q membership; the zero value (no vlan:
	// key) is VLAN-transparent: frames pass as they are, tagged or not.
	VLAN VLAN `yaml:"vlan"`
}

// VLAN is a vnic's 802.1Q membership (docs/contract.md §3, vnics[].vlan),
// as Hyper-V's Set-VMNetworkAdapterVlan -Access/-Trunk, Open vSwitch's
// tag=/trunks= and a Linux bridge's vlan_filtering port VLANs set it.
// Exactly one of Access and Trunk is set, or neither (transparent).
type VLAN struct {
	// Access puts the vnic on one VLAN, untagged at the vnic: its
	// frames get the tag on the members; tagged frames from it are
	// dropped.
	Access int `yaml:"access"`
	// Trunk lists the VLANs whose tagged frames pass; Native, if set,
	// is the VLAN of the vnic's untagged frames (sent to it untagged).
	// Without Native, untagged frames from the vnic are dropped. Native
	// may be listed in Trunk too; it is a VLAN of the trunk either way.
	Trunk  []int `yaml:"trunk"`
	Native int   `yaml:"native"`
}

// Lowest and highest VLAN ids a vnic may be on (802.1Q-2018 9.6: 0 is
// a priority tag, 4095 reserved).
const (
	MinVLAN = 1
	MaxVLAN = 4094
)

// IsZero reports whether v is VLAN-transparent (no vlan: key).
func (v VLAN) IsZero() bool { return v.Access == 0 && v.Trunk == nil && v.Native == 0 }

// count is how many VLANs v is on (1 when transparent or access).
func (v VLAN) count() int {
	if v.Trunk == nil {
		return 1
	}
	n := len(v.Trunk)
	if v.Native != 0 && !slices.Contains(v.Trunk, v.Native) {
		n++
	}
	return n
}

// Equal reports whether v and o are the same settings.
func (v VLAN) Equal(o VLAN) bool {
	return v.Access == o.Access && v.Native == o.Native && slices.Equal(v.Trunk, o.Trunk) && (v.Trunk == nil) == (o.Trunk == nil)
}

// Bounds of a configuration, checked before any per-item work so that
// a generated file gone wrong is refused fast and small.
const (
	// MaxVNICMACs is how many MACs one vnic may own, pinned or learned.
	MaxVNICMACs = 256
	// MaxMembers is how many members a team may have (the data path's
	// fixed member arrays).
	MaxMembers = lb.MaxMembers
	// MaxVNICs is how many vnics a team may have: each is a goroutine
	// with its own batch buffers (4 MiB).
	MaxVNICs = 1024
	// MaxPinnedEntries bounds a vnic's pinned MACs times its VLANs:
	// each pair is a static entry of the switch's table.
	MaxPinnedEntries = 4096
	// MaxFileSize is the largest configuration file read (a full
	// 64-member, 1024-vnic file is well under 100 KiB).
	MaxFileSize = 1 << 20
)

const (
	membersWhy = "the data path's member tables"
	vnicsWhy   = "each vnic has its own goroutine and buffers"
)

// tooMany is the message for a list longer than its bound, the same
// whether a file, "ctl port add" or the daemon finds it.
func tooMany(n, max int, what, why string) string {
	return fmt.Sprintf("%d %s; a team has at most %d (%s)", n, what, max, why)
}

// SameVNIC reports whether a and b are the same vnic configuration.
func SameVNIC(a, b VNIC) bool {
	return a.Name == b.Name && a.TAP == b.TAP && a.MAC == b.MAC && a.MACSpoofing == b.MACSpoofing && slices.Equal(a.MACs, b.MACs) && a.VLAN.Equal(b.VLAN)
}

// LACP holds the 802.1AX parameters (mode lacp only).
type LACP struct {
	Active         bool   `yaml:"active"`
	Rate           string `yaml:"rate"` // fast | slow
	SystemPriority int    `yaml:"system_priority"`
	// MinPorts is the minimum number of members that must be
	// collecting-distributing before the team carries traffic.
	MinPorts int `yaml:"min_ports"`
	// Fallback is what the team does when no LACPDU has been received on
	// any member for FallbackAfter (a host that PXE-boots, a switch not
	// configured yet): FallbackNone carries nothing (802.1AX), as before;
	// FallbackActiveBackup runs one member, the others standing by;
	// FallbackStatic runs every member as a static LAG. As soon as a
	// partner speaks, LACP takes over again, without a restart.
	Fallback      string        `yaml:"fallback"`
	FallbackAfter time.Duration `yaml:"fallback_after"`
}

// LinkWatch selects how member link state is watched.
type LinkWatch struct {
	Name string `yaml:"name"` // carrier | arp_ping | nsna_ping
	// arp_ping and nsna_ping parameters, as teamd names them. nsna_ping
	// has no SourceHost: each member sends its neighbour solicitations
	// from its own link-local address, fe80:: and the modified EUI-64 of
	// the member's MAC (the address the kernel gives the member
	// interface), so the target's answer comes back to that member's
	// MAC and no address of the host is bound to a member's MAC in the
	// target's neighbour cache.
	Interval   time.Duration `yaml:"interval"`
	MissedMax  int           `yaml:"missed_max"`
	SourceHost string        `yaml:"source_host"`
	TargetHost string        `yaml:"target_host"`
	// DelayUp and DelayDown are hold times against flapping, teamd's
	// delay_up and delay_down (bonding's updelay and downdelay): a member
	// whose link comes up is used only once it has been up for DelayUp;
	// one whose link goes down is taken out once it has been down for
	// DelayDown. 0 acts at once. They apply to whatever the watcher
	// reports (carrier, or arp_ping's verdict).
	DelayUp   time.Duration `yaml:"delay_up"`
	DelayDown time.Duration `yaml:"delay_down"`
}

// RxTranslation is receive-side MAC translation (the stale-mac bug,
// docs/bugs.md).
type RxTranslation struct {
	Enabled bool   `yaml:"enabled"`
	Learn   string `yaml:"learn"` // continuous | init
	// AgeTime is how long a learned entry lives without being refreshed.
	AgeTime time.Duration `yaml:"age_time"`
}
