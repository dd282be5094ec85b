//go:build linux

package integration

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/afpacket"
	"github.com/teamd-go/teamd-go/internal/testbed"
	"github.com/teamd-go/teamd-go/test/nstest"
	"github.com/teamd-go/teamd-go/test/ovstest"
)

// vlanTopo is a team whose members are trunk ports of a switch, with a
// VM on VLAN 10, a VM on VLAN 20 (the same MAC and address as the first)
// and a trunk VM, and a peer on each VLAN (the same address, their own
// MACs):
//
//	ns vm10 (eth0 10.77.0.1 02:00:00:77:00:01) == vm1  (access 10) ┐
//	ns vm20 (eth0 10.77.0.1 02:00:00:77:00:01) == vm2  (access 20) ├ ns host: teamd-go, m1 m2
//	ns vmt  (eth0, raw tagged frames)          == vm3  (trunk 10,20)┘
//	ns sw: switch, p1 p2 (to m1 m2) trunks 10,20; pp10 (VLAN 10), pp20 (VLAN 20), pp30 (VLAN 30)
//	ns peer10 (eth0 10.77.0.2 ..:0a), peer20 (eth0 10.77.0.2 ..:14), peer30 (eth0 10.77.0.2 ..:1e)
type vlanTopo struct {
	*topo
	vm10, vm20, vmt, peer10, peer20, peer30 *nstest.NS
}

const (
	vlanVMMAC  = "02:00:00:77:00:01"
	vlanPeer10 = "02:00:00:77:00:0a"
	vlanPeer20 = "02:00:00:77:00:14"
	vlanPeer30 = "02:00:00:77:00:1e"
)

