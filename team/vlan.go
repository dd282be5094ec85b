package team

import (
	"fmt"
	"slices"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// VLANs in the virtual switch (docs/contract.md §1.1), as a Linux
// bridge with vlan_filtering or Open vSwitch does them.
//
// Every frame in the switch belongs to one VLAN, its vid: the id of its
// 802.1Q tag as it leaves on a member, 0 for a frame that leaves
// untagged. The members are trunks of every VLAN: a frame of VLAN 10
// always leaves a member tagged 10, and a frame received tagged 10
// belongs to VLAN 10; untagged (and priority-tagged) frames on a member
// are VLAN 0, which only VLAN-transparent vnics are on.
//
// A vnic's vlanPolicy says which VLANs it is on and in which form it
// sends and gets their frames:
//   - no vlan key (a nil policy): transparent, as before VLANs existed.
//     Its frames belong to the VLAN of their tag (0 untagged) and pass
//     as they are; it gets every VLAN's frames as they are on the wire.
//   - access N: on VLAN N only, untagged both ways: its untagged
//     frames get tag N pushed towards the members, frames of N reach it
//     with the tag popped; a frame it sends with a VLAN tag is dropped
//     (vnic_dropped_vlan).
//   - trunk [..] with native N: tagged frames of a listed VLAN pass as
//     they are, other tagged ones are dropped (vnic_dropped_vlan);
//     untagged ones are VLAN N (native), sent to it untagged; without a
//     native VLAN untagged ones are dropped (vnic_dropped_untagged).
//
// A priority tag (VLAN id 0, 802.1Q-2018 6.9.1) counts as untagged: on
// an access or native VLAN its VLAN id is set in place, so the
// priority survives towards the members. Only TPID 0x8100 is a VLAN tag
// (frame.VLANTag): an 802.1ad S-tagged frame is an untagged one here.
//
// Forms: a frame is either in its wire form (tagged with its vid, or
// untagged for VLAN 0) or bare (vid != 0 but no tag: what an access
// vnic sends and gets). A frame going to one place is converted in
// place (frame.PushTag/PopTag); a flood that needs both forms copies
// the frame once into a scratch buffer of the goroutine.

// vlanPolicy is a vnic's VLAN membership, immutable once built; nil is
// transparent.
type vlanPolicy struct {
	access uint16 // the access VLAN, 0 for a trunk
	native uint16 // a trunk's VLAN of untagged frames, 0 none
	on     vlanSet
	cfg    config.VLAN
}

// vlanSet is a set of VLAN ids.
type vlanSet [4096 / 64]uint64

func (s *vlanSet) add(vid uint16)      { s[vid&0xfff/64] |= 1 << (vid % 64) }
func (s *vlanSet) has(vid uint16) bool { return s[vid&0xfff/64]&(1<<(vid%64)) != 0 }
func (s *vlanSet) union(o *vlanSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

// newVLANPolicy builds the policy of a validated vlan: block.
func newVLANPolicy(c config.VLAN) *vlanPolicy {
	if c.IsZero() {
		return nil
	}
	p := &vlanPolicy{access: uint16(c.Access), native: uint16(c.Native), cfg: c}
	p.cfg.Trunk = slices.Clone(c.Trunk)
	if p.access != 0 {
		p.on.add(p.access)
	}
	if p.native != 0 {
		p.on.add(p.native)
	}
	for _, id := range c.Trunk {
		p.on.add(uint16(id))
	}
	return p
}

// vlans lists the VLANs of the policy, ascending ([0] when transparent).
func (p *vlanPolicy) vlans() []uint16 {
	if p == nil {
		return []uint16{0}
	}
	var out []uint16
	for id := uint16(config.MinVLAN); id <= config.MaxVLAN; id++ {
		if p.on.has(id) {
			out = append(out, id)
		}
	}
	return out
}

// vlanIn is what the switch makes of a frame a vnic sent.
type vlanIn uint8

const (
	inWire         vlanIn = iota // in its wire form already (tagged with vid, or vid 0)
	inBare                       // untagged, of VLAN vid != 0: the tag is pushed towards the members
	inPriority                   // priority-tagged, of VLAN vid: the tag's VLAN id is set to vid
	inDropVLAN                   // tagged with a VLAN the vnic is not on
	inDropUntagged               // untagged, from a trunk with no native VLAN
)

// ingress classifies a frame eth (no virtio-net header) from a vnic
// with policy p: its VLAN and its form. The data path and explain share
// it.
func (p *vlanPolicy) ingress(eth []byte) (vid uint16, in vlanIn) {
	tag, tagged := frame.VLANTag(eth)
	if p == nil {
		return tag, inWire
	}
	if tagged && tag != 0 {
		if p.access == 0 && p.on.has(tag) {
			return tag, inWire
		}
		return tag, inDropVLAN
	}
	untagged := p.access
	if untagged == 0 {
		untagged = p.native
	}
	switch {
	case untagged == 0:
		return 0, inDropUntagged
	case tagged:
		return untagged, inPriority
	}
	return untagged, inBare
}

// egress says whether a frame of VLAN vid reaches a vnic with policy p,
// and whether bare (its tag popped) rather than in its wire form.
func (p *vlanPolicy) egress(vid uint16) (deliver, bare bool) {
	switch {
	case p == nil:
		return true, false
	case vid == 0:
		return false, false
	case p.access != 0:
		return vid == p.access, true
	case vid == p.native:
		return true, true
	}
	return p.on.has(vid), false
}

// String describes the policy as ctl explain words it.
func (p *vlanPolicy) String() string {
	switch {
	case p == nil:
		return "VLAN-transparent"
	case p.access != 0:
		return fmt.Sprintf("access VLAN %d", p.access)
	case p.native != 0:
		return fmt.Sprintf("trunk %v, native VLAN %d", p.cfg.Trunk, p.native)
	}
	return fmt.Sprintf("trunk %v, no native VLAN", p.cfg.Trunk)
}

// vlanOf returns the policy of vnic id in the snapshot.
func (s *snapshot) vlanOf(id int) *vlanPolicy {
	if id >= 0 && id < len(s.vlans) {
		return s.vlans[id]
	}
	return nil
}

// onVLAN reports whether any vnic is on VLAN vid: frames from members on
// a VLAN no vnic is on are dropped (rx_dropped_vlan).
func (s *snapshot) onVLAN(vid uint16) bool {
	return s.transparent > 0 || s.vlanUsed.has(vid)
}

// vlanCounts are a batch's tag operations, added to the team's counters
// once per batch.
type vlanCounts struct{ pushed, popped uint64 }

// convert turns fr (virtio-net header and frame) of VLAN vid from bare
// to its wire form or back, in place. It returns the frame, or false if
// it cannot (no room for the tag, or a header the tag cannot move).
func (c *vlanCounts) convert(fr []byte, vid uint16, bare bool) ([]byte, bool) {
	if bare {
		out, ok := frame.PushTag(fr, vid)
		if ok {
			c.pushed++
		}
		return out, ok
	}
	out, _, ok := frame.PopTag(fr)
	if ok {
		c.popped++
	}
	return out, ok
}

func (c *vlanCounts) flush(t *Team) {
	if c.pushed != 0 {
		t.c.vlanPushed.Add(c.pushed)
	}
	if c.popped != 0 {
		t.c.vlanPopped.Add(c.popped)
	}
	*c = vlanCounts{}
}

// shiftOffsets moves a parsed frame's header offsets by d bytes, for a
// frame whose tag was pushed (d = TagLen) or popped (-TagLen) after it
// was parsed.
func shiftOffsets(f *frame.Frame, d int) {
	if f.L3 != 0 {
		f.L3 += d
	}
	if f.L4 != 0 {
		f.L4 += d
	}
}

// scratch holds a goroutine's copies of frames it sends in two forms,
// or rewrites for one destination only: allocated on first use, reused
// for every batch after.
type scratch struct {
	bufs [2 * dataplane.BatchSize][]byte
	n    int
}

// copyOf copies fr into the next scratch buffer (room left for a tag).
func (s *scratch) copyOf(fr []byte) []byte {
	if s.bufs[s.n] == nil {
		s.bufs[s.n] = make([]byte, 0, dataplane.MaxFrame+frame.TagLen)
	}
	b := append(s.bufs[s.n][:0], fr...)
	s.n++
	return b
}

// retag gives a kept vnic the vlan of vc (a reload that changed it): no
// port is reopened, other vnics are untouched. What the vnic learned on
// VLANs it left is forgotten; its pinned MACs move to its new VLANs.
func (t *Team) retag(vc config.VNIC) {
	v := t.vnicNamed(vc.Name)
	if v == nil {
		return
	}
	v.cfg.VLAN = vc.VLAN
	v.vlan = newVLANPolicy(vc.VLAN)
	if t.xlat != nil {
		t.xlat.drop(func(e *xlatEntry) bool { return e.vnic == v.id })
	}
	p := v.vlan
	// Everything it learned goes, not only what it learned on VLANs it
	// left: its frames now belong to other VLANs (an access vnic's
	// untagged frames were VLAN 0 when it was transparent), and it is
	// learned again from its next frame.
	gone := t.fdb.remove(func(_ fdbKey, e *fdbEntry) bool { return e.vnic == v.id && !e.static })
	t.pin(v)
	t.changed("vnic " + v.name + " vlan")
	t.log.Info("vnic VLANs changed", "vnic", v.name, "vlan", p.String(), "forgotten", len(gone))
}
