//go:build linux

package integration

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

func lacpConfig(active bool, rate string) string {
	return fmt.Sprintf(`mode: lacp
balance: address-hash
hash: [ipv4, l4]
members:
  - name: m1
  - name: m2
vnics:
  - name: vm1
lacp:
  active: %v
  rate: %s
`, active, rate)
}

// ovsMember is one member block of `ovs-appctl lacp/show`.
type ovsMember struct {
	status       string // e.g. "current attached"
	actorState   string
	partnerState string
	partnerSysID string
}

var (
	reMember  = regexp.MustCompile(`(?m)^member: (\S+): (.*)$`)
	reSysID   = regexp.MustCompile(`(?m)^\s+sys_id: (\S+)`)
	reActor   = regexp.MustCompile(`(?m)^\s+actor state: (.*)$`)
	rePartner = regexp.MustCompile(`(?m)^\s+partner state: (.*)$`)
	rePSys    = regexp.MustCompile(`(?m)^\s+partner sys_id: (\S+)`)
)

// parseLACPShow reads OVS's view of the LAG: its own system ID and each
// member's states.
func parseLACPShow(out string) (sysID string, members map[string]ovsMember) {
	members = map[string]ovsMember{}
	if m := reSysID.FindStringSubmatch(out); m != nil {
		sysID = m[1]
	}
	idx := reMember.FindAllStringSubmatchIndex(out, -1)
	for i, loc := range idx {
		end := len(out)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		block := out[loc[0]:end]
		name := out[loc[2]:loc[3]]
		om := ovsMember{status: out[loc[4]:loc[5]]}
		if m := reActor.FindStringSubmatch(block); m != nil {
			om.actorState = m[1]
		}
		if m := rePartner.FindStringSubmatch(block); m != nil {
			om.partnerState = m[1]
		}
		if m := rePSys.FindStringSubmatch(block); m != nil {
			om.partnerSysID = m[1]
		}
		members[name] = om
	}
	return sysID, members
}

// aggregated checks both ends agree that both members collect and
// distribute, and that each side sees the other's system ID.
func aggregated(d *daemon, sw *ovstest.Switch) error {
	out, err := sw.LACPShow("bond0")
	if err != nil {
		return err
	}
	sysID, ovs := parseLACPShow(out)
	st := d.view()
	for _, pair := range [][2]string{{"m1", "p1"}, {"m2", "p2"}} {
		ours := st.member(pair[0])
		if ours.LACP == nil || !ours.LACP.Collecting || !ours.LACP.Distributing || !ours.Active {
			return fmt.Errorf("our %s: %+v", pair[0], ours.LACP)
		}
		if !strings.EqualFold(ours.LACP.PartnerSystem, sysID) {
			return fmt.Errorf("our %s sees partner system %s, OVS is %s", pair[0], ours.LACP.PartnerSystem, sysID)
		}
		theirs, ok := ovs[pair[1]]
		if !ok || !strings.Contains(theirs.status, "current") ||
			!strings.Contains(theirs.actorState, "collecting distributing") ||
			!strings.Contains(theirs.partnerState, "collecting distributing") {
			return fmt.Errorf("OVS %s: %+v", pair[1], theirs)
		}
		if !strings.EqualFold(theirs.partnerSysID, st.member("m1").MAC) {
			return fmt.Errorf("OVS %s sees partner %s, our system is %s", pair[1], theirs.partnerSysID, st.member("m1").MAC)
		}
	}
	return nil
}

func TestLACPWithOVS(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.start(t, tp.config(lacpConfig(true, "fast")))
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = aggregated(d, sw); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, _ := sw.LACPShow("bond0")
	t.Logf("ovs-appctl lacp/show bond0:\n%s", out)
	js, _ := d.ctl("state")
	t.Logf("teamd-go ctl state:\n%s", js)
	if err != nil {
		t.Fatalf("not aggregated: %v", err)
	}
	pingOK(t, tp.vm, "10.77.0.2")
}

// waitAggregated waits until both ends agree on the LAG.
func waitAggregated(t *testing.T, d *daemon, sw *ovstest.Switch) {
	t.Helper()
	nstest.Eventually(t, 30*time.Second, func() error { return aggregated(d, sw) })
}

