// Package metrics exports a team's state as Prometheus metrics.
//
// A Collector reads the team's state through a snapshot function when
// Prometheus scrapes and turns it into metrics; nothing is counted twice
// and nothing runs between scrapes. Serve puts a Collector behind
// http://ADDR/metrics (the config's metrics: key).
//
// Every metric starts with teamd_go_ and, but for teamd_go_build_info,
// carries the label team. Member metrics add member, vnic metrics add
// vnic. Serve adds the Go runtime's go_* and the process's process_*. Directions are the
// interface's own: a member's rx is what it received from the physical
// switch; a vnic's rx is what the VM (or the host stack, for a TAP) sent
// into the team.
//
// LACP actor and partner state are exported one bit per series
// (teamd_go_member_lacp_actor_state{bit="synchronization"} 0|1) rather
// than as the raw octet: a bit is what one alerts on ("partner lost
// synchronization", "partner defaulted", "expired") and graphs as a
// step, while an octet needs bit arithmetic PromQL does not have.
package metrics

import (
	"reflect"
	"runtime"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teamd-go/teamd-go/team"
)

// Namespace is the prefix of every metric name.
const Namespace = "teamd_go"

// lacpBits names the bits of an LACP state octet, least significant
// first (802.1AX-2014 6.4.2.3 item k), as the label bit shows them. The
// state arrives as the eight-character string of lacpdu.State.String:
// one character per bit in this order, '.' when the bit is clear.
var lacpBits = [8]string{
	"activity",        // set: active LACP
	"timeout",         // set: short timeout (fast rate)
	"aggregation",     // set: aggregatable, clear: individual
	"synchronization", // set: in sync with the right aggregator
	"collecting",      // set: frames are taken in
	"distributing",    // set: frames are sent
	"defaulted",       // set: partner info is the administrative default
	"expired",         // set: the receive machine is EXPIRED
}

var (
	teamLabels   = []string{"team"}
	memberLabels = []string{"team", "member"}
	vnicLabels   = []string{"team", "vnic"}
	bitLabels    = []string{"team", "member", "bit"}
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

// memberMetric is a metric read from a MemberState.
type memberMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	val  func(*team.MemberState) float64
}

// lacpMetric is a metric read from a member's LACPState.
type lacpMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	val  func(*team.LACPState) float64
}

// vnicMetric is a metric read from a VNICState.
type vnicMetric struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	val  func(*team.VNICState) float64
}

