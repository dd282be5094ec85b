package team

import (
	"encoding/binary"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// announceRepeat is when an announcement is sent a second time, in case
// the first was lost while the switch was still reconverging.
const announceRepeat = 200 * time.Millisecond

// announceLocked tells the physical switch that v's MACs now live behind
// member m: for each MAC a RARP frame (as hypervisors announce a migrated
// VM) and, when its IPv4 address is known, a gratuitous ARP. Only in
// switch-independent mode: a LAG is one port to the switch.
func (t *Team) announceLocked(v *vnic, m *member) {
	if t.mode != modeSwitchIndependent || m == nil || v == nil {
		return
	}
	macs := t.fdb.owned(v.id)
	if len(macs) == 0 {
		return
	}
	frames := make([][]byte, 0, 2*len(macs))
	for _, mac := range macs {
		frames = append(frames, rarpAnnounce(mac))
		if e := t.fdb.entry(mac); e != nil {
			if ip := e.ipv4.Load(); ip != 0 {
				frames = append(frames, gratuitousARP(mac, ip))
			}
		}
	}
	m.write(frames)
	t.c.announcements.Add(uint64(len(frames)))
	vid, mid := v.id, m.id
	time.AfterFunc(announceRepeat, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.closed || t.homes[vid] != mid {
			return
		}
		m.write(frames)
		t.c.announcements.Add(uint64(len(frames)))
	})
}

// rarpAnnounce builds a broadcast RARP request from mac (virtio header
// included), the frame QEMU and Hyper-V send to make switches relearn.
func rarpAnnounce(mac frame.MAC) []byte {
	return arpFrame(frame.EtherTypeRARP, 3, mac, 0)
}

// gratuitousARP builds a broadcast ARP request for ip from mac.
func gratuitousARP(mac frame.MAC, ip uint32) []byte {
	return arpFrame(frame.EtherTypeARP, 1, mac, ip)
}

func arpFrame(ethertype, op uint16, mac frame.MAC, ip uint32) []byte {
	b := make([]byte, dataplane.VnetHdrLen+60)
	e := b[dataplane.VnetHdrLen:]
	copy(e[0:6], frame.Broadcast[:])
	copy(e[6:12], mac[:])
	binary.BigEndian.PutUint16(e[12:], ethertype)
	binary.BigEndian.PutUint16(e[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(e[16:], 0x0800) // IPv4
	e[18], e[19] = 6, 4
	binary.BigEndian.PutUint16(e[20:], op)
	copy(e[22:28], mac[:])
	binary.BigEndian.PutUint32(e[28:], ip)
	if ethertype == frame.EtherTypeRARP {
		copy(e[32:38], mac[:])
	}
	binary.BigEndian.PutUint32(e[38:], ip)
	return b
}
