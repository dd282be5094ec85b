package metrics

import (
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/team/lacpdu"
)

// fakeState is a lacp team with one distributing member, one member
// whose partner is defaulted, and two vnics.
func fakeState() team.State {
	return team.State{
		Team: "team0", Mode: "lacp", Balance: "dynamic", Backend: "af_packet",
		Members: []team.MemberState{
			{Name: "eth1", MAC: "02:00:00:00:00:01", Link: "up", Active: true,
				RxPackets: 10, RxBytes: 1000, TxPackets: 20, TxBytes: 2000, TxErrors: 1, TxDropped: 2,
				LACP: &team.LACPState{
					ActorState: "ATGSCD..", PartnerState: "A.GSCD..",
					PartnerSystem: "02:aa:00:00:00:01", PartnerKey: 13,
					Selected: true, Collecting: true, Distributing: true,
					PDUsRx: 5, PDUsTx: 6, PDUsMalformed: 1, MarkerReplies: 2,
				}},
			{Name: "eth2", MAC: "02:00:00:00:00:02", Link: "down",
				LACP: &team.LACPState{
					ActorState: "ATG.....", PartnerState: "......F.",
					PartnerSystem: "00:00:00:00:00:00",
				}},
		},
		VNICs: []team.VNICState{
			{Name: "vm1", MACs: []string{"02:00:00:77:00:01", "02:00:00:77:00:03"}, Home: "eth1",
				RxPackets: 3, RxBytes: 300, TxPackets: 4, TxBytes: 400, TxDropped: 7, DroppedSpoofed: 11, LearnRefused: 5, DroppedVLAN: 9},
			{Name: "team0", TAP: true, MACs: []string{}},
		},
		Counters: team.Counters{RxDroppedNotOwned: 42, TxSourceMACRewritten: 3, ReloadsOK: 2, ReloadsFailed: 1,
			VNICDroppedVLAN: 6, VNICDroppedUntagged: 7, RxDroppedVLAN: 8},
	}
}