// teamCounter is one field of team.Counters.
type teamCounter struct {
	desc  *prometheus.Desc
	field int
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var memberMetrics = []memberMetric{
	{desc("member_rx_packets_total", "Frames received on the member from the physical switch.", memberLabels),
		prometheus.CounterValue, func(m *team.MemberState) float64 { return float64(m.RxPackets) }},
	{desc("member_rx_bytes_total", "Bytes received on the member from the physical switch.", memberLabels),
		prometheus.CounterValue, func(m *team.MemberState) float64 { return float64(m.RxBytes) }},
	{desc("member_tx_packets_total", "Frames sent on the member towards the physical switch.", memberLabels),
		prometheus.CounterValue, func(m *team.MemberState) float64 { return float64(m.TxPackets) }},
	{desc("member_tx_bytes_total", "Bytes sent on the member towards the physical switch.", memberLabels),
		prometheus.CounterValue, func(m *team.MemberState) float64 { return float64(m.TxBytes) }},
	{desc("member_tx_errors_total", "Frames the member's socket refused to send.", memberLabels),
		prometheus.CounterValue, func(m *team.MemberState) float64 { return float64(m.TxErrors) }},
	{desc("member_tx_dropped_total", "Frames dropped before the member's socket (member closing).", memberLabels),
		prometheus.CounterValue, func(m *team.MemberState) float64 { return float64(m.TxDropped) }},
	{desc("member_link_up", "1 if the member has carrier (or passes its link watch), else 0.", memberLabels),
		prometheus.GaugeValue, func(m *team.MemberState) float64 { return b2f(m.Link == "up") }},
	{desc("member_active", "1 if the team currently sends on the member, else 0.", memberLabels),
		prometheus.GaugeValue, func(m *team.MemberState) float64 { return b2f(m.Active) }},
	{desc("member_tx_delay_seconds", "How long a frame sent on the member now waits in its transmit queue, as measured from the socket's queue occupancy (0 when empty or not measurable).", memberLabels),
		prometheus.GaugeValue, func(m *team.MemberState) float64 { return m.TxDelayUS / 1e6 }},
	{desc("member_path_rtt_seconds", "Smoothed round-trip time of the TCP segments timed on the member (dynamic with flowlet_gap auto; 0 without a recent sample).", memberLabels),
		prometheus.GaugeValue, func(m *team.MemberState) float64 { return m.PathRTTUS / 1e6 }},
}

var lacpMetrics = []lacpMetric{
	{desc("member_lacp_selected", "LACP: 1 if the member is SELECTED for an aggregator (802.1AX 6.4.8).", memberLabels),
		prometheus.GaugeValue, func(l *team.LACPState) float64 { return b2f(l.Selected) }},
	{desc("member_lacp_collecting", "LACP: 1 if the member collects (accepts) frames.", memberLabels),
		prometheus.GaugeValue, func(l *team.LACPState) float64 { return b2f(l.Collecting) }},
	{desc("member_lacp_distributing", "LACP: 1 if the member distributes (sends) frames.", memberLabels),
		prometheus.GaugeValue, func(l *team.LACPState) float64 { return b2f(l.Distributing) }},
	{desc("member_lacp_pdus_rx_total", "LACP: LACPDUs received.", memberLabels),
		prometheus.CounterValue, func(l *team.LACPState) float64 { return float64(l.PDUsRx) }},
	{desc("member_lacp_pdus_tx_total", "LACP: LACPDUs sent.", memberLabels),
		prometheus.CounterValue, func(l *team.LACPState) float64 { return float64(l.PDUsTx) }},
	{desc("member_lacp_pdus_malformed_total", "LACP: slow-protocol frames received that are not valid LACPDUs.", memberLabels),
		prometheus.CounterValue, func(l *team.LACPState) float64 { return float64(l.PDUsMalformed) }},
	{desc("member_lacp_marker_responses_total", "LACP: Marker Responses sent.", memberLabels),
		prometheus.CounterValue, func(l *team.LACPState) float64 { return float64(l.MarkerReplies) }},
}

var (
	actorStateDesc = desc("member_lacp_actor_state",
		"LACP: one bit of the actor (our) state octet, 0 or 1; bit is activity, timeout (1 = fast), aggregation, synchronization, collecting, distributing, defaulted or expired.", bitLabels)
	partnerStateDesc = desc("member_lacp_partner_state",
		"LACP: one bit of the partner (switch) state octet, as member_lacp_actor_state.", bitLabels)
	partnerInfoDesc = desc("member_lacp_partner_info",
		"LACP: always 1; labels name the partner system and key. Members of one aggregate must show the same pair.",
		[]string{"team", "member", "partner_system", "partner_key"})
)

var vnicMetrics = []vnicMetric{
	{desc("vnic_rx_packets_total", "Frames read from the vnic (sent by the VM or host stack into the team).", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.RxPackets) }},
	{desc("vnic_rx_bytes_total", "Bytes read from the vnic.", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.RxBytes) }},
	{desc("vnic_tx_packets_total", "Frames written to the vnic (delivered to the VM or host stack).", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.TxPackets) }},
	{desc("vnic_tx_bytes_total", "Bytes written to the vnic.", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.TxBytes) }},
	{desc("vnic_tx_dropped_total", "Frames for the vnic that could not be written to it.", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.TxDropped) }},
	{desc("vnic_dropped_spoofed_total", "Frames from the vnic dropped because their source MAC is another vnic's (or, with macs and no mac_spoofing, not one of its pinned MACs).", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.DroppedSpoofed) }},
	{desc("vnic_learn_refused_total", "Frames from the vnic whose new source MAC was not learned (the vnic's share of the table is full, e.g. after a MAC flood).", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.LearnRefused) }},
	{desc("vnic_vlan_dropped_total", "Frames from the vnic dropped for their VLAN: tagged with a VLAN it is not on, or untagged on a trunk without a native VLAN.", vnicLabels),
		prometheus.CounterValue, func(v *team.VNICState) float64 { return float64(v.DroppedVLAN) }},
	{desc("vnic_macs", "MAC addresses the vnic owns in the virtual switch's table.", vnicLabels),
		prometheus.GaugeValue, func(v *team.VNICState) float64 { return float64(len(v.MACs)) }},
}

var (
	vnicHomeDesc = desc("vnic_home",
		"Always 1; the label member is the vnic's home member (switch-independent mode).",
		[]string{"team", "vnic", "member"})
	flowletGapDesc = desc("flowlet_gap_seconds",
		"balance dynamic: idle time a flow whose latest frame left on member from needs before it may move to member to (the margin plus the measured delay difference; the fixed gap for every pair when flowlet_gap is not auto).",
		[]string{"team", "from", "to"})
	vlanDroppedDesc = desc("vlan_dropped_total",
		"Frames dropped for their VLAN, by reason: vnic_vlan (from a vnic, tagged with a VLAN it is not on), vnic_untagged (untagged from a trunk without native VLAN), rx_vlan (from the switch, on a VLAN no vnic is on).",
		[]string{"team", "reason"})
	teamInfoDesc = desc("team_info", "Always 1; labels give the team's mode, balance and backend.",
		[]string{"team", "mode", "balance", "backend"})
	buildInfoDesc = desc("build_info", "Always 1; labels give the teamd-go version and the Go version it was built with.",
		[]string{"version", "go_version"})
)

