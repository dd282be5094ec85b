package team

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/dataplane/neigh"
	"github.com/teamd-go/teamd-go/team/config"
)

// Receive-side MAC translation (rx_translation), as the Broadcom team of
// the stale-mac bug (docs/bugs.md) does it: the physical network sees
// only the team's MAC.
// Frames from VMs leave with the team MAC as source (and as ARP sender,
// and in the link-layer address options of their neighbour
// solicitations and advertisements); the team answers ARP for its VMs'
// IPv4 addresses and neighbour solicitations for their IPv6 ones with
// the team MAC; a frame arriving for the team MAC is readdressed to the
// VM that holds its destination IP, found in a table IP -> VM MAC. The
// table holds both families: a key is 16 bytes, an IPv4 address in its
// IPv4-mapped form, as in frame.Key.
//
// How that table is kept is the whole bug:
//   - learn: continuous updates a binding from every frame a VM sends
//     (IPv4 or IPv6 source, ARP sender, NA target), forgets a vnic's bindings when its link
//     goes down or it is detached, and ages bindings out;
//   - learn: init keeps the first binding it saw for an IP for ever, like
//     a driver that reads its VMs' MACs only when it starts: a VM that
//     comes back with a new MAC is still addressed at its old one, until
//     the team is toggled (Toggle, or all members down and up), which
//     rebuilds the table from what the switch knows now.

// xlatKey is what the translation table is keyed by: an address (16
// bytes, IPv4 mapped) on a VLAN (0 untagged, as fdbKey). The same IP on
// two VLANs is two bindings: the VLANs are separate networks.
type xlatKey struct {
	vlan uint16
	ip   [16]byte
}

type xlatEntry struct {
	mac      frame.MAC
	vnic     int
	lastSeen atomic.Int64
}

type xlat struct {
	teamMAC    frame.MAC
	continuous bool
	ageTime    time.Duration

	table atomic.Pointer[map[xlatKey]*xlatEntry]
	mu    sync.Mutex // writers
}

func newXlat(teamMAC frame.MAC, rc config.RxTranslation) *xlat {
	x := &xlat{teamMAC: teamMAC, continuous: rc.Learn != config.LearnInit, ageTime: rc.AgeTime}
	if x.ageTime <= 0 {
		x.ageTime = config.DefaultRxAgeTime
	}
	m := map[xlatKey]*xlatEntry{}
	x.table.Store(&m)
	return x
}

func (x *xlat) lookup(k xlatKey) (frame.MAC, bool) {
	if e, ok := (*x.table.Load())[k]; ok {
		return e.mac, true
	}
	return frame.MAC{}, false
}

// learn records that vnic's mac speaks for k.ip on VLAN k.vlan. It
// reports whether the IP is new to the table on the VLAN (then the team
// announces it).
func (x *xlat) learn(k xlatKey, mac frame.MAC, vnic int, now int64) bool {
	if !bindable(k.ip) || mac.IsMulticast() {
		return false
	}
	e, ok := (*x.table.Load())[k]
	if ok && (e.mac == mac && e.vnic == vnic || !x.continuous) {
		if x.continuous && now-e.lastSeen.Load() > fdbRefresh {
			e.lastSeen.Store(now)
		}
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	old := *x.table.Load()
	m := make(map[xlatKey]*xlatEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	ne := &xlatEntry{mac: mac, vnic: vnic}
	ne.lastSeen.Store(now)
	m[k] = ne
	x.table.Store(&m)
	return !ok
}

// replace swaps in a whole new table (toggle).
func (x *xlat) replace(m map[xlatKey]*xlatEntry) {
	x.mu.Lock()
	x.table.Store(&m)
	x.mu.Unlock()
}

// drop removes the entries for which gone returns true.
func (x *xlat) drop(gone func(e *xlatEntry) bool) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	old := *x.table.Load()
	m := make(map[xlatKey]*xlatEntry, len(old))
	for k, v := range old {
		if !gone(v) {
			m[k] = v
		}
	}
	x.table.Store(&m)
	return len(old) - len(m)
}

// XlatEntry is one binding of the translation table in State.
type XlatEntry struct {
	// VLAN is the binding's VLAN (absent: untagged).
	VLAN int    `json:"vlan,omitempty"`
	IP   string `json:"ip"`
	MAC  string `json:"mac"`
	VNIC string `json:"vnic"`
	Age  string `json:"age"`
}

// XlatState is the rx_translation part of State.
type XlatState struct {
	TeamMAC string      `json:"team_mac"`
	Learn   string      `json:"learn"`
	Table   []XlatEntry `json:"table"`
}

func (t *Team) xlatState() *XlatState {
	x := t.xlat
	if x == nil {
		return nil
	}
	st := &XlatState{TeamMAC: x.teamMAC.String(), Learn: t.cfg.RxTranslation.Learn, Table: []XlatEntry{}}
	now := t.now()
	for k, e := range *x.table.Load() {
		name := ""
		if e.vnic < len(t.vnics) && t.vnics[e.vnic] != nil {
			name = t.vnics[e.vnic].name
		}
		st.Table = append(st.Table, XlatEntry{
			VLAN: int(k.vlan), IP: netip.AddrFrom16(k.ip).Unmap().String(), MAC: e.mac.String(), VNIC: name,
			Age: time.Duration(now - e.lastSeen.Load()).Round(time.Second).String(),
		})
	}
	slices.SortFunc(st.Table, func(a, b XlatEntry) int {
		if a.VLAN != b.VLAN {
			return a.VLAN - b.VLAN
		}
		return netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP))
	})
	return st
}

