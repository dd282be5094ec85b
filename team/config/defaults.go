package config

import (
	"time"

	"github.com/teamd-go/teamd-go/lb"
)

// Defaults. Each applies when the key is absent from a YAML file; teamd
// JSON files get teamd's own defaults where teamd has one (see teamd.go).
const (
	// DefaultMode is the mode of a team that names none: the mode that
	// needs nothing configured on the physical switch.
	DefaultMode = ModeSwitchIndependent

	// The default balance depends on the team (see defaultBalance):
	// hyperv-port in switch-independent mode when the team has vnics
	// (each vnic's MAC is seen on one member only, as with Windows),
	// address-hash otherwise.

	// DefaultFlowletGap is the idle time that ends a flowlet for
	// balance: dynamic: the balancer's own default (lb.DefaultFlowletGap
	// says why it is what it is). Kept at most MaxFlowletGap by
	// validation.
	DefaultFlowletGap = lb.DefaultFlowletGap
	// FlowletGapAuto is the flowlet_gap value that makes the gap follow
	// the members' measured transmit delays: a flow may move once idle
	// for DefaultFlowletGap (the margin, for delays beyond the member's
	// own queue that no sender can see) plus how much longer its old
	// member's queue takes to drain than the new one's. Where the queue
	// is not measurable it behaves as the fixed DefaultFlowletGap.
	FlowletGapAuto = "auto"
	// MaxFlowletGap bounds flowlet_gap: a longer gap would make dynamic
	// balancing no more than a slow address-hash.
	MaxFlowletGap = time.Second

	// DefaultBusyPoll is busy_poll: auto's bound on a reader's spin
	// after its last frame: long enough to bridge the 1 ms between two
	// frames at 1000 per second (a ping of 1000/s) with room to spare.
	// The window itself follows the gaps between a port's frames (see
	// team/spin.go); gaps longer than this are never spun for.
	DefaultBusyPoll = 2 * time.Millisecond
	// BusyPollAuto and BusyPollOff are busy_poll's named values.
	BusyPollAuto = "auto"
	BusyPollOff  = "off"
	// MaxBusyPoll bounds busy_poll: a reader spinning longer than this
	// for a frame that may not come burns its CPU for little.
	MaxBusyPoll = 10 * time.Millisecond

	// DefaultSourceMACRewrite is auto (docs/contract.md §3.1).
	DefaultSourceMACRewrite = RewriteAuto
	// DefaultBackend needs no eBPF support from the kernel or the NIC.
	DefaultBackend = BackendAFPacket

	// LACP (mode lacp). Rate fast and active match what switches
	// expect from a server; teamd's own JSON defaults differ (fast_rate
	// false) and are applied to teamd files.
	DefaultLACPActive         = true
	DefaultLACPRate           = LACPRateFast
	DefaultLACPSystemPriority = 65535 // 802.1AX: lowest priority; teamd's default too
	DefaultLACPMinPorts       = 1
	// Without a partner the team carries nothing (802.1AX), unless asked
	// to fall back; three seconds is three fast LACPDUs missed.
	DefaultLACPFallback      = FallbackNone
	DefaultLACPFallbackAfter = 3 * time.Second
	// MaxLACPMinPorts is teamd's upper bound for min_ports.
	MaxLACPMinPorts = 1024
	// DefaultLACPPortPriority and DefaultLACPKey are a member's
	// lacp_prio and lacp_key, as in teamd.
	DefaultLACPPortPriority = 255
	DefaultLACPKey          = 0

	// DefaultLinkWatch watches the carrier through netlink events
	// (teamd's ethtool link watcher).
	DefaultLinkWatch = LinkWatchCarrier
	// arp_ping defaults, teamd's: one request a second, down after
	// more than 3 missed replies, requests sent from 0.0.0.0 (an ARP
	// probe, RFC 5227) unless source_host is given.
	DefaultARPInterval   = time.Second
	DefaultARPMissedMax  = 3
	DefaultARPSourceHost = "0.0.0.0"
	// nsna_ping defaults, the same as arp_ping's (teamd's two ping
	// watchers share them). nsna_ping has no source_host: each member
	// solicits from its own link-local address (see LinkWatch).
	DefaultNSNAInterval  = DefaultARPInterval
	DefaultNSNAMissedMax = DefaultARPMissedMax

	// Receive-side MAC translation is off; when on, it keeps learning.
	DefaultRxLearn   = LearnContinuous
	DefaultRxAgeTime = 300 * time.Second

	// DefaultMetrics is empty: no /metrics listener.
	DefaultMetrics = ""
)