// counterHelp describes the fields of team.Counters by their JSON names.
// A field missing here is still exported, with a generic help text.
var counterHelp = map[string]string{
	"rx_dropped_not_owned":           "Unicast frames from the switch dropped because no vnic owns their destination MAC.",
	"rx_dropped_wrong_member":        "Unicast frames for a vnic dropped because they arrived on a member other than its home (a flood copy; switch-independent).",
	"rx_dropped_not_collecting":      "Frames dropped because they arrived on a member that is not collecting (LACP).",
	"rx_dropped_duplicate_broadcast": "Broadcasts and multicasts dropped because they arrived on a member other than the one that takes them in, or another member delivered them already (switch-independent).",
	"rx_malformed":                   "Frames from the switch too short to forward.",
	"rx_slow_protocol":               "Slow-protocol frames (LACP, Marker) received on members.",
	"rx_slow_protocol_malformed":     "Slow-protocol frames received on members that could not be parsed.",
	"tx_source_mac_rewritten":        "Frames sent with the member's MAC as source instead of the vnic's (source_mac_rewrite).",
	"tx_dropped_no_member":           "Frames from vnics dropped because no member could send them.",
	"vnic_dropped_slow_protocol":     "Slow-protocol frames from vnics dropped (never forwarded to the switch).",
	"vnic_dropped_malformed":         "Frames from vnics too short or malformed to forward.",
	"fdb_learn_refused":              "MAC addresses the virtual switch refused to learn (table or per-vnic limit reached).",
	"announcements":                  "Gratuitous ARP announcements sent for vnics (after a move, or for a VM new to this host).",
	"vnic_moves":                     "Times a vnic moved to another home member (failover or failback).",
	"rx_translated":                  "rx_translation: frames for the team MAC readdressed to the VM holding their destination IP.",
	"rx_translation_miss":            "rx_translation: frames for the team MAC dropped because no VM holds their destination IP.",
	"tx_translated":                  "rx_translation: frames from VMs sent with the team MAC as source.",
	"arp_answered":                   "rx_translation: ARP requests for VMs' IPs answered by the team.",
	"nd_answered":                    "rx_translation: IPv6 neighbour solicitations for VMs' addresses answered by the team.",
	"flowlet_moves":                  "balance dynamic: flowlets sent on another member than the previous flowlet of their flow.",
	"flowlet_moves_refused":          "balance dynamic, flowlet_gap auto: flowlets that stayed on their member because they had been idle for less than the margin plus the measured delay difference.",
	"flows_reassigned":               "balance dynamic: flows moved at once because their member left.",
	"link_changes_held":              "Link changes of members undone before their delay_up or delay_down was over: flaps the team never acted on.",
	"lacp_fallbacks":                 "Times a LACP team heard no LACPDU for fallback_after and fell back to active-backup or static.",
	"lacp_fallbacks_ended":           "Times a partner's LACPDU ended a fallback and LACP took over again.",
	"reloads_ok":                     "Configuration reloads applied.",
	"reloads_failed":                 "Configuration reloads rejected; the running configuration was kept.",
	"vnic_dropped_vlan":              "Frames from vnics dropped because they are tagged with a VLAN the vnic is not on (any tag on an access vnic, an unlisted VLAN on a trunk).",
	"vnic_dropped_untagged":          "Untagged frames from trunk vnics without a native VLAN, dropped.",
	"rx_dropped_vlan":                "Frames from the switch dropped because no vnic is on their VLAN (untagged ones when every vnic has a VLAN).",
	"vlan_tags_pushed":               "802.1Q tags the team pushed (an access or native VLAN frame leaving tagged).",
	"vlan_tags_popped":               "802.1Q tags the team popped (a frame delivered to an access vnic, or on a trunk's native VLAN).",
}

// vlanDropReasons are the reasons of teamd_go_vlan_dropped_total, one
// per VLAN drop counter: a fixed set, so the label stays small.
var vlanDropReasons = []struct {
	reason string
	val    func(*team.Counters) uint64
}{
	{"vnic_vlan", func(c *team.Counters) uint64 { return c.VNICDroppedVLAN }},
	{"vnic_untagged", func(c *team.Counters) uint64 { return c.VNICDroppedUntagged }},
	{"rx_vlan", func(c *team.Counters) uint64 { return c.RxDroppedVLAN }},
}