// iperf runs an iperf3 TCP test from the VM to the peer and returns the
// bytes received.
func iperf(t *testing.T, tp *topo, args ...string) float64 {
	t.Helper()
	return iperfRun(t, tp, args...).bytes
}

// iperfResult is what the receiving end of an iperf3 run saw.
type iperfResult struct {
	bytes, bps  float64
	retransmits int       // the sender's
	intervals   []float64 // bytes received in each 1 s interval
}

// iperfRun runs iperf3 for 3 s from the VM to the peer (with -R the
// other way) and returns what the receiver saw.
func iperfRun(t *testing.T, tp *topo, args ...string) iperfResult {
	t.Helper()
	nstest.RequireTool(t, "iperf3")
	srv := tp.peer.StartProc(t, "iperf3", "-s", "-1", "-B", "10.77.0.2")
	time.Sleep(300 * time.Millisecond)
	out, err := tp.vm.Run("iperf3", append([]string{"-c", "10.77.0.2", "-t", "3", "-J"}, args...)...)
	if err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	_ = srv.Wait(5 * time.Second)
	var res struct {
		Intervals []struct {
			Sum struct {
				Bytes float64 `json:"bytes"`
			} `json:"sum"`
		} `json:"intervals"`
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("iperf3 JSON: %v", err)
	}
	r := iperfResult{bytes: res.End.SumReceived.Bytes, bps: res.End.SumReceived.BitsPerSecond, retransmits: res.End.SumSent.Retransmits}
	for _, iv := range res.Intervals {
		r.intervals = append(r.intervals, iv.Sum.Bytes)
	}
	t.Logf("iperf3 %v: %.2f Gbit/s, %d retransmits", args, r.bps/1e9, r.retransmits)
	return r
}

func TestLACPTrafficAndLinkLoss(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.start(t, tp.config(lacpConfig(true, "fast")))
	waitAggregated(t, d, sw)
	pingOK(t, tp.vm, "10.77.0.2")
	spreadOverLAG(t, tp, d, "lacp")

	// A member's link goes down: traffic continues on the other.
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "down")
	nstest.Eventually(t, 10*time.Second, func() error {
		if m := d.view().member("m1"); m.Active || (m.LACP != nil && m.LACP.Distributing) {
			return fmt.Errorf("m1 still distributing: %+v", m.LACP)
		}
		return nil
	})
	if tx, rx := pingStats(t, tp.vm, "-c", "20", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("with m1 down: %d pings sent, %d answered", tx, rx)
	}
	if b := iperf(t, tp, "-P", "4"); b < 1e6 {
		t.Errorf("TCP with one member left moved %.0f bytes", b)
	}
	// It returns: it rejoins.
	tp.sw.MustRun(t, "ip", "link", "set", "p1", "up")
	waitAggregated(t, d, sw)
}