// rebuildXlat re-reads the table from the switch's own knowledge:
// each MAC a vnic owns with the IPv4 address it last spoke for and the
// IPv6 addresses it speaks for. This is what toggling the team does (and
// what learn: init does only then).
func (t *Team) rebuildXlat(why string) {
	x := t.xlat
	if x == nil {
		return
	}
	m := map[xlatKey]*xlatEntry{}
	now := t.now()
	for k, e := range *t.fdb.table.Load() {
		mac := k.mac
		if e.static {
			continue
		}
		var ips [][16]byte
		if ip := e.ipv4.Load(); ip != 0 {
			ips = append(ips, mapped4(ipv4(ip)))
		}
		for _, a := range e.ipv6.addrs() {
			ips = append(ips, a.As16())
		}
		for _, a := range ips {
			xk := xlatKey{k.vlan, a}
			if prev, ok := m[xk]; ok && prev.lastSeen.Load() >= e.lastSeen.Load() {
				continue
			}
			ne := &xlatEntry{mac: mac, vnic: e.vnic}
			ne.lastSeen.Store(max(e.lastSeen.Load(), now-int64(x.ageTime)/2))
			m[xk] = ne
		}
	}
	x.replace(m)
	t.log.Info("rx_translation table re-read", "reason", why, "entries", len(m))
}

// Toggle is `teamd-go ctl toggle`: what disabling and re-enabling the
// team adapter does in the stale-mac bug (docs/bugs.md). The translation
// table is re-read.
func (t *Team) Toggle() error {
	return t.do(func() error {
		t.rebuildXlat("toggle")
		return nil
	})
}

// tx applies translation to a frame of VLAN vid leaving the team: learns
// the binding on the VLAN and puts the team MAC in the source field (and the ARP sender,
// and the link-layer address options of a neighbour solicitation or
// advertisement, whose checksum is fixed). It reports whether the IP
// (16 bytes, IPv4 mapped) was new, to be announced.
func (x *xlat) tx(f *frame.Frame, eth []byte, vid uint16, vnic int, now int64) (newIP [16]byte, isNew bool) {
	ip := txAddr(f, eth)
	isNew = x.learn(xlatKey{vid, ip}, f.Src, vnic, now)
	if nd := untaggedND(f, eth); nd != nil && nd.Type() == neigh.TypeNeighborAdvertisement && nd.Target() != ip {
		// An NA for another of the VM's addresses than its source.
		if x.learn(xlatKey{vid, nd.Target()}, f.Src, vnic, now) && !isNew {
			ip, isNew = nd.Target(), true
		}
	}
	copy(eth[6:12], x.teamMAC[:])
	if arp := untaggedARP(f, eth); arp != nil {
		arp.SetSenderMAC(x.teamMAC)
	}
	if nd := untaggedND(f, eth); nd != nil {
		nd.SetSourceLinkAddr(x.teamMAC)
		nd.SetTargetLinkAddr(x.teamMAC)
	}
	return ip, isNew
}