func newVLANHosts(t *testing.T) *vlanTopo {
	t.Helper()
	nstest.Require(t)
	nstest.RequireTool(t, "ping", "ethtool")
	n := nstest.Build(t, "", testbed.Topology{
		Namespaces: testbed.Roles("host", "vm10", "vm20", "vmt", "sw", "peer10", "peer20", "peer30"),
		Links: []testbed.Link{
			testbed.Pair("host", "m1", "sw", "p1"),
			testbed.Pair("host", "m2", "sw", "p2"),
			testbed.Pair("peer10", "eth0", "sw", "pp10"),
			testbed.Pair("peer20", "eth0", "sw", "pp20"),
			testbed.Pair("peer30", "eth0", "sw", "pp30"),
			testbed.Pair("vm10", "eth0", "host", "vm1"),
			testbed.Pair("vm20", "eth0", "host", "vm2"),
			testbed.Pair("vmt", "eth0", "host", "vm3"),
		},
		Ifaces: []testbed.Iface{
			{NS: "vm10", Dev: "eth0", MAC: vlanVMMAC, Addrs: []string{"10.77.0.1/24"}},
			{NS: "vm20", Dev: "eth0", MAC: vlanVMMAC, Addrs: []string{"10.77.0.1/24"}},
			{NS: "vmt", Dev: "eth0", MAC: "02:00:00:77:00:03"},
			{NS: "peer10", Dev: "eth0", MAC: vlanPeer10, Addrs: []string{"10.77.0.2/24"}},
			{NS: "peer20", Dev: "eth0", MAC: vlanPeer20, Addrs: []string{"10.77.0.2/24"}},
			{NS: "peer30", Dev: "eth0", MAC: vlanPeer30, Addrs: []string{"10.77.0.2/24"}},
		},
	})
	for _, r := range []string{"vm10", "vm20", "vmt", "peer10", "peer20", "peer30"} {
		// IPv6 chatter (router and neighbour solicitations) stays out
		// of the frame counts.
		n.NS(r).MustRun(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
	}
	return &vlanTopo{
		topo: &topo{host: n.NS("host"), vm: n.NS("vm10"), sw: n.NS("sw"), peer: n.NS("peer10"),
			team: fmt.Sprintf("it%d-%d", os.Getpid()%10000, teamSeq.Add(1))},
		vm10: n.NS("vm10"), vm20: n.NS("vm20"), vmt: n.NS("vmt"),
		peer10: n.NS("peer10"), peer20: n.NS("peer20"), peer30: n.NS("peer30"),
	}
}

// vlanTeam is the team of vlanTopo: switch-independent, the members
// trunks of every VLAN.
const vlanTeam = `mode: switch-independent
balance: hyperv-port
members:
  - name: m1
  - name: m2
vnics:
  - name: vm1
    vlan: {access: 10}
  - name: vm2
    vlan: {access: 20}
  - name: vm3
    vlan: {trunk: [10, 20]}
`

// TestVLANWithOVS runs the VLAN checks against Open vSwitch with the
// members as trunk ports (trunks=10,20,30) and the peers on access ports.
func TestVLANWithOVS(t *testing.T) {
	tp := newVLANHosts(t)
	sw := ovstest.Start(t, tp.sw, ovstest.UserspaceTSO())
	must(t, sw.AddBridge("br0"))
	for _, p := range []string{"p1", "p2"} {
		must(t, sw.AddPort("br0", p))
		if _, err := sw.Vsctl("set", "port", p, "vlan_mode=trunk", "trunks=10,20,30"); err != nil {
			t.Fatal(err)
		}
	}
	for _, vid := range []string{"10", "20", "30"} {
		must(t, sw.AddPort("br0", "pp"+vid))
		if _, err := sw.Vsctl("set", "port", "pp"+vid, "tag="+vid); err != nil {
			t.Fatal(err)
		}
	}
	d := tp.start(t, tp.config(vlanTeam))
	vlanChecks(t, tp, d)
}

// TestVLANWithBridge runs them against a Linux bridge with
// vlan_filtering: the members trunk ports, the peers' ports untagged
// members of their VLAN (pvid).
func TestVLANWithBridge(t *testing.T) {
	tp := newVLANHosts(t)
	if out, err := tp.sw.Run("ip", "link", "add", "br0", "type", "bridge", "vlan_filtering", "1"); err != nil {
		// The same checks run against Open vSwitch trunks in
		// TestVLANWithOVS, which needs no kernel VLAN support.
		nstest.KernelLacks(t, "CONFIG_BRIDGE_VLAN_FILTERING", out, err)
	}
	tp.sw.MustRun(t, "ip", "link", "set", "br0", "up")
	for _, p := range []string{"p1", "p2", "pp10", "pp20", "pp30"} {
		tp.sw.MustRun(t, "ip", "link", "set", p, "master", "br0")
		tp.sw.MustRun(t, "bridge", "vlan", "del", "dev", p, "vid", "1")
	}
	for _, p := range []string{"p1", "p2"} {
		for _, vid := range []string{"10", "20", "30"} {
			tp.sw.MustRun(t, "bridge", "vlan", "add", "dev", p, "vid", vid)
		}
	}
	for _, vid := range []string{"10", "20", "30"} {
		tp.sw.MustRun(t, "bridge", "vlan", "add", "dev", "pp"+vid, "vid", vid, "pvid", "untagged")
	}
	d := tp.start(t, tp.config(vlanTeam))
	vlanChecks(t, tp, d)
}

func vlanChecks(t *testing.T, tp *vlanTopo, d *daemon) {
	t.Run("same MAC on two VLANs", func(t *testing.T) {
		// Both VMs have one MAC and one address; each must reach the
		// peer of its own VLAN: the neighbour it resolves is that peer.
		for _, c := range []struct {
			vm       *nstest.NS
			peer     string
			peerName string
		}{{tp.vm10, vlanPeer10, "peer10"}, {tp.vm20, vlanPeer20, "peer20"}} {
			pingOK(t, c.vm, "10.77.0.2")
			out := c.vm.MustRun(t, "ip", "neigh", "show", "10.77.0.2", "dev", "eth0")
			if !strings.Contains(out, c.peer) {
				t.Errorf("%s resolved 10.77.0.2 to %q, want %s (%s)", c.vm.Name, strings.TrimSpace(out), c.peer, c.peerName)
			}
		}
		// And each peer reaches its own VM: the replies come back to it.
		for _, p := range []*nstest.NS{tp.peer10, tp.peer20} {
			if tx, rx := pingStats(t, p, "-c", "5", "-i", "0.05", "10.77.0.1"); rx != tx {
				t.Errorf("%s: %d of %d pings to its VM answered", p.Name, rx, tx)
			}
		}
		// peer30's VLAN has no vnic: it reaches nobody.
		if _, rx := pingStats(t, tp.peer30, "-c", "3", "-i", "0.1", "-W", "1", "10.77.0.1"); rx != 0 {
			t.Errorf("peer30 (VLAN 30, no vnic on it) got %d answers", rx)
		}
		st := vlanState(t, d)
		var keys []string
		for _, e := range st.FDB {
			if e.MAC == vlanVMMAC {
				keys = append(keys, fmt.Sprintf("%d/%s", e.VLAN, e.VNIC))
			}
		}
		if got := strings.Join(keys, " "); got != "10/vm1 20/vm2" {
			t.Errorf("FDB entries of %s: %q, want 10/vm1 20/vm2", vlanVMMAC, got)
		}
	})

	t.Run("broadcast stays in its VLAN", func(t *testing.T) {
		const etype = 0x88b5
		peer10 := rawSocket(t, tp.peer10, "eth0", etype)
		peer20 := rawSocket(t, tp.peer20, "eth0", etype)
		vm10 := rawSocket(t, tp.vm10, "eth0", etype)
		vm20 := rawSocket(t, tp.vm20, "eth0", etype)
		bcast, _ := net.ParseMAC("ff:ff:ff:ff:ff:ff")
		p10, _ := net.ParseMAC(vlanPeer10)
		vm, _ := net.ParseMAC(vlanVMMAC)
		before := vlanState(t, d).Counters
		sendRaw(t, peer10, ethFrame(bcast, p10, etype, 0xc1), 5)
		if got := countRaw(vm10, 0xc1, 500*time.Millisecond); got != 5 {
			t.Errorf("vm10 received %d of 5 broadcasts from VLAN 10", got)
		}
		if got := countRaw(vm20, 0xc1, 200*time.Millisecond); got != 0 {
			t.Errorf("vm20 (VLAN 20) received %d broadcasts from VLAN 10", got)
		}
		sendRaw(t, vm10, ethFrame(bcast, vm, etype, 0xc2), 5)
		if got := countRaw(peer10, 0xc2, 500*time.Millisecond); got != 5 {
			t.Errorf("peer10 received %d of 5 broadcasts from vm10", got)
		}
		if got := countRaw(peer20, 0xc2, 200*time.Millisecond); got != 0 {
			t.Errorf("peer20 (VLAN 20) received %d broadcasts from vm10 (VLAN 10)", got)
		}
		if got := countRaw(vm20, 0xc2, 200*time.Millisecond); got != 0 {
			t.Errorf("vm20 (VLAN 20) received %d broadcasts from vm10 (VLAN 10)", got)
		}
		// A broadcast on VLAN 30, which no vnic is on, is dropped and
		// counted.
		peer30 := rawSocket(t, tp.peer30, "eth0", etype)
		p30, _ := net.ParseMAC(vlanPeer30)
		sendRaw(t, peer30, ethFrame(bcast, p30, etype, 0xc3), 4)
		if got := countRaw(vm10, 0xc3, 300*time.Millisecond) + countRaw(vm20, 0xc3, 100*time.Millisecond); got != 0 {
			t.Errorf("VMs received %d broadcasts from VLAN 30", got)
		}
		nstest.Eventually(t, 3*time.Second, func() error {
			after := vlanState(t, d).Counters
			if n := after["rx_dropped_vlan"] - before["rx_dropped_vlan"]; n < 4 {
				return fmt.Errorf("rx_dropped_vlan +%d, want +4 or more (the VLAN 30 broadcasts, on each member)", n)
			}
			return nil
		})
		after := vlanState(t, d).Counters
		t.Logf("counters: vlan_tags_pushed +%d, vlan_tags_popped +%d, rx_dropped_vlan +%d",
			after["vlan_tags_pushed"]-before["vlan_tags_pushed"], after["vlan_tags_popped"]-before["vlan_tags_popped"],
			after["rx_dropped_vlan"]-before["rx_dropped_vlan"])
		if after["vlan_tags_pushed"]-before["vlan_tags_pushed"] < 5 || after["vlan_tags_popped"]-before["vlan_tags_popped"] < 5 {
			t.Errorf("tags pushed +%d, popped +%d: want at least the 5 broadcasts each way",
				after["vlan_tags_pushed"]-before["vlan_tags_pushed"], after["vlan_tags_popped"]-before["vlan_tags_popped"])
		}
	})

	t.Run("trunk vnic", func(t *testing.T) {
		// The kernel here has no 802.1Q devices: the trunk VM sends and
		// reads tagged frames itself, through an AF_PACKET port (which
		// gives it the tags in the frame).
		var vmt *afpacket.Port
		if err := tp.vmt.Do(func() (err error) { vmt, err = afpacket.Open("eth0", afpacket.Options{}); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { vmt.Close() })
		const etype = 0x88b5
		peer10 := rawSocket(t, tp.peer10, "eth0", etype)
		peer20 := rawSocket(t, tp.peer20, "eth0", etype)
		vm10 := rawSocket(t, tp.vm10, "eth0", etype)
		bcast := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		src := vmt.MAC()
		before := vlanState(t, d).Counters
		for _, c := range []struct {
			vid      uint16
			mark     byte
			to, not  int
			toName   string
			notName  string
			alsoVM10 int
		}{{10, 0xd1, peer10, peer20, "peer10", "peer20", 5}, {20, 0xd2, peer20, peer10, "peer20", "peer10", 0}} {
			f := taggedFrame(bcast, src, c.vid, 5<<13, etype, c.mark)
			for range 5 {
				if _, err := vmt.Write([][]byte{f}); err != nil {
					t.Fatal(err)
				}
			}
			if got := countRaw(c.to, c.mark, 500*time.Millisecond); got != 5 {
				t.Errorf("VLAN %d from the trunk VM: %s received %d of 5", c.vid, c.toName, got)
			}
			if got := countRaw(c.not, c.mark, 200*time.Millisecond); got != 0 {
				t.Errorf("VLAN %d from the trunk VM: %s received %d", c.vid, c.notName, got)
			}
			if got := countRaw(vm10, c.mark, 200*time.Millisecond); got != c.alsoVM10 {
				t.Errorf("VLAN %d from the trunk VM: vm10 (access 10) received %d, want %d", c.vid, got, c.alsoVM10)
			}
		}
		// From a peer, the trunk VM gets the frame tagged with the
		// peer's VLAN.
		p20, _ := net.ParseMAC(vlanPeer20)
		sendRaw(t, peer20, ethFrame(net.HardwareAddr(bcast[:]), p20, etype, 0xd3), 3)
		got := readTagged(t, vmt, 0xd3, 3)
		for i, vid := range got {
			if vid != 20 {
				t.Errorf("frame %d from peer20 reached the trunk VM with VLAN %d, want 20", i, vid)
			}
		}
		// VLAN 30 is not on the trunk: dropped and counted.
		f := taggedFrame(bcast, src, 30, 0, etype, 0xd4)
		for range 3 {
			if _, err := vmt.Write([][]byte{f}); err != nil {
				t.Fatal(err)
			}
		}
		nstest.Eventually(t, 3*time.Second, func() error {
			after := vlanState(t, d)
			if n := after.Counters["vnic_dropped_vlan"] - before["vnic_dropped_vlan"]; n != 3 {
				return fmt.Errorf("vnic_dropped_vlan +%d, want +3 (VLAN 30 from the trunk vnic)", n)
			}
			for _, v := range after.VNICs {
				if v.Name == "vm3" && v.DroppedVLAN < 3 {
					return fmt.Errorf("vm3 dropped_vlan %d, want 3 or more", v.DroppedVLAN)
				}
			}
			return nil
		})
		// The trunk has no native VLAN: untagged frames from it are
		// dropped and counted.
		plain := taggedFrame(bcast, src, 0, 0, etype, 0xd6)
		plain = append(plain[:dataplane.VnetHdrLen+12], plain[dataplane.VnetHdrLen+16:]...)
		if _, err := vmt.Write([][]byte{plain, plain}); err != nil {
			t.Fatal(err)
		}
		if got := countRaw(peer10, 0xd6, 300*time.Millisecond) + countRaw(vm10, 0xd6, 100*time.Millisecond); got != 0 {
			t.Errorf("untagged frames from the trunk VM (no native VLAN) reached peer10 or vm10 %d times", got)
		}
		nstest.Eventually(t, 3*time.Second, func() error {
			if n := vlanState(t, d).Counters["vnic_dropped_untagged"] - before["vnic_dropped_untagged"]; n != 2 {
				return fmt.Errorf("vnic_dropped_untagged +%d, want +2", n)
			}
			return nil
		})
		// An access vnic drops what comes tagged from its VM.
		var vm10p *afpacket.Port
		if err := tp.vm10.Do(func() (err error) { vm10p, err = afpacket.Open("eth0", afpacket.Options{}); return err }); err != nil {
			t.Fatal(err)
		}
		defer vm10p.Close()
		vmMAC, _ := net.ParseMAC(vlanVMMAC)
		if _, err := vm10p.Write([][]byte{taggedFrame(bcast, [6]byte(vmMAC), 20, 0, etype, 0xd5), taggedFrame(bcast, [6]byte(vmMAC), 20, 0, etype, 0xd5)}); err != nil {
			t.Fatal(err)
		}
		if got := countRaw(peer20, 0xd5, 300*time.Millisecond); got != 0 {
			t.Errorf("peer20 received %d frames vm10 sent tagged 20", got)
		}
		nstest.Eventually(t, 3*time.Second, func() error {
			if n := vlanState(t, d).Counters["vnic_dropped_vlan"] - before["vnic_dropped_vlan"]; n != 5 {
				return fmt.Errorf("vnic_dropped_vlan +%d, want +5 (3 from vm3, 2 tagged from access vm1)", n)
			}
			return nil
		})
	})

	t.Run("TCP on a tagged path", func(t *testing.T) {
		// The VM's veth keeps its default offloads: super-frames with
		// partial checksums get a tag pushed on their way to a member.
		tcpChecks(t, tp)
	})
}

// tcpChecks runs iperf3 both ways between vm10 and peer10.
func tcpChecks(t *testing.T, tp *vlanTopo) {
	{
		nstest.RequireTool(t, "iperf3")
		for _, c := range []struct {
			name     string
			from, to *nstest.NS
			args     []string
		}{
			{"vm10 to peer10", tp.vm10, tp.peer10, nil},
			{"peer10 to vm10", tp.vm10, tp.peer10, []string{"-R"}},
		} {
			srv := c.to.StartProc(t, "iperf3", "-s", "-1", "-B", "10.77.0.2")
			time.Sleep(300 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			out, err := c.from.CommandContext(ctx, "iperf3", append([]string{"-c", "10.77.0.2", "-t", "3", "-J"}, c.args...)...).Output()
			cancel()
			_ = srv.Wait(5 * time.Second)
			if err != nil {
				t.Fatalf("%s: iperf3: %v\n%s", c.name, err, out)
			}
			var res struct {
				End struct {
					SumReceived struct {
						Bytes         float64 `json:"bytes"`
						BitsPerSecond float64 `json:"bits_per_second"`
					} `json:"sum_received"`
					SumSent struct {
						Retransmits int `json:"retransmits"`
					} `json:"sum_sent"`
				} `json:"end"`
				Intervals []struct {
					Sum struct {
						Bytes float64 `json:"bytes"`
					} `json:"sum"`
				} `json:"intervals"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%s: iperf3 JSON: %v", c.name, err)
			}
			t.Logf("%s (tagged 10 on the members): %.2f Gbit/s, %d retransmits", c.name, res.End.SumReceived.BitsPerSecond/1e9, res.End.SumSent.Retransmits)
			// No stall: data moved in every interval.
			for i, iv := range res.Intervals {
				if iv.Sum.Bytes == 0 {
					t.Errorf("%s: interval %d moved nothing", c.name, i)
				}
			}
			if res.End.SumReceived.Bytes < 1e6 {
				t.Errorf("%s: %.0f bytes received", c.name, res.End.SumReceived.Bytes)
			}
		}
	}
}

// taggedFrame builds a minimum-size frame tagged with vid and the PCP
// bits pcp (already shifted), with a virtio-net header for an AF_PACKET
// port; byte 14 of the untagged frame, the mark, is what countRaw reads.
func taggedFrame(dst, src [6]byte, vid, pcp uint16, etype uint16, mark byte) []byte {
	f := make([]byte, dataplane.VnetHdrLen+64)
	e := dataplane.Eth(f)
	copy(e, dst[:])
	copy(e[6:], src[:])
	binary.BigEndian.PutUint16(e[12:], 0x8100)
	binary.BigEndian.PutUint16(e[14:], pcp|vid)
	binary.BigEndian.PutUint16(e[16:], etype)
	e[18] = mark
	return f
}

// readTagged reads from p until it has n frames marked mark (after a
// tag) and returns their VLAN ids (0 for an untagged one).
func readTagged(t *testing.T, p *afpacket.Port, mark byte, n int) []uint16 {
	t.Helper()
	frames := make([][]byte, dataplane.BatchSize)
	for i := range frames {
		frames[i] = make([]byte, dataplane.MaxFrame)
	}
	sizes := make([]int, len(frames))
	var vids []uint16
	wd := time.AfterFunc(3*time.Second, func() { p.Close() })
	defer wd.Stop()
	for len(vids) < n {
		m, err := p.Read(frames, sizes)
		if err != nil {
			t.Fatalf("got %d of %d frames: %v", len(vids), n, err)
		}
		for i := range m {
			e := dataplane.Eth(frames[i][:sizes[i]])
			switch {
			case len(e) > 18 && binary.BigEndian.Uint16(e[12:]) == 0x8100 && binary.BigEndian.Uint16(e[16:]) == 0x88b5 && e[18] == mark:
				vids = append(vids, binary.BigEndian.Uint16(e[14:])&0xfff)
			case len(e) > 14 && binary.BigEndian.Uint16(e[12:]) == 0x88b5 && e[14] == mark:
				vids = append(vids, 0)
			}
		}
	}
	return vids
}

// vlanStateView is the part of ctl state the VLAN checks read, decoded
// by JSON name.
type vlanStateView struct {
	Counters map[string]uint64 `json:"counters"`
	FDB      []struct {
		VLAN uint16 `json:"vlan"`
		MAC  string `json:"mac"`
		VNIC string `json:"vnic"`
	} `json:"fdb"`
	VNICs []struct {
		Name        string `json:"name"`
		DroppedVLAN uint64 `json:"dropped_vlan"`
	} `json:"vnics"`
}

func vlanState(t *testing.T, d *daemon) vlanStateView {
	t.Helper()
	raw, err := d.h.StateJSON(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var v vlanStateView
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode ctl state: %v", err)
	}
	return v
}