func TestLACPPartnerStops(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.start(t, tp.config(lacpConfig(true, "fast")))
	waitAggregated(t, d, sw)
	if _, err := sw.Vsctl("del-port", "br0", "bond0"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	seen := map[string]bool{}
	nstest.Eventually(t, 20*time.Second, func() error {
		m := d.view().member("m1")
		if m.LACP == nil {
			return fmt.Errorf("no lacp state")
		}
		seen[m.LACP.ReceiveState] = true
		if m.LACP.ReceiveState != "DEFAULTED" {
			return fmt.Errorf("m1 receive state %s", m.LACP.ReceiveState)
		}
		if m.LACP.Distributing || m.Active {
			return fmt.Errorf("m1 still distributing while defaulted")
		}
		return nil
	})
	t.Logf("partner silent: m1 went through %v, DEFAULTED after %v (fast: expect EXPIRED at 3 s, DEFAULTED 3 s later)",
		keys(seen), time.Since(stopped).Round(100*time.Millisecond))
	if !seen["EXPIRED"] {
		t.Errorf("m1 never showed EXPIRED on the way to DEFAULTED: %v", keys(seen))
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestLACPMatrix: active/passive x fast/slow on both ends, changed at run
// time (ovs-vsctl on the switch, a config reload on ours).
func TestLACPMatrix(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.start(t, tp.config(lacpConfig(true, "fast")))
	waitAggregated(t, d, sw)
	cases := []struct {
		oursActive bool
		oursRate   string
		ovsLACP    string
		ovsTime    string
		aggregate  bool
	}{
		{true, "slow", "active", "slow", true},
		{true, "fast", "passive", "fast", true},
		{false, "fast", "active", "fast", true},
		{false, "slow", "active", "slow", true},
		{false, "fast", "passive", "fast", false},
		{true, "fast", "active", "slow", true},
	}
	for _, c := range cases {
		name := fmt.Sprintf("ours %v/%s ovs %s/%s", map[bool]string{true: "active", false: "passive"}[c.oursActive], c.oursRate, c.ovsLACP, c.ovsTime)
		t.Run(name, func(t *testing.T) {
			if _, err := sw.Vsctl("set", "port", "bond0", "lacp="+c.ovsLACP, "other_config:lacp-time="+c.ovsTime); err != nil {
				t.Fatal(err)
			}
			if err := d.reload(tp.config(lacpConfig(c.oursActive, c.oursRate))); err != nil {
				t.Fatal(err)
			}
			if c.aggregate {
				waitAggregated(t, d, sw)
				m := d.view().member("m1").LACP
				if wantT := c.oursRate == "fast"; strings.Contains(m.ActorState[:2], "T") != wantT {
					t.Errorf("our actor state %s, rate %s", m.ActorState, c.oursRate)
				}
				if wantA := c.oursActive; (m.ActorState[0] == 'A') != wantA {
					t.Errorf("our actor state %s, active %v", m.ActorState, c.oursActive)
				}
				return
			}
			// Passive on both ends: nobody speaks first, so the LAG
			// must come apart and stay apart.
			nstest.Eventually(t, 40*time.Second, func() error {
				if m := d.view().member("m1"); m.Active {
					return fmt.Errorf("m1 still distributing with both ends passive: %+v", m.LACP)
				}
				return nil
			})
			time.Sleep(4 * time.Second)
			if err := aggregated(d, sw); err == nil {
				t.Fatal("passive-passive aggregated")
			}
			if st := d.view(); st.member("m1").Active || st.member("m2").Active {
				t.Fatalf("passive-passive: members distributing: %+v", st.Members)
			}
		})
	}
}

// TestLACPDUsOnTheWire: tshark's LACP dissector reads our PDUs with no
// malformed-packet or expert warnings.
func TestLACPDUsOnTheWire(t *testing.T) {
	nstest.RequireTool(t, "tshark")
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.start(t, tp.config(lacpConfig(true, "fast")))
	waitAggregated(t, d, sw)
	pcap := filepath.Join(t.TempDir(), "lacp.pcap")
	// Only what m1 sends: source MAC m1's.
	m1 := d.view().member("m1").MAC
	tp.sw.MustRun(t, "tshark", "-q", "-i", "p1", "-f", "ether proto 0x8809 and ether src "+m1, "-a", "duration:4", "-w", pcap)
	out := tp.sw.MustRun(t, "tshark", "-r", pcap, "-V")
	if !strings.Contains(out, "Link Aggregation Control Protocol") {
		t.Fatalf("tshark did not dissect LACP:\n%s", out)
	}
	for _, want := range []string{"Actor System ID: " + m1, "Actor Port: 1\n", "Partner System Priority: 65534",
		"Actor State: 0x3f, LACP Activity, LACP Timeout, Aggregation, Synchronization, Collecting, Distributing"} {
		if !strings.Contains(out, want) {
			t.Errorf("tshark -V lacks %q", want)
		}
	}
	if strings.Contains(out, "Malformed") || strings.Contains(out, "Expert Info") {
		t.Errorf("tshark flags our PDUs:\n%s", out)
	}
	if n := strings.Count(out, "Link Aggregation Control Protocol"); n < 3 {
		t.Errorf("only %d LACPDUs in 4 s at the fast rate", n)
	}
	expert := tp.sw.MustRun(t, "tshark", "-r", pcap, "-q", "-z", "expert")
	if strings.Contains(expert, "Error") || strings.Contains(expert, "Warn") {
		t.Errorf("tshark expert info:\n%s", expert)
	}
}

// TestLACPMalformed injects broken Slow Protocols frames at a member: the
// daemon keeps running, the LAG stays up, the frames are counted.
func TestLACPMalformed(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=active", "bond_mode=balance-tcp", "other_config:lacp-time=fast")
	d := tp.start(t, tp.config(lacpConfig(true, "fast")))
	waitAggregated(t, d, sw)
	fd := rawSocket(t, tp.sw, "p1", 0x8809)
	dst, _ := net.ParseMAC("01:80:c2:00:00:02")
	src, _ := net.ParseMAC("02:00:00:00:66:66")
	hdr := append(append(append([]byte{}, dst...), src...), 0x88, 0x09)
	valid := func() []byte {
		b := make([]byte, 110)
		b[0], b[1] = 1, 1
		b[2], b[3] = 1, 20 // actor
		b[22], b[23] = 2, 20
		b[42], b[43] = 3, 16
		return b
	}
	zeroTLV := valid()
	zeroTLV[3] = 0
	oversize := valid()
	oversize[3] = 200
	badVersion := valid()
	badVersion[1] = 0
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 90)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	random[0] = 1
	bad := [][]byte{{1, 1, 1}, zeroTLV, oversize, badVersion, random, {2}, {}}
	before := d.view().Counters.RxSlowMalformed
	for _, b := range bad {
		sendRaw(t, fd, append(append([]byte{}, hdr...), b...), 1)
	}
	nstest.Eventually(t, 5*time.Second, func() error {
		if got := d.view().Counters.RxSlowMalformed - before; got < uint64(len(bad)) {
			return fmt.Errorf("rx_slow_protocol_malformed +%d, want +%d", got, len(bad))
		}
		return nil
	})
	if d.proc.Exited() {
		t.Fatalf("daemon died:\n%s", d.proc.Output())
	}
	if err := aggregated(d, sw); err != nil {
		t.Fatalf("LAG broken by malformed PDUs: %v", err)
	}
}

// TestStaticWithOVS: a static team against an OVS bond without LACP that
// accepts on all members.
func TestStaticWithOVS(t *testing.T) {
	tp, sw := newOVSTopo(t, "lacp=off", "bond_mode=balance-slb", "other_config:all-members-active=true")
	d := tp.start(t, tp.config(`mode: static
balance: address-hash
hash: [ipv4, l4]
members:
  - name: m1
  - name: m2
vnics:
  - name: vm1
`))
	pingOK(t, tp.vm, "10.77.0.2")
	spreadOverLAG(t, tp, d, "static")
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "down")
	nstest.Eventually(t, 5*time.Second, func() error {
		if d.view().member("m2").Active {
			return fmt.Errorf("m2 still active")
		}
		return nil
	})
	// The switch must have taken p2 out of its bond as well: until it
	// has, it may still hash the peer's replies onto p2 (a ping lost
	// there is the switch's detection time, not the team's).
	nstest.Eventually(t, 5*time.Second, func() error {
		out, err := sw.BondShow("bond0")
		if err != nil {
			return err
		}
		if !regexp.MustCompile(`(member|slave) p2: disabled`).MatchString(out) {
			return fmt.Errorf("bond0 still has p2 enabled:\n%s", out)
		}
		return nil
	})
	if tx, rx := pingStats(t, tp.vm, "-c", "20", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("with m2 down: %d pings sent, %d answered", tx, rx)
	}
	if b := iperf(t, tp, "-P", "4"); b < 1e6 {
		t.Errorf("TCP with one member left moved %.0f bytes", b)
	}
}

// spreadOverLAG runs 16 TCP flows from the VM through a LAG team and
// checks address-hash put traffic on both members, with no source MAC
// rewritten (there is none in static or lacp mode).
func spreadOverLAG(t *testing.T, tp *topo, d *daemon, mode string) {
	t.Helper()
	if b := iperf(t, tp, "-P", "16"); b < 1e6 {
		t.Fatalf("TCP through the %s team moved %.0f bytes", mode, b)
	}
	st := d.view()
	for _, m := range []string{"m1", "m2"} {
		if st.member(m).TxPackets < 100 {
			t.Errorf("16 TCP flows left %s only %d times: address-hash did not spread them", m, st.member(m).TxPackets)
		}
	}
	if st.Counters.TxSourceMACRewritten != 0 {
		t.Errorf("%s mode rewrote %d source MACs", mode, st.Counters.TxSourceMACRewritten)
	}
}