// txAddr returns the address a frame a VM sends speaks for (16 bytes,
// IPv4 mapped; zero if none): the ARP sender, or the IP source.
func txAddr(f *frame.Frame, eth []byte) [16]byte {
	switch {
	case untaggedARP(f, eth) != nil:
		return mapped4(untaggedARP(f, eth).SenderIP())
	case (f.EtherType == frame.EtherTypeIPv4 || f.EtherType == frame.EtherTypeIPv6) && f.HasIP:
		return f.SrcIP
	}
	return [16]byte{}
}

// bindable reports whether rx_translation binds ip (16 bytes, IPv4
// mapped) to a VM: an IPv4 address other than 0.0.0.0, or an IPv6 one
// that names a host (learnableIPv6).
func bindable(ip [16]byte) bool {
	if a, ok := frame.IPv4(ip); ok {
		return a != [4]byte{}
	}
	return learnableIPv6(ip)
}

// mapped4 returns the IPv4-mapped form of an IPv4 address, the key of
// the translation table (and frame.Key's form).
func mapped4(a [4]byte) [16]byte {
	return [16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}
}

// untaggedND returns the neighbour solicitation or advertisement of a
// frame with at most one 802.1Q tag, or nil (the name is from before
// VLANs: the team answers on the frame's VLAN now, tagged as it came).
func untaggedND(f *frame.Frame, eth []byte) neigh.ND {
	if !f.ND || !oneTag(f, eth) {
		return nil
	}
	return neigh.ND(eth[f.L3:])
}

// ndReply builds, into b (cap >= VnetHdrLen+neigh.NDFrameLen), the
// team's answer to the neighbour solicitation ns from solicitor: the
// target is at the team MAC (solicited and override flags, target
// link-layer option the team MAC).
func (x *xlat) ndReply(b []byte, ns neigh.ND, solicitor frame.MAC) []byte {
	b = b[:dataplane.VnetHdrLen]
	clear(b)
	return neigh.AppendNA(b, x.teamMAC, ns, solicitor, neigh.FlagOverride)
}

// untaggedARP returns the ARP packet of an ARP frame with at most one
// 802.1Q tag, or nil. The team learns and answers ARP on the frame's
// VLAN (its answers carry the same tag); stacked tags (QinQ) it leaves
// alone.
func untaggedARP(f *frame.Frame, eth []byte) neigh.ARP {
	if !f.ARP || !oneTag(f, eth) {
		return nil
	}
	return neigh.ARP(eth[f.L3:])
}

// oneTag reports whether the frame is untagged or has one 802.1Q tag
// (its network header right after it).
func oneTag(f *frame.Frame, eth []byte) bool {
	if !f.Tagged {
		return true
	}
	_, tagged := frame.VLANTag(eth)
	return tagged && f.L3 == 14+frame.TagLen
}

// arpReply builds, into b (cap >= VnetHdrLen+neigh.FrameLen), the
// team's answer to the ARP request req: the IP asked for is at the team
// MAC.
func (x *xlat) arpReply(b []byte, req neigh.ARP) []byte {
	b = b[:dataplane.VnetHdrLen]
	clear(b)
	return neigh.AppendReply(b, x.teamMAC, req)
}

// setRxTranslation turns rx_translation on, off or to new settings
// (control goroutine). The team MAC stays what it was, else it is the
// first member's.
func (t *Team) setRxTranslation(rc config.RxTranslation) {
	t.cfg.RxTranslation = rc
	t.changed("rx_translation")
	if !rc.Enabled {
		t.xlat = nil
		return
	}
	var teamMAC frame.MAC
	if t.xlat != nil {
		teamMAC = t.xlat.teamMAC
	} else if len(t.members) > 0 {
		teamMAC = t.members[0].mac
	}
	t.xlat = newXlat(teamMAC, rc)
	t.rebuildXlat("start")
	t.log.Info("rx_translation on", "team_mac", teamMAC, "learn", rc.Learn)
}
