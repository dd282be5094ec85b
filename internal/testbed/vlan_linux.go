//go:build linux

package testbed

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// PushVLAN tags every frame the stack sends on dev with the VLAN tag
// (tpid, tci) held beside the frame, not in it: the tag an skb carries
// when a VLAN device or a VLAN-filtering bridge sends on a device with
// tx-vlan-offload, and which a veth peer then receives out of band. A
// tcx egress program calling bpf_skb_vlan_push does it, so it works on
// kernels without 802.1Q devices too; frames sent with
// PACKET_QDISC_BYPASS or from an AF_XDP socket skip it. Close removes it.
func (ns *NS) PushVLAN(dev string, tpid, tci uint16) (io.Closer, error) {
	// bpf_skb_vlan_push takes the TPID in network byte order.
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], tpid)
	return ns.tcx(dev, ebpf.AttachTCXEgress, asm.Instructions{
		asm.Mov.Imm(asm.R2, int32(binary.NativeEndian.Uint16(b[:]))),
		asm.Mov.Imm(asm.R3, int32(tci)),
		asm.FnSkbVlanPush.Call(), // R1 is still the skb
		asm.Mov.Imm(asm.R0, 0),   // TCX_PASS
		asm.Return(),
	})
}

// PopVLAN takes the outer VLAN tag off every frame dev receives, before
// the stack (or a bridge) sees it: with PushVLAN on the same device, the
// device is an endpoint of one VLAN, as an 802.1Q device on it would be.
// Close removes it.
func (ns *NS) PopVLAN(dev string) (io.Closer, error) {
	return ns.tcx(dev, ebpf.AttachTCXIngress, asm.Instructions{
		asm.FnSkbVlanPop.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	})
}

// tcx loads insns as a tc program and attaches it to dev in ns.
func (ns *NS) tcx(dev string, at ebpf.AttachType, insns asm.Instructions) (io.Closer, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SchedCLS, Instructions: insns, License: "Dual BSD/GPL"})
	if err != nil {
		return nil, fmt.Errorf("load vlan program for %s: %w", dev, err)
	}
	var l link.Link
	err = ns.Do(func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		l, err = link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: prog, Attach: at})
		return err
	})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("attach vlan program to %s in %s: %w", dev, ns.Name, err)
	}
	return tcxProg{prog, l}, nil
}

type tcxProg struct {
	prog *ebpf.Program
	link link.Link
}

func (p tcxProg) Close() error {
	err := p.link.Close()
	if e := p.prog.Close(); err == nil {
		err = e
	}
	return err
}
