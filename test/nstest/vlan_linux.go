//go:build linux

package nstest

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// PushVLAN tags every frame that the stack sends on dev in ns with the
// VLAN tag (tpid, tci) held beside the frame, not in it: the tag an skb
// carries when a VLAN device or a VLAN-filtering bridge sends on a device
// with tx-vlan-offload, which a veth peer then receives out of band. A
// tcx egress program calling bpf_skb_vlan_push does it (kernels without
// 802.1Q devices have it too); frames sent with PACKET_QDISC_BYPASS or
// from an AF_XDP socket skip it. Removed at the end of the test.
func PushVLAN(t testing.TB, ns *NS, dev string, tpid, tci uint16) {
	t.Helper()
	// bpf_skb_vlan_push takes the TPID in network byte order.
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], tpid)
	be := binary.NativeEndian.Uint16(b[:])
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.SchedCLS,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R2, int32(be)),
			asm.Mov.Imm(asm.R3, int32(tci)),
			asm.FnSkbVlanPush.Call(), // R1 is still the skb
			asm.Mov.Imm(asm.R0, 0),   // TCX_PASS
			asm.Return(),
		},
		License: "Dual BSD/GPL",
	})
	if err != nil {
		t.Fatalf("load vlan push program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	var l link.Link
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		l, err = link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: prog, Attach: ebpf.AttachTCXEgress})
		return err
	}); err != nil {
		t.Fatalf("attach vlan push program to %s: %v", dev, err)
	}
	t.Cleanup(func() { l.Close() })
}
