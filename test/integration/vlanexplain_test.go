//go:build linux

package integration

import (
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

// TestCtlExplainVLAN: a daemon with an access vnic shows its VLAN in
// ctl state; ctl explain (--vlan) says that the VM's untagged frames get
// tag 10 pushed and that tagged ones are dropped, and the real data path
// does what it says: the VM's frames leave the home member tagged 10
// (captured on the switch port), its tagged frames are counted in
// vnic_dropped_vlan. A reload moves the vnic to VLAN 20 in place.
func TestCtlExplainVLAN(t *testing.T) {
	tp := newTopo(t)
	nstest.RequireTool(t, "mausezahn", "tcpdump", "tshark")
	body := func(vid int) string {
		return fmt.Sprintf("mode: switch-independent\nbalance: hyperv-port\nmembers:\n  - name: m1\n  - name: m2\nvnics:\n  - name: vm1\n    vlan: {access: %d}\n", vid)
	}
	d := tp.start(t, tp.config(body(10)))
	vmMAC, peerMAC := "02:00:00:77:00:01", "02:00:00:77:00:02"
	vnic := func() team.VNICState {
		t.Helper()
		for _, v := range d.state().VNICs {
			if v.Name == "vm1" {
				return v
			}
		}
		t.Fatal("no vnic vm1 in ctl state")
		return team.VNICState{}
	}
	if v := vnic(); v.VLAN == nil || v.VLAN.Access != 10 {
		t.Fatalf("ctl state vm1 vlan = %+v, want access 10", v.VLAN)
	}
	explain := d.explain
	udp := []string{"--src-mac", vmMAC, "--dst-mac", peerMAC, "--src-ip", "10.77.0.1", "--dst-ip", "10.77.0.2",
		"--proto", "udp", "--sport", "7", "--dport", "9"}
	fromVM := append([]string{"--from-vnic", "vm1"}, udp...)
	if e := explain(fromVM...); e.Verdict != team.VerdictSent || e.VLAN == nil || e.VLAN.ID != 10 || !e.VLAN.Pushed {
		t.Fatalf("untagged from vm1: %+v, VLAN %+v; want sent, tag 10 pushed", e, e.VLAN)
	}
	text, err := d.ctl(append([]string{"explain"}, fromVM...)...)
	if err != nil || !strings.Contains(text, "vlan: untagged from vm1 (access VLAN 10): VLAN 10") || !strings.Contains(text, "tag 10 pushed") {
		t.Errorf("text explanation (%v):\n%s", err, text)
	}
	t.Logf("ctl explain %v:\n%s", fromVM, text)
	if e := explain(append(fromVM, "--vlan", "10")...); e.Verdict != team.VerdictDropped || e.Counter != "vnic_dropped_vlan" {
		t.Errorf("tagged from vm1: %s %s, want dropped vnic_dropped_vlan", e.Verdict, e.Counter)
	}
	toVM := []string{"--from-member", "m1", "--src-mac", peerMAC, "--dst-mac", vmMAC, "--vlan", "20"}
	if e := explain(toVM...); e.Verdict != team.VerdictDropped || e.Counter != "rx_dropped_vlan" {
		t.Errorf("VLAN 20 from m1: %s %s, want dropped rx_dropped_vlan", e.Verdict, e.Counter)
	}

	// The same, for real: untagged frames from the VM leave tagged 10.
	const n = 10
	home := d.vnicHome("vm1")
	swPort := map[string]string{"m1": "p1", "m2": "p2"}[home]
	spec := frame.Spec{Src: mustMAC(t, vmMAC), Dst: mustMAC(t, peerMAC), SrcIP: netip.MustParseAddr("10.77.0.1"),
		DstIP: netip.MustParseAddr("10.77.0.2"), Proto: frame.ProtoUDP, SrcPort: 7, DstPort: 9}
	plain, err := frame.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.VLAN = 10
	tagged, err := frame.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(t.TempDir(), "vlan.pcap")
	cap := startTcpdump(t, tp.sw, "-i", swPort, "-n", "-Q", "in", "-c", strconv.Itoa(n), "-w", pcap, "vlan 10 and udp dst port 9")
	before := d.state()
	tp.vm.MustRun(t, "mausezahn", "eth0", "-q", "-c", strconv.Itoa(n), "-d", "1msec", spaced(plain))
	if err := cap.Wait(10 * time.Second); err != nil {
		t.Fatalf("capture of VLAN 10 on %s: %v\n%s", swPort, err, cap.Output())
	}
	out := tp.sw.MustRun(t, "tshark", "-r", pcap, "-T", "fields", "-e", "vlan.id", "-e", "eth.src")
	if c := strings.Count(out, "10\t"+vmMAC); c != n {
		t.Errorf("%d of %d frames seen on %s tagged 10 from %s:\n%s", c, n, swPort, vmMAC, out)
	}
	// Frames the VM sends tagged are dropped and counted.
	tp.vm.MustRun(t, "mausezahn", "eth0", "-q", "-c", strconv.Itoa(n), "-d", "1msec", spaced(tagged))
	nstest.Eventually(t, 5*time.Second, func() error {
		st := d.state()
		if dv := st.Counters.VNICDroppedVLAN - before.Counters.VNICDroppedVLAN; dv != n {
			return fmt.Errorf("vnic_dropped_vlan grew by %d, want %d", dv, n)
		}
		return nil
	})
	if v := vnic(); v.DroppedVLAN < n {
		t.Errorf("vm1 dropped_vlan = %d, want at least %d", v.DroppedVLAN, n)
	}

	// A reload moves vm1 to VLAN 20 in place.
	if err := d.reload(tp.config(body(20))); err != nil {
		t.Fatal(err)
	}
	if v := vnic(); v.VLAN == nil || v.VLAN.Access != 20 {
		t.Fatalf("after the reload vm1 vlan = %+v, want access 20", v.VLAN)
	}
	if e := explain(fromVM...); e.VLAN == nil || e.VLAN.ID != 20 {
		t.Errorf("after the reload: VLAN %+v, want 20", e.VLAN)
	}
}