// teamCounters builds a counter for each integer field of team.Counters,
// named teamd_go_<json name>_total, so that a counter added to the
// struct is exported without touching this package.
func teamCounters() []teamCounter {
	var out []teamCounter
	t := reflect.TypeFor[team.Counters]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		switch f.Type.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		default:
			continue
		}
		help, ok := counterHelp[name]
		if !ok {
			help = "Team counter " + name + " (ctl state: counters." + name + ")."
		}
		out = append(out, teamCounter{
			desc:  desc(strings.TrimSuffix(name, "_total")+"_total", help, teamLabels),
			field: i,
		})
	}
	return out
}

// Collector is a prometheus.Collector that reads a team's state at
// scrape time.
type Collector struct {
	state    func() team.State
	version  string
	counters []teamCounter
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector that calls state once per scrape.
// version labels teamd_go_build_info.
func NewCollector(state func() team.State, version string) *Collector {
	return &Collector{state: state, version: version, counters: teamCounters()}
}

// Describe sends the descriptors of every metric the Collector can emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range memberMetrics {
		ch <- m.desc
	}
	for _, m := range lacpMetrics {
		ch <- m.desc
	}
	ch <- actorStateDesc
	ch <- partnerStateDesc
	ch <- partnerInfoDesc
	for _, m := range vnicMetrics {
		ch <- m.desc
	}
	ch <- vnicHomeDesc
	ch <- flowletGapDesc
	for _, tc := range c.counters {
		ch <- tc.desc
	}
	ch <- vlanDroppedDesc
	ch <- teamInfoDesc
	ch <- buildInfoDesc
}

// Collect takes one snapshot of the team's state and sends it as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.state()
	tn := st.Team
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, c.version, runtime.Version())
	ch <- prometheus.MustNewConstMetric(teamInfoDesc, prometheus.GaugeValue, 1, tn, st.Mode, st.Balance, st.Backend)
	for i := range st.Members {
		m := &st.Members[i]
		for _, mm := range memberMetrics {
			ch <- prometheus.MustNewConstMetric(mm.desc, mm.typ, mm.val(m), tn, m.Name)
		}
		l := m.LACP
		if l == nil {
			continue
		}
		for _, lm := range lacpMetrics {
			ch <- prometheus.MustNewConstMetric(lm.desc, lm.typ, lm.val(l), tn, m.Name)
		}
		stateBits(ch, actorStateDesc, l.ActorState, tn, m.Name)
		stateBits(ch, partnerStateDesc, l.PartnerState, tn, m.Name)
		ch <- prometheus.MustNewConstMetric(partnerInfoDesc, prometheus.GaugeValue, 1,
			tn, m.Name, l.PartnerSystem, strconv.Itoa(l.PartnerKey))
	}
	for i := range st.VNICs {
		v := &st.VNICs[i]
		for _, vm := range vnicMetrics {
			ch <- prometheus.MustNewConstMetric(vm.desc, vm.typ, vm.val(v), tn, v.Name)
		}
		if v.Home != "" {
			ch <- prometheus.MustNewConstMetric(vnicHomeDesc, prometheus.GaugeValue, 1, tn, v.Name, v.Home)
		}
	}
	if f := st.Flowlets; f != nil {
		for _, p := range f.Pairs {
			ch <- prometheus.MustNewConstMetric(flowletGapDesc, prometheus.GaugeValue, p.GapUS/1e6, tn, p.From, p.To)
		}
	}
	for _, r := range vlanDropReasons {
		ch <- prometheus.MustNewConstMetric(vlanDroppedDesc, prometheus.CounterValue, float64(r.val(&st.Counters)), tn, r.reason)
	}
	cv := reflect.ValueOf(st.Counters)
	for _, tc := range c.counters {
		f := cv.Field(tc.field)
		var v float64
		if f.CanUint() {
			v = float64(f.Uint())
		} else {
			v = float64(f.Int())
		}
		ch <- prometheus.MustNewConstMetric(tc.desc, prometheus.CounterValue, v, tn)
	}
}

// stateBits sends one series per bit of an LACP state string (see
// lacpBits). A string of another length sends nothing.
func stateBits(ch chan<- prometheus.Metric, d *prometheus.Desc, s, tn, member string) {
	if len(s) != len(lacpBits) {
		return
	}
	for i, bit := range lacpBits {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, b2f(s[i] != '.'), tn, member, bit)
	}
}
