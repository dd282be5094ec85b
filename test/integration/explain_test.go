//go:build linux

package integration

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/test/nstest"
)

const siAddressHash = `mode: switch-independent
balance: address-hash
hash: [eth, ipv4, l4]
members:
  - name: m1
  - name: m2
vnics:
  - name: vm1
`

// TestCtlExplain: `ctl explain` says which member a UDP flow of the VM
// leaves on and that its source MAC is rewritten; real frames of that flow
// then leave on that member with that source (captured on the switch
// port), and frames the peer sends to that member's MAC are dropped as
// explain says (the auto-last-hop mechanism), counted by the team.
func TestCtlExplain(t *testing.T) {
	tp := newTopo(t)
	nstest.RequireTool(t, "mausezahn", "tcpdump", "tshark")
	d := tp.start(t, tp.config(siAddressHash))
	pingOK(t, tp.vm, "10.77.0.2")
	vmMAC, peerMAC := "02:00:00:77:00:01", "02:00:00:77:00:02"
	explain := d.explain
	udpFrom := func(sport int) []string {
		return []string{"--from-vnic", "vm1", "--src-mac", vmMAC, "--dst-mac", peerMAC, "--src-ip", "10.77.0.1",
			"--dst-ip", "10.77.0.2", "--proto", "udp", "--sport", strconv.Itoa(sport), "--dport", "9"}
	}
	// A flow that leaves on the member that is not vm1's home.
	sport := 0
	var e team.Explanation
	for p := 20000; p < 20064 && sport == 0; p++ {
		if e = explain(udpFrom(p)...); e.SourceMAC != nil && e.SourceMAC.Rewritten {
			sport = p
		}
	}
	if sport == 0 {
		t.Fatal("no flow of 64 is sent on the non-home member")
	}
	if e.Verdict != team.VerdictSent || e.Member == e.Home || e.Hash == nil || e.Hash.Fields != "eth,ipv4,tcp,udp,sctp" ||
		len(e.Candidates) != 2 || e.SourceMAC.From != vmMAC {
		t.Fatalf("explanation: %+v", e)
	}
	memberMAC := map[string]string{}
	for _, m := range d.state().Members {
		memberMAC[m.Name] = m.MAC
	}
	if e.SourceMAC.To != memberMAC[e.Member] {
		t.Fatalf("source rewritten to %s, want %s's MAC %s", e.SourceMAC.To, e.Member, memberMAC[e.Member])
	}

	// The same frame, for real, 20 times.
	const n = 20
	eth, err := frame.Build(frame.Spec{Src: mustMAC(t, vmMAC), Dst: mustMAC(t, peerMAC),
		SrcIP: netip.MustParseAddr("10.77.0.1"), DstIP: netip.MustParseAddr("10.77.0.2"),
		Proto: frame.ProtoUDP, SrcPort: uint16(sport), DstPort: 9})
	if err != nil {
		t.Fatal(err)
	}
	swPort := map[string]string{"m1": "p1", "m2": "p2"}
	pcap := filepath.Join(t.TempDir(), "tx.pcap")
	cap := startTcpdump(t, tp.sw, "-i", swPort[e.Member], "-n", "-Q", "in", "-c", strconv.Itoa(n), "-w", pcap, "udp dst port 9")
	before := d.state()
	tp.vm.MustRun(t, "mausezahn", "eth0", "-q", "-c", strconv.Itoa(n), "-d", "1msec", spaced(eth))
	if err := cap.Wait(10 * time.Second); err != nil {
		t.Fatalf("capture: %v\n%s", err, cap.Output())
	}
	out := tp.sw.MustRun(t, "tshark", "-r", pcap, "-T", "fields", "-e", "eth.src")
	got := 0
	for _, l := range strings.Split(out, "\n") {
		if _, err := frame.ParseMAC(strings.TrimSpace(l)); err == nil {
			got++ // tshark also says it runs as root
		}
	}
	if got != n {
		t.Fatalf("captured %d frames, want %d:\n%s", got, n, out)
	}
	if c := strings.Count(out, memberMAC[e.Member]); c != n {
		t.Errorf("%d of %d frames left with %s's MAC %s as explain said:\n%s", c, n, e.Member, memberMAC[e.Member], out)
	}
	after := d.state()
	if dr := after.Counters.TxSourceMACRewritten - before.Counters.TxSourceMACRewritten; dr < n {
		t.Errorf("tx_source_mac_rewritten grew by %d, want at least %d", dr, n)
	}
	for i, m := range after.Members {
		dtx := m.TxPackets - before.Members[i].TxPackets
		if m.Name == e.Member && dtx < n || m.Name != e.Member && dtx >= n {
			t.Errorf("member %s sent %d frames; explain said the %d go on %s", m.Name, dtx, n, e.Member)
		}
	}

	// The reply a last-hop router would send: to the member's MAC.
	reply := explain("--from-member", e.Member, "--src-mac", peerMAC, "--dst-mac", memberMAC[e.Member],
		"--src-ip", "10.77.0.2", "--dst-ip", "10.77.0.1", "--proto", "udp", "--sport", "9", "--dport", strconv.Itoa(sport))
	if reply.Verdict != team.VerdictDropped || reply.Counter != "rx_dropped_not_owned" {
		t.Fatalf("reply explanation: %+v", reply)
	}
	rep, err := frame.Build(frame.Spec{Src: mustMAC(t, peerMAC), Dst: mustMAC(t, memberMAC[e.Member]),
		SrcIP: netip.MustParseAddr("10.77.0.2"), DstIP: netip.MustParseAddr("10.77.0.1"),
		Proto: frame.ProtoUDP, SrcPort: 9, DstPort: uint16(sport)})
	if err != nil {
		t.Fatal(err)
	}
	before = d.state()
	tp.peer.MustRun(t, "mausezahn", "eth0", "-q", "-c", strconv.Itoa(n), "-d", "1msec", spaced(rep))
	nstest.Eventually(t, 5*time.Second, func() error {
		if dn := d.state().Counters.RxDroppedNotOwned - before.Counters.RxDroppedNotOwned; dn != n {
			return fmt.Errorf("rx_dropped_not_owned grew by %d, want %d", dn, n)
		}
		return nil
	})

	// The text form, and bad requests.
	text, err := d.ctl(append([]string{"explain"}, udpFrom(sport)...)...)
	if err != nil || !strings.Contains(text, "verdict: sent on "+e.Member+", source MAC "+vmMAC+" -> "+memberMAC[e.Member]) {
		t.Errorf("text explanation (%v):\n%s", err, text)
	}
	t.Logf("ctl explain %v:\n%s", udpFrom(sport), text)
	// A jumbo frame travels in several arguments of the control socket.
	jumbo := append(append([]byte(nil), eth...), make([]byte, 9000-len(eth))...)
	if out, err := d.ctl("explain", "--from-vnic", "vm1", "--hex", hex.EncodeToString(jumbo)); err != nil ||
		!strings.Contains(out, "9000 bytes") || !strings.Contains(out, "verdict: sent on "+e.Member) {
		t.Errorf("jumbo frame (%v):\n%s", err, out)
	}
	replyArgs := []string{"explain", "--from-member", e.Member, "--hex", hex.EncodeToString(rep)}
	if text, err = d.ctl(replyArgs...); err != nil || !strings.Contains(text, "verdict: dropped (counter rx_dropped_not_owned)") {
		t.Errorf("text explanation of the reply (%v):\n%s", err, text)
	}
	t.Logf("ctl %v:\n%s", replyArgs, text)
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "--from-vnic", "nosuch0", "--hex", hex.EncodeToString(eth)}, "nosuch0"},
		{[]string{"explain", "--from-member", "m1", "--hex", "zz"}, "--hex"},
		{[]string{"explain", "--hex", "00"}, "--from-vnic"},
		{[]string{"explain", "--from-vnic", "vm1", "--src-mac", vmMAC, "--dst-mac", peerMAC, "--src-ip", "10.77.0.1", "--dst-ip", "fd00::1"}, "IPv4"},
	} {
		if out, err := d.ctl(bad.args...); err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("ctl %v: err %v, output %q; want an error naming %q", bad.args, err, out, bad.want)
		}
	}
}

func mustMAC(t *testing.T, s string) frame.MAC {
	t.Helper()
	m, err := frame.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// spaced writes b as mausezahn's raw-frame argument: hex bytes, spaced.
func spaced(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(' ')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}