// DefaultHash returns the default hash fields: teamd's default tx_hash,
// the balancer's own default (lb.DefaultHash).
func DefaultHash() []string { return lb.DefaultHash.Names() }

// LACP rates.
const (
	LACPRateFast = "fast" // the partner sends a LACPDU every second
	LACPRateSlow = "slow" // every 30 seconds
)

// LACP fallbacks.
const (
	FallbackNone         = "none"
	FallbackActiveBackup = "active-backup"
	FallbackStatic       = "static"
)

// Link watchers.
const (
	LinkWatchCarrier  = "carrier"
	LinkWatchARPPing  = "arp_ping"
	LinkWatchNSNAPing = "nsna_ping"
)

// Learning policies of rx_translation.
const (
	LearnContinuous = "continuous"
	LearnInit       = "init" // learns once at start: reproduces the stale-MAC bug
)

// Enumerations, in the order messages list them.
var (
	modes      = []string{ModeSwitchIndependent, ModeStatic, ModeLACP}
	balances   = []string{BalanceHyperVPort, BalanceAddressHash, BalanceDynamic, BalanceActiveBackup, BalanceRoundRobin}
	rewrites   = []string{RewriteAuto, RewriteAlways, RewriteNever}
	backends   = []string{BackendAFPacket, BackendXDP}
	rates      = []string{LACPRateFast, LACPRateSlow}
	fallbacks  = []string{FallbackNone, FallbackActiveBackup, FallbackStatic}
	watchers   = []string{LinkWatchCarrier, LinkWatchARPPing, LinkWatchNSNAPing}
	learnings  = []string{LearnContinuous, LearnInit}
	hashFields = lb.HashNames()
)

// defaults returns a Config holding every default that does not depend
// on other keys. Balance is left empty: defaultBalance fills it once
// mode and vnics are known.
func defaults() *Config {
	return &Config{
		Mode:             DefaultMode,
		Hash:             DefaultHash(),
		FlowletGap:       DefaultFlowletGap,
		FlowletGapAuto:   true,
		SourceMACRewrite: DefaultSourceMACRewrite,
		Backend:          DefaultBackend,
		BusyPoll:         DefaultBusyPoll,
		BusyPollAuto:     true,
		LACP: LACP{
			Active:         DefaultLACPActive,
			Rate:           DefaultLACPRate,
			SystemPriority: DefaultLACPSystemPriority,
			MinPorts:       DefaultLACPMinPorts,
			Fallback:       DefaultLACPFallback,
			FallbackAfter:  DefaultLACPFallbackAfter,
		},
		LinkWatch: LinkWatch{Name: DefaultLinkWatch},
		RxTranslation: RxTranslation{
			Learn:   DefaultRxLearn,
			AgeTime: DefaultRxAgeTime,
		},
		Metrics: DefaultMetrics,
	}
}

// defaultMember returns a member with its defaults.
func defaultMember(name string) Member {
	return Member{Name: name, LACPPrio: DefaultLACPPortPriority, LACPKey: DefaultLACPKey}
}

// defaultBalance is the balance of a team that names none: hyperv-port
// in switch-independent mode when there are vnics to pin to members,
// address-hash otherwise (static and lacp, or no vnics).
func defaultBalance(c *Config) string {
	if c.Mode == ModeSwitchIndependent && len(c.VNICs) > 0 {
		return BalanceHyperVPort
	}
	return BalanceAddressHash
}

// inheritDelays gives member m the team's hold times lw where its own
// key (set reports which were in the file) is not given.
func inheritDelays(m *Member, lw LinkWatch, set func(key string) bool) {
	if !set("delay_up") {
		m.DelayUp = lw.DelayUp
	}
	if !set("delay_down") {
		m.DelayDown = lw.DelayDown
	}
}

// setPingDefaults fills the arp_ping and nsna_ping parameters that set
// does not report as given.
func setPingDefaults(lw *LinkWatch, set func(key string) bool) {
	switch lw.Name {
	case LinkWatchARPPing:
		if !set("interval") {
			lw.Interval = DefaultARPInterval
		}
		if !set("missed_max") {
			lw.MissedMax = DefaultARPMissedMax
		}
		if !set("source_host") {
			lw.SourceHost = DefaultARPSourceHost
		}
	case LinkWatchNSNAPing:
		if !set("interval") {
			lw.Interval = DefaultNSNAInterval
		}
		if !set("missed_max") {
			lw.MissedMax = DefaultNSNAMissedMax
		}
	}
}
