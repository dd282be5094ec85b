package team

import (
	"net/netip"
	"time"

	"slices"

	"github.com/teamd-go/teamd-go/team/config"

	"github.com/teamd-go/teamd-go/lb"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// State is the team's state as `teamd-go ctl state` prints it
// (docs/contract.md §4).
type State struct {
	Team     string        `json:"team"`
	Mode     string        `json:"mode"`
	Balance  string        `json:"balance"`
	Backend  string        `json:"backend"`
	Active   string        `json:"active_member,omitempty"`
	Members  []MemberState `json:"members"`
	VNICs    []VNICState   `json:"vnics"`
	Counters Counters      `json:"counters"`
	// FDB is the virtual switch's table, sorted by VLAN, then MAC.
	FDB []FDBEntry `json:"fdb"`
	// RxTranslation is the translation table when rx_translation is on.
	RxTranslation *XlatState `json:"rx_translation,omitempty"`
	// LACPFallback says, in mode lacp with a fallback, whether the team
	// runs LACP or its fallback, and why.
	LACPFallback string `json:"lacp_fallback,omitempty"`
	// Flowlets is dynamic's flowlet gap, with balance dynamic only.
	Flowlets *FlowletState `json:"flowlets,omitempty"`
}

// FlowletState is dynamic's flowlet gap in State: fixed, or (auto) the
// margin plus the measured delay difference of each pair of members.
type FlowletState struct {
	// Gap is "auto" or the fixed gap, as the config spells it.
	Gap string `json:"gap"`
	// MarginUS is the fixed gap, or with auto the margin, in µs.
	MarginUS float64 `json:"margin_us"`
	// Pairs are the effective gaps between the members that carry
	// traffic, in both directions (auto only).
	Pairs []FlowletPair `json:"pairs,omitempty"`
}

// FlowletPair is the idle time a flow whose latest frame left on From
// now needs before it may move to To.
type FlowletPair struct {
	From  string  `json:"from"`
	To    string  `json:"to"`
	GapUS float64 `json:"gap_us"`
}

// MemberState is one member in State.
type MemberState struct {
	Name    string `json:"name"`
	MAC     string `json:"mac"`
	Link    string `json:"link"`
	Carrier bool   `json:"carrier"`
	// LinkWatch is the link watcher's verdict: "carrier" when only
	// carrier is watched, else "arp_ping ok", "arp_ping failed",
	// "nsna_ping ok" or "nsna_ping failed".
	LinkWatch string `json:"link_watch"`
	// LinkDownCount is how often the member's link (carrier and the
	// link watcher's verdict) went down.
	LinkDownCount uint64 `json:"link_down_count"`
	// Hold is set while a link change waits for delay_up or delay_down:
	// "up in 350ms" (the team still treats the member as down) or "down
	// in 80ms".
	Hold string `json:"hold,omitempty"`
	// ARPMissed is the number of arp_ping intervals since the member's
	// last ARP reply (0 with the carrier watcher).
	ARPMissed int `json:"arp_missed,omitempty"`
	// NSNAMissed is the number of nsna_ping intervals since the
	// member's last neighbour advertisement (0 with other watchers).
	NSNAMissed int `json:"nsna_missed,omitempty"`
	// Active is true for a member that carries the team's traffic: in
	// active-backup the active member only, in the other modes every
	// member the balancer may pick (link up, and in lacp
	// collecting-distributing).
	Active    bool   `json:"active"`
	TxPackets uint64 `json:"tx_packets"`
	RxPackets uint64 `json:"rx_packets"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxErrors  uint64 `json:"tx_errors"`
	TxDropped uint64 `json:"tx_dropped"`
	// TxDelayUS is how long a frame sent on the member now waits in its
	// transmit queue, as measured (lb.QueueMeter); 0 when the queue is
	// empty or cannot be read, and when the balancer does not use it
	// (only dynamic with flowlet_gap: auto makes writes measure).
	TxDelayUS float64 `json:"tx_delay_us"`
	// PathRTTUS is the smoothed round-trip time of the TCP segments the
	// team timed on the member (lb.Delays.RTT): its path, switch
	// included; 0 without a sample in the last second, and when the
	// balancer does not use it (dynamic with flowlet_gap: auto).
	PathRTTUS float64    `json:"path_rtt_us"`
	LACP      *LACPState `json:"lacp,omitempty"`
}

// LACPState is a member's 802.1AX state in State.
type LACPState struct {
	ActorState     string `json:"actor_state"`
	PartnerState   string `json:"partner_state"`
	PartnerSystem  string `json:"partner_system"`
	PartnerKey     int    `json:"partner_key"`
	PartnerPort    int    `json:"partner_port"`
	Selected       bool   `json:"selected"`
	Collecting     bool   `json:"collecting"`
	Distributing   bool   `json:"distributing"`
	ReceiveState   string `json:"receive_state"`
	MuxState       string `json:"mux_state"`
	Aggregator     int    `json:"aggregator"`
	PDUsRx         uint64 `json:"pdus_rx"`
	PDUsTx         uint64 `json:"pdus_tx"`
	PDUsMalformed  uint64 `json:"pdus_malformed"`
	MarkerReplies  uint64 `json:"marker_responses"`
	ActorKey       int    `json:"actor_key"`
	ActorPortPrio  int    `json:"actor_port_priority"`
	ActorPortNum   int    `json:"actor_port"`
	PartnerSysPrio int    `json:"partner_system_priority"`
	// The rest of the actor's and partner's information, as teamdctl's
	// LACP view shows it.
	ActorSystem      string `json:"actor_system"`
	ActorSysPrio     int    `json:"actor_system_priority"`
	PartnerPortPrio  int    `json:"partner_port_priority"`
	AggregatorMember string `json:"aggregator_member,omitempty"` // the aggregator's lowest member
}

// VNICState is one vnic in State.
type VNICState struct {
	Name      string   `json:"name"`
	TAP       bool     `json:"tap"`
	MACs      []string `json:"macs"`
	Home      string   `json:"home"`
	TxPackets uint64   `json:"tx_packets"`
	RxPackets uint64   `json:"rx_packets"`
	TxBytes   uint64   `json:"tx_bytes"`
	RxBytes   uint64   `json:"rx_bytes"`
	TxDropped uint64   `json:"tx_dropped"`
	// DroppedSpoofed counts frames from a source MAC another vnic owns
	// (or, with macs and no mac_spoofing, any MAC not pinned).
	DroppedSpoofed uint64 `json:"dropped_spoofed"`
	// LearnRefused counts frames whose new source MAC was not learned:
	// the vnic owns config.MaxVNICMACs MACs already (a MAC flood), or
	// the table is full. They are forwarded; replies do not reach them.
	LearnRefused uint64 `json:"learn_refused"`
	// Pinned are the vnic's MACs from its config (macs, a TAP's mac);
	// MACSpoofing is its mac_spoofing.
	Pinned      []string `json:"pinned,omitempty"`
	MACSpoofing bool     `json:"mac_spoofing,omitempty"`
	// VLAN is the vnic's vlan: settings, nil when it is VLAN-transparent.
	VLAN *VLANState `json:"vlan,omitempty"`
	// DroppedVLAN counts the vnic's frames dropped for their VLAN: tagged
	// with a VLAN it is not on, or untagged on a trunk without native.
	DroppedVLAN uint64 `json:"dropped_vlan"`
	// FDB are the (VLAN, MAC) entries the vnic owns, by VLAN.
	FDB []FDBEntry `json:"fdb"`
}

// VLANState is a vnic's VLAN membership in State, as the config spells it.
type VLANState struct {
	Access int   `json:"access,omitempty"`
	Trunk  []int `json:"trunk,omitempty"`
	Native int   `json:"native,omitempty"`
}

// FDBEntry is one entry of the virtual switch's table: a MAC on a VLAN
// (0: untagged frames of VLAN-transparent vnics) and its owner.
type FDBEntry struct {
	VLAN   int    `json:"vlan"`
	MAC    string `json:"mac"`
	VNIC   string `json:"vnic"`
	Static bool   `json:"static,omitempty"`
	// IPv4 and IPv6 are the addresses the MAC was seen to speak for,
	// which a failover announces (IPv6 most recently seen first).
	IPv4 string   `json:"ipv4,omitempty"`
	IPv6 []string `json:"ipv6,omitempty"`
}

// Counters are the team-wide counters. Directions are the team's: rx is
// from the physical switch, tx is towards it.
type Counters struct {
	RxDroppedNotOwned      uint64 `json:"rx_dropped_not_owned"`
	RxDroppedWrongMember   uint64 `json:"rx_dropped_wrong_member"`
	RxDroppedNotCollecting uint64 `json:"rx_dropped_not_collecting"`
	RxDroppedDupBroadcast  uint64 `json:"rx_dropped_duplicate_broadcast"`
	RxMalformed            uint64 `json:"rx_malformed"`
	RxSlowProtocol         uint64 `json:"rx_slow_protocol"`
	RxSlowMalformed        uint64 `json:"rx_slow_protocol_malformed"`
	TxSourceMACRewritten   uint64 `json:"tx_source_mac_rewritten"`
	TxDroppedNoMember      uint64 `json:"tx_dropped_no_member"`
	VNICDroppedSlowProto   uint64 `json:"vnic_dropped_slow_protocol"`
	VNICDroppedMalformed   uint64 `json:"vnic_dropped_malformed"`
	FDBLearnRefused        uint64 `json:"fdb_learn_refused"`
	Announcements          uint64 `json:"announcements"`
	RxTranslated           uint64 `json:"rx_translated"`
	RxTranslationMiss      uint64 `json:"rx_translation_miss"`
	TxTranslated           uint64 `json:"tx_translated"`
	ARPAnswered            uint64 `json:"arp_answered"`
	NDAnswered             uint64 `json:"nd_answered"`
	VNICMoves              uint64 `json:"vnic_moves"`
	FlowletMoves           uint64 `json:"flowlet_moves"`
	FlowletMovesRefused    uint64 `json:"flowlet_moves_refused"`
	LinkChangesHeld        uint64 `json:"link_changes_held"`
	LACPFallbacks          uint64 `json:"lacp_fallbacks"`
	LACPFallbacksEnded     uint64 `json:"lacp_fallbacks_ended"`
	FlowsReassigned        uint64 `json:"flows_reassigned"`
	ReloadsOK              uint64 `json:"reloads_ok"`
	ReloadsFailed          uint64 `json:"reloads_failed"`
	// VLANs (vlan.go): frames dropped for their VLAN, and the team's
	// tag pushes and pops.
	VNICDroppedVLAN     uint64 `json:"vnic_dropped_vlan"`
	VNICDroppedUntagged uint64 `json:"vnic_dropped_untagged"`
	RxDroppedVLAN       uint64 `json:"rx_dropped_vlan"`
	VLANTagsPushed      uint64 `json:"vlan_tags_pushed"`
	VLANTagsPopped      uint64 `json:"vlan_tags_popped"`
}

// State returns a copy of the team's current state (that of a closed
// team is empty).
func (t *Team) State() State {
	var st State
	_ = t.do(func() error { st = t.state(); return nil })
	return st
}

// state is State on the control goroutine.
func (t *Team) state() State {
	s := t.snap.Load()
	now := t.now()
	st := State{
		Team:    t.cfg.Team,
		Mode:    t.cfg.Mode,
		Balance: t.cfg.Balance,
		Backend: t.cfg.Backend,
		Active:  t.memberName(t.active),
		Members: []MemberState{},
		VNICs:   []VNICState{},
		FDB:     []FDBEntry{},
	}
	for _, m := range t.members {
		ms := MemberState{
			Name:      m.name,
			MAC:       m.mac.String(),
			Link:      "down",
			Active:    s != nil && slices.Contains(s.view.Members, m.id) && (t.active < 0 || m.id == t.active),
			TxPackets: m.stats.txPackets.Load(),
			RxPackets: m.stats.rxPackets.Load(),
			TxBytes:   m.stats.txBytes.Load(),
			RxBytes:   m.stats.rxBytes.Load(),
			TxErrors:  m.stats.txErrors.Load(),
			TxDropped: m.stats.txDropped.Load(),
			TxDelayUS: us(t.delays.Delay(m.id, now)),
		}
		rtt, _ := t.delays.RTT(m.id, now)
		ms.PathRTTUS = us(rtt)
		ms.Carrier = m.carrier
		ms.LinkDownCount = m.downs
		ms.LinkWatch = "carrier"
		if w := t.pingw; w != nil {
			ms.LinkWatch = w.name + " ok"
			if !m.watchOK {
				ms.LinkWatch = w.name + " failed"
			}
			if w.nsna {
				ms.NSNAMissed = w.missedRounds(m.id, now)
			} else {
				ms.ARPMissed = w.missedRounds(m.id, now)
			}
		}
		if m.carrier && m.watchOK {
			ms.Link = "up"
		}
		if due, ok := m.hold.next(); ok {
			ms.Hold = "down in "
			if m.hold.raw {
				ms.Hold = "up in "
			}
			ms.Hold += time.Duration(max(due-now, 0)).Round(time.Millisecond).String()
		}
		if t.lacp != nil {
			if ms.LACP = t.lacp.state(m.id); ms.LACP != nil && ms.LACP.Aggregator >= 0 {
				ms.LACP.AggregatorMember = t.memberName(ms.LACP.Aggregator)
			}
		}
		st.Members = append(st.Members, ms)
	}
	for _, v := range t.vnicOrder {
		vs := VNICState{
			Name:      v.name,
			TAP:       v.cfg.TAP,
			MACs:      []string{},
			TxPackets: v.stats.txPackets.Load(),
			RxPackets: v.stats.rxPackets.Load(),
			TxBytes:   v.stats.txBytes.Load(),
			RxBytes:   v.stats.rxBytes.Load(),
			TxDropped: v.stats.txDropped.Load(),

			DroppedSpoofed: v.src.spoofed.Load(),
			DroppedVLAN:    v.src.droppedVLAN.Load(),
			FDB:            []FDBEntry{},
			LearnRefused:   v.src.learnRefused.Load(),
			MACSpoofing:    v.cfg.MACSpoofing,
		}
		for _, mac := range v.pinnedMACs() {
			vs.Pinned = append(vs.Pinned, mac.String())
		}
		if p := v.vlan; p != nil {
			vs.VLAN = &VLANState{Access: p.cfg.Access, Trunk: slices.Clone(p.cfg.Trunk), Native: p.cfg.Native}
		}
		var macs []frame.MAC
		for _, k := range t.fdb.owned(v.id) {
			vs.FDB = append(vs.FDB, t.fdbEntryState(k))
			if !slices.Contains(macs, k.mac) {
				macs = append(macs, k.mac)
			}
		}
		slices.SortFunc(macs, func(a, b frame.MAC) int { return slices.Compare(a[:], b[:]) })
		for _, mac := range macs {
			vs.MACs = append(vs.MACs, mac.String())
		}
		if h, ok := t.homes[v.id]; ok {
			vs.Home = t.memberName(h)
		}
		st.VNICs = append(st.VNICs, vs)
	}
	c := &t.c
	st.Counters = Counters{
		RxDroppedNotOwned:      c.rxDroppedNotOwned.Load(),
		RxDroppedWrongMember:   c.rxDroppedWrongMember.Load(),
		RxDroppedNotCollecting: c.rxDroppedNotCollecting.Load(),
		RxDroppedDupBroadcast:  c.rxDroppedDupBroadcast.Load(),
		RxMalformed:            c.rxMalformed.Load(),
		RxSlowProtocol:         c.rxSlowProtocol.Load(),
		RxSlowMalformed:        c.rxSlowMalformed.Load(),
		TxSourceMACRewritten:   c.txSourceMACRewritten.Load(),
		TxDroppedNoMember:      c.txDroppedNoMember.Load(),
		VNICDroppedSlowProto:   c.vnicDroppedSlowProto.Load(),
		VNICDroppedMalformed:   c.vnicDroppedMalformed.Load(),
		FDBLearnRefused:        t.fdb.refused.Load(),
		Announcements:          c.announcements.Load(),
		RxTranslated:           c.rxTranslated.Load(),
		RxTranslationMiss:      c.rxTranslationMiss.Load(),
		TxTranslated:           c.txTranslated.Load(),
		ARPAnswered:            c.arpAnswered.Load(),
		NDAnswered:             c.ndAnswered.Load(),
		VNICMoves:              c.vnicMoves.Load(),
		FlowletMoves:           t.balStats().Moves,
		FlowletMovesRefused:    t.balStats().Refused,
		FlowsReassigned:        t.balStats().Reassigned,
		LinkChangesHeld:        c.linkChangesHeld.Load(),
		LACPFallbacks:          c.lacpFallbacks.Load(),
		LACPFallbacksEnded:     c.lacpFallbacksEnded.Load(),
		ReloadsOK:              c.reloadsOK.Load(),
		ReloadsFailed:          c.reloadsFailed.Load(),
		VNICDroppedVLAN:        c.vnicDroppedVLAN.Load(),
		VNICDroppedUntagged:    c.vnicDroppedUntagged.Load(),
		RxDroppedVLAN:          c.rxDroppedVLAN.Load(),
		VLANTagsPushed:         c.vlanPushed.Load(),
		VLANTagsPopped:         c.vlanPopped.Load(),
	}
	var keys []fdbKey
	for k := range *t.fdb.table.Load() {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	for _, k := range keys {
		st.FDB = append(st.FDB, t.fdbEntryState(k))
	}
	st.RxTranslation = t.xlatState()
	st.LACPFallback = t.fallbackState()
	st.Flowlets = t.flowletState(s, now)
	return st
}

// fdbEntryState describes the entry of k (control goroutine).
func (t *Team) fdbEntryState(k fdbKey) FDBEntry {
	fe := FDBEntry{VLAN: int(k.vlan), MAC: k.mac.String()}
	if e := t.fdb.entry(k); e != nil {
		fe.Static = e.static
		if ip := e.ipv4.Load(); ip != 0 {
			fe.IPv4 = netip.AddrFrom4(ipv4(ip)).String()
		}
		for _, a := range e.ipv6.addrs() {
			fe.IPv6 = append(fe.IPv6, a.String())
		}
		if e.vnic < len(t.vnics) && t.vnics[e.vnic] != nil {
			fe.VNIC = t.vnics[e.vnic].name
		}
	}
	return fe
}

// flowletState describes dynamic's gap at now.
func (t *Team) flowletState(s *snapshot, now int64) *FlowletState {
	if t.cfg.Balance != lb.Dynamic {
		return nil
	}
	fs := &FlowletState{Gap: t.cfg.FlowletGap.String(), MarginUS: us(int64(t.cfg.FlowletGap))}
	if !t.cfg.FlowletGapAuto {
		return fs
	}
	fs.Gap = config.FlowletGapAuto
	if s == nil {
		return fs
	}
	for _, a := range s.view.Members {
		for _, b := range s.view.Members {
			if a != b {
				fs.Pairs = append(fs.Pairs, FlowletPair{From: t.memberName(a), To: t.memberName(b),
					GapUS: us(t.delays.Gap(a, b, int64(t.cfg.FlowletGap), now))})
			}
		}
	}
	return fs
}

// us converts nanoseconds to microseconds, to a tenth.
func us(ns int64) float64 { return float64(ns/100) / 10 }

// balStats are the balancers' decision counts since the team started:
// those of balancers replaced by reloads plus the current one's.
func (t *Team) balStats() lb.Stats {
	st := t.balBase
	if s, ok := t.bal.(lb.Statser); ok {
		cur := s.Stats()
		st.Moves += cur.Moves
		st.Reassigned += cur.Reassigned
		st.Refused += cur.Refused
	}
	return st
}
