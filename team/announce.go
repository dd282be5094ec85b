package team

import (
	"encoding/binary"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
)

// announceRepeat is when an announcement is sent a second time, in case
// the first was lost while the switch was still reconverging.
const announceRepeat = 200 * time.Millisecond

// announce tells the physical switch that v's MACs now live behind
// member m: for each MAC a RARP frame (as hypervisors announce a migrated
// VM), when its IPv4 address is known a gratuitous ARP, and an
// unsolicited neighbour advertisement for each IPv6 address it is known
// to speak for (as bonding's num_unsol_na). Only in
// switch-independent mode: a LAG is one port to the switch. Control
// goroutine; the repetition is deferred work of the control goroutine.
func (t *Team) announce(v *vnic, m *member) {
	if t.mode != modeSwitchIndependent || m == nil || v == nil {
		return
	}
	keys := t.fdb.owned(v.id)
	if len(keys) == 0 {
		return
	}
	frames := make([][]byte, 0, 2*len(keys))
	for _, k := range keys {
		first := len(frames)
		frames = append(frames, rarpAnnounce(k.mac))
		if e := t.fdb.entry(k); e != nil {
			if ip := e.ipv4.Load(); ip != 0 {
				frames = append(frames, gratuitousARP(k.mac, ip))
			}
			for _, ip := range e.ipv6.addrs() {
				frames = append(frames, unsolicitedNA(k.mac, ip.As16()))
			}
		}
		if k.vlan != 0 {
			// The MAC lives on a VLAN: the switch learns it there.
			for i := first; i < len(frames); i++ {
				frames[i], _ = frame.PushTag(frames[i], k.vlan)
			}
		}
	}
	m.write(frames)
	t.c.announcements.Add(uint64(len(frames)))
	vid, mid := v.id, m.id
	t.after(announceRepeat, func() {
		if t.homes[vid] != mid || t.memberByID(mid) != m {
			return
		}
		m.write(frames)
		t.c.announcements.Add(uint64(len(frames)))
	})
}

// rarpAnnounce builds a broadcast RARP request from mac (virtio header
// included), the frame QEMU and Hyper-V send to make switches relearn.
func rarpAnnounce(mac frame.MAC) []byte {
	return neigh.AppendRARP(newControlFrame(), mac)
}

// gratuitousARP builds a broadcast gratuitous ARP for ip from mac
// (virtio header included).
func gratuitousARP(mac frame.MAC, ip uint32) []byte {
	return neigh.AppendGratuitous(newControlFrame(), mac, ipv4(ip))
}

// unsolicitedNA builds an unsolicited neighbour advertisement for ip
// from mac to all nodes (virtio header included), with the override flag:
// neighbours that cache ip update it to mac, and the switch learns mac
// on the port it arrives from (RFC 4861 7.2.6).
func unsolicitedNA(mac frame.MAC, ip [16]byte) []byte {
	return neigh.AppendUnsolicitedNA(newControlFrame(), mac, ip, neigh.FlagOverride)
}

// newControlFrame returns a zero virtio-net header with room for one
// neigh frame (ARP or neighbour discovery) after it. The team's own frames are rare (announcements,
// arp_ping probes) and outlive the call that builds them, so each gets
// its own buffer.
func newControlFrame() []byte {
	return make([]byte, dataplane.VnetHdrLen, dataplane.VnetHdrLen+max(neigh.FrameLen, neigh.NDFrameLen)+frame.TagLen)
}

// ipv4 turns the uint32 form the fdb keeps into address bytes.
func ipv4(ip uint32) [4]byte {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], ip)
	return a
}