func TestCollect(t *testing.T) {
	c := NewCollector(fakeState, "v1.2.3")
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"member counters", []string{"teamd_go_member_tx_packets_total", "teamd_go_member_rx_bytes_total", "teamd_go_member_tx_errors_total"}, `
# HELP teamd_go_member_rx_bytes_total Bytes received on the member from the physical switch.
# TYPE teamd_go_member_rx_bytes_total counter
teamd_go_member_rx_bytes_total{member="eth1",team="team0"} 1000
teamd_go_member_rx_bytes_total{member="eth2",team="team0"} 0
# HELP teamd_go_member_tx_errors_total Frames the member's socket refused to send.
# TYPE teamd_go_member_tx_errors_total counter
teamd_go_member_tx_errors_total{member="eth1",team="team0"} 1
teamd_go_member_tx_errors_total{member="eth2",team="team0"} 0
# HELP teamd_go_member_tx_packets_total Frames sent on the member towards the physical switch.
# TYPE teamd_go_member_tx_packets_total counter
teamd_go_member_tx_packets_total{member="eth1",team="team0"} 20
teamd_go_member_tx_packets_total{member="eth2",team="team0"} 0
`},
		{"member gauges", []string{"teamd_go_member_link_up", "teamd_go_member_active"}, `
# HELP teamd_go_member_active 1 if the team currently sends on the member, else 0.
# TYPE teamd_go_member_active gauge
teamd_go_member_active{member="eth1",team="team0"} 1
teamd_go_member_active{member="eth2",team="team0"} 0
# HELP teamd_go_member_link_up 1 if the member has carrier (or passes its link watch), else 0.
# TYPE teamd_go_member_link_up gauge
teamd_go_member_link_up{member="eth1",team="team0"} 1
teamd_go_member_link_up{member="eth2",team="team0"} 0
`},
		{"lacp", []string{"teamd_go_member_lacp_distributing", "teamd_go_member_lacp_pdus_rx_total", "teamd_go_member_lacp_partner_info"}, `
# HELP teamd_go_member_lacp_distributing LACP: 1 if the member distributes (sends) frames.
# TYPE teamd_go_member_lacp_distributing gauge
teamd_go_member_lacp_distributing{member="eth1",team="team0"} 1
teamd_go_member_lacp_distributing{member="eth2",team="team0"} 0
# HELP teamd_go_member_lacp_partner_info LACP: always 1; labels name the partner system and key. Members of one aggregate must show the same pair.
# TYPE teamd_go_member_lacp_partner_info gauge
teamd_go_member_lacp_partner_info{member="eth1",partner_key="13",partner_system="02:aa:00:00:00:01",team="team0"} 1
teamd_go_member_lacp_partner_info{member="eth2",partner_key="0",partner_system="00:00:00:00:00:00",team="team0"} 1
# HELP teamd_go_member_lacp_pdus_rx_total LACP: LACPDUs received.
# TYPE teamd_go_member_lacp_pdus_rx_total counter
teamd_go_member_lacp_pdus_rx_total{member="eth1",team="team0"} 5
teamd_go_member_lacp_pdus_rx_total{member="eth2",team="team0"} 0
`},
		{"vnics", []string{"teamd_go_vnic_tx_dropped_total", "teamd_go_vnic_macs", "teamd_go_vnic_home", "teamd_go_vnic_dropped_spoofed_total", "teamd_go_vnic_learn_refused_total"}, `
# HELP teamd_go_vnic_dropped_spoofed_total Frames from the vnic dropped because their source MAC is another vnic's (or, with macs and no mac_spoofing, not one of its pinned MACs).
# TYPE teamd_go_vnic_dropped_spoofed_total counter
teamd_go_vnic_dropped_spoofed_total{team="team0",vnic="team0"} 0
teamd_go_vnic_dropped_spoofed_total{team="team0",vnic="vm1"} 11
# HELP teamd_go_vnic_home Always 1; the label member is the vnic's home member (switch-independent mode).
# TYPE teamd_go_vnic_home gauge
teamd_go_vnic_home{member="eth1",team="team0",vnic="vm1"} 1
# HELP teamd_go_vnic_learn_refused_total Frames from the vnic whose new source MAC was not learned (the vnic's share of the table is full, e.g. after a MAC flood).
# TYPE teamd_go_vnic_learn_refused_total counter
teamd_go_vnic_learn_refused_total{team="team0",vnic="team0"} 0
teamd_go_vnic_learn_refused_total{team="team0",vnic="vm1"} 5
# HELP teamd_go_vnic_macs MAC addresses the vnic owns in the virtual switch's table.
# TYPE teamd_go_vnic_macs gauge
teamd_go_vnic_macs{team="team0",vnic="team0"} 0
teamd_go_vnic_macs{team="team0",vnic="vm1"} 2
# HELP teamd_go_vnic_tx_dropped_total Frames for the vnic that could not be written to it.
# TYPE teamd_go_vnic_tx_dropped_total counter
teamd_go_vnic_tx_dropped_total{team="team0",vnic="team0"} 0
teamd_go_vnic_tx_dropped_total{team="team0",vnic="vm1"} 7
`},
		{"team counters", []string{"teamd_go_rx_dropped_not_owned_total", "teamd_go_reloads_failed_total"}, `
# HELP teamd_go_reloads_failed_total Configuration reloads rejected; the running configuration was kept.
# TYPE teamd_go_reloads_failed_total counter
teamd_go_reloads_failed_total{team="team0"} 1
# HELP teamd_go_rx_dropped_not_owned_total Unicast frames from the switch dropped because no vnic owns their destination MAC.
# TYPE teamd_go_rx_dropped_not_owned_total counter
teamd_go_rx_dropped_not_owned_total{team="team0"} 42
`},
		{"vlan drops", []string{"teamd_go_vlan_dropped_total", "teamd_go_vnic_vlan_dropped_total"}, `
# HELP teamd_go_vlan_dropped_total Frames dropped for their VLAN, by reason: vnic_vlan (from a vnic, tagged with a VLAN it is not on), vnic_untagged (untagged from a trunk without native VLAN), rx_vlan (from the switch, on a VLAN no vnic is on).
# TYPE teamd_go_vlan_dropped_total counter
teamd_go_vlan_dropped_total{reason="rx_vlan",team="team0"} 8
teamd_go_vlan_dropped_total{reason="vnic_untagged",team="team0"} 7
teamd_go_vlan_dropped_total{reason="vnic_vlan",team="team0"} 6
# HELP teamd_go_vnic_vlan_dropped_total Frames from the vnic dropped for their VLAN: tagged with a VLAN it is not on, or untagged on a trunk without a native VLAN.
# TYPE teamd_go_vnic_vlan_dropped_total counter
teamd_go_vnic_vlan_dropped_total{team="team0",vnic="team0"} 0
teamd_go_vnic_vlan_dropped_total{team="team0",vnic="vm1"} 9
`},
		{"team info", []string{"teamd_go_team_info"}, `
# HELP teamd_go_team_info Always 1; labels give the team's mode, balance and backend.
# TYPE teamd_go_team_info gauge
teamd_go_team_info{backend="af_packet",balance="dynamic",mode="lacp",team="team0"} 1
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := testutil.CollectAndCompare(c, strings.NewReader(tc.want), tc.names...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestLACPStateBits(t *testing.T) {
	c := NewCollector(fakeState, "dev")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{} // "metric member bit" -> value
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), "_state") {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			got[mf.GetName()+" "+l["member"]+" "+l["bit"]] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"teamd_go_member_lacp_actor_state eth1 activity":          1,
		"teamd_go_member_lacp_actor_state eth1 timeout":           1,
		"teamd_go_member_lacp_actor_state eth1 synchronization":   1,
		"teamd_go_member_lacp_actor_state eth1 distributing":      1,
		"teamd_go_member_lacp_actor_state eth1 defaulted":         0,
		"teamd_go_member_lacp_actor_state eth1 expired":           0,
		"teamd_go_member_lacp_partner_state eth1 timeout":         0,
		"teamd_go_member_lacp_partner_state eth1 collecting":      1,
		"teamd_go_member_lacp_actor_state eth2 synchronization":   0,
		"teamd_go_member_lacp_partner_state eth2 defaulted":       1,
		"teamd_go_member_lacp_partner_state eth2 activity":        0,
		"teamd_go_member_lacp_partner_state eth2 synchronization": 0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if n := len(got); n != 2*2*8 {
		t.Errorf("%d state-bit series, want 32 (2 members x actor/partner x 8 bits)", n)
	}
}

// TestLACPBitsMatchCodec: lacpBits follows lacpdu.State.String, one
// character per bit in the same order, and names the same bits.
func TestLACPBitsMatchCodec(t *testing.T) {
	for i, bit := range lacpBits {
		s := lacpdu.State(1 << i)
		str := s.String()
		if len(str) != len(lacpBits) {
			t.Fatalf("lacpdu.State.String() = %q: not %d characters", str, len(lacpBits))
		}
		for j := range str {
			if set := str[j] != '.'; set != (i == j) {
				t.Errorf("bit %d (%s): String() = %q, character %d set=%v", i, bit, str, j, set)
			}
		}
		names := s.Names()
		if len(names) != 1 || strings.ToLower(strings.TrimPrefix(names[0], "LACP_")) != bit {
			t.Errorf("bit %d: lacpdu names it %v, metrics %q", i, names, bit)
		}
	}
}

// TestLACPStateOdd: a state string that is not eight characters sends
// no bit series rather than wrong ones.
func TestLACPStateOdd(t *testing.T) {
	st := fakeState()
	st.Members[0].LACP.ActorState = "?"
	st.Members = st.Members[:1]
	c := NewCollector(func() team.State { return st }, "dev")
	if n := testutil.CollectAndCount(c, "teamd_go_member_lacp_actor_state"); n != 0 {
		t.Errorf("%d actor_state series for a malformed state, want 0", n)
	}
	if n := testutil.CollectAndCount(c, "teamd_go_member_lacp_partner_state"); n != 8 {
		t.Errorf("%d partner_state series, want 8", n)
	}
}

// TestNoLACP: members of a team that does not run LACP have no LACP series.
func TestNoLACP(t *testing.T) {
	st := fakeState()
	for i := range st.Members {
		st.Members[i].LACP = nil
	}
	c := NewCollector(func() team.State { return st }, "dev")
	for _, name := range []string{"teamd_go_member_lacp_selected", "teamd_go_member_lacp_actor_state", "teamd_go_member_lacp_pdus_tx_total"} {
		if n := testutil.CollectAndCount(c, name); n != 0 {
			t.Errorf("%s: %d series without LACP", name, n)
		}
	}
	if n := testutil.CollectAndCount(c, "teamd_go_member_tx_packets_total"); n != 2 {
		t.Errorf("member_tx_packets_total: %d series, want 2", n)
	}
}

// TestEveryCounter: each field of team.Counters is exported under its
// JSON name with its value, so a counter added to the struct shows up.
func TestEveryCounter(t *testing.T) {
	var st team.State
	st.Team = "t1"
	cv := reflect.ValueOf(&st.Counters).Elem()
	typ := cv.Type()
	var names []string
	for i := range typ.NumField() {
		if f := cv.Field(i); f.CanUint() {
			f.SetUint(uint64(100 + i))
		} else {
			f.SetInt(int64(100 + i))
		}
	}
	c := NewCollector(func() team.State { return st }, "dev")
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	for i := range typ.NumField() {
		tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		name := "teamd_go_" + tag + "_total"
		names = append(names, name)
		if got := testutil.ToFloat64(onlyMetric(c, name)); got != float64(100+i) {
			t.Errorf("%s = %v, want %d", name, got, 100+i)
		}
		if _, ok := counterHelp[tag]; !ok {
			t.Logf("%s has the generic help text; consider adding one to counterHelp", name)
		}
	}
	if n := testutil.CollectAndCount(c, names...); n != typ.NumField() {
		t.Errorf("%d team counters collected, want %d", n, typ.NumField())
	}
}

// onlyMetric is a Collector that passes on one metric family of c.
func onlyMetric(c prometheus.Collector, name string) prometheus.Collector {
	return filtered{c, name}
}

type filtered struct {
	c    prometheus.Collector
	name string
}

func (f filtered) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(f, ch) }

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Collect(all); close(all) }()
	for m := range all {
		if strings.Contains(m.Desc().String(), `fqName: "`+f.name+`"`) {
			ch <- m
		}
	}
}

// TestLint runs promlint on everything the Collector emits: names, units,
// _total on counters, help texts.
func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(fakeState, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestBuildInfo(t *testing.T) {
	c := NewCollector(fakeState, "v9.9.9")
	if got := testutil.ToFloat64(onlyMetric(c, "teamd_go_build_info")); got != 1 {
		t.Errorf("build_info = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(c, "teamd_go_build_info"); n != 1 {
		t.Fatalf("%d build_info series, want 1", n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "teamd_go_build_info" {
			continue
		}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			if lp.GetName() == "version" && lp.GetValue() != "v9.9.9" {
				t.Errorf("version label %q, want v9.9.9", lp.GetValue())
			}
		}
	}
}

// TestServe scrapes a real listener: one state snapshot per scrape,
// /metrics only, and Close frees the address.
func TestServe(t *testing.T) {
	var calls atomic.Int32
	s, err := Serve("127.0.0.1:0", func() team.State { calls.Add(1); return fakeState() }, "v0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := "http://" + s.Addr()

	body, code := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`teamd_go_member_tx_packets_total{member="eth1",team="team0"} 20`,
		`teamd_go_rx_dropped_not_owned_total{team="team0"} 42`,
		`teamd_go_build_info{go_version="`,
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("state read %d times for one scrape, want 1", n)
	}
	if _, code := get(t, base+"/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}

	// The address is busy while the server runs.
	if s2, err := Serve(s.Addr(), fakeState, "v0", nil); err == nil {
		s2.Close()
		t.Errorf("second Serve on busy %s succeeded", s.Addr())
	}
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
	// Free again: a new server can take it.
	s3, err := Serve(addr, fakeState, "v0", nil)
	if err != nil {
		t.Fatalf("Serve on %s after Close: %v", addr, err)
	}
	s3.Close()
	var nilServer *Server
	if err := nilServer.Close(); err != nil {
		t.Errorf("nil Close: %v", err)
	}
}

func get(t *testing.T, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.StatusCode
}
