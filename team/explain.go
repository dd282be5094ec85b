package team

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/team/config"
)

// Explain answers `teamd-go ctl explain`: where would this frame go, and
// why. It walks the data path's own decisions (switchTx, viaHome, the
// vnic's Picker through lb.Peek, rewritesSource, xlat.rxAction,
// arpWatch.isReply, switchRx) in the data path's order, on the current
// snapshot, which is immutable, and it changes nothing: no MAC is
// learned, no flow entry or load is touched, no binding is made, no
// counter moves. So it can never disagree with the data path
// (TestExplainAgreesWithDataPath replays frames through both).
//
// The one thing explain waits for is the vnic forwarder's lock, taken
// once per batch, to peek at the vnic's Picker between two batches.

// Directions of Explain.
const (
	// Transmit: a frame a VM sent on its vnic.
	Transmit = "transmit"
	// Receive: a frame that arrived from the physical switch on a member.
	Receive = "receive"
)

// Verdicts of an Explanation.
const (
	VerdictSent      = "sent"      // leaves on Member (and, flooded, to VNICs)
	VerdictLocal     = "local"     // delivered to VNICs by the virtual switch only
	VerdictDelivered = "delivered" // a received frame, delivered to VNICs
	VerdictAnswered  = "answered"  // consumed and answered by the team (rx_translation ARP)
	VerdictConsumed  = "consumed"  // taken by the team (LACP, arp_ping)
	VerdictDropped   = "dropped"   // nowhere; Counter says which counter counts it
)

// Explanation is the answer of Explain.
type Explanation struct {
	Direction string         `json:"direction"`
	Port      string         `json:"port"`
	Mode      string         `json:"mode"`
	Balance   string         `json:"balance"`
	Frame     ExplainedFrame `json:"frame"`
	// Verdict is what happens to the frame (Verdict* constants); Counter
	// is the team counter the data path bumps for it, if any.
	Verdict string `json:"verdict"`
	Counter string `json:"counter,omitempty"`
	// VNICs are the vnics the frame is delivered to.
	VNICs []string `json:"vnics,omitempty"`
	// Transmit: the member it leaves on, the members that may carry
	// traffic now (the balancer's candidates), the source vnic's home.
	Member     string   `json:"member,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
	Home       string   `json:"home,omitempty"`
	// Hash is set when the balancer hashes flows.
	Hash *ExplainedHash `json:"hash,omitempty"`
	// Flowlet is dynamic's flow table entry.
	Flowlet *ExplainedFlowlet `json:"flowlet,omitempty"`
	// SourceMAC says whether a transmitted frame's source is rewritten.
	SourceMAC *ExplainedRewrite `json:"source_mac,omitempty"`
	// Owner is, on receive, the vnic owning the destination MAC (after
	// rx_translation), and OwnerHome its home member.
	Owner     string `json:"owner,omitempty"`
	OwnerHome string `json:"owner_home,omitempty"`
	// RxTranslation is what rx_translation does with the frame.
	RxTranslation *ExplainedXlat `json:"rx_translation,omitempty"`
	// VLAN is the switch's VLAN decision (vlan.go).
	VLAN *ExplainedVLAN `json:"vlan,omitempty"`
	// Steps are the decisions, in the data path's order, in words.
	Steps []string `json:"steps"`
}

// ExplainedFrame is the frame as the data path parsed it.
type ExplainedFrame struct {
	Len       int    `json:"len"`
	Src       string `json:"src_mac"`
	Dst       string `json:"dst_mac"`
	VLAN      int    `json:"vlan,omitempty"`
	EtherType string `json:"ethertype"`
	SrcIP     string `json:"src_ip,omitempty"`
	DstIP     string `json:"dst_ip,omitempty"`
	Proto     int    `json:"proto,omitempty"`
	SrcPort   int    `json:"src_port,omitempty"`
	DstPort   int    `json:"dst_port,omitempty"`
}

// ExplainedVLAN is the VLAN the switch puts a frame on and what that
// does to its tag.
type ExplainedVLAN struct {
	// ID is the frame's VLAN in the switch (0: untagged, VLAN-transparent
	// vnics only).
	ID int `json:"id"`
	// Port is the sending vnic's VLAN settings, in words (transmit).
	Port string `json:"port,omitempty"`
	// Pushed: the frame came untagged (an access or native VLAN) and
	// its tag is pushed where it goes tagged (the members, trunk
	// vnics); Popped: it came tagged and its tag is popped where it goes
	// untagged. Untagged are the vnics that get it without a tag; every
	// other destination gets it tagged with ID (untagged when ID is 0).
	Pushed   bool     `json:"pushed,omitempty"`
	Popped   bool     `json:"popped,omitempty"`
	Untagged []string `json:"untagged,omitempty"`
}

// form notes that the frame of VLAN vid, bare or not, reaches port
// bare (wantBare) or not.
func (ev *ExplainedVLAN) form(port string, vid uint16, bare, wantBare bool) {
	switch {
	case vid == 0:
	case bare && !wantBare:
		ev.Pushed = true
	case !bare && wantBare:
		ev.Popped = true
	}
	if wantBare && vid != 0 {
		ev.Untagged = append(ev.Untagged, port)
	}
}

// onVLAN words a frame's VLAN after a MAC's owner: " on VLAN 10", or
// nothing for untagged frames.
func onVLAN(vid uint16) string {
	if vid == 0 {
		return ""
	}
	return fmt.Sprintf(" on VLAN %d", vid)
}

// vlanSteps words the tag operations of ev.
func (e *Explanation) vlanSteps(ev *ExplainedVLAN) {
	if ev.Pushed {
		e.step("vlan: tag %d pushed where the frame goes tagged", ev.ID)
	}
	if ev.Popped {
		e.step("vlan: tag %d popped for %v (access, or the trunk's native VLAN)", ev.ID, ev.Untagged)
	}
}

// ExplainedHash is the flow hash a balancer computed.
type ExplainedHash struct {
	Fields string `json:"fields"`
	Value  string `json:"value"`
}

// ExplainedFlowlet is dynamic's flow entry for the frame.
type ExplainedFlowlet struct {
	Slot int `json:"slot"`
	// Member is the entry's member before this frame ("" if free).
	Member string `json:"member,omitempty"`
	// LastFrame is how long ago the entry's last frame left.
	LastFrame string `json:"last_frame,omitempty"`
	Gap       string `json:"gap"`
	MayMove   bool   `json:"may_move"`
	// Loads are the members' load estimates, decayed bytes, by name.
	Loads map[string]float64 `json:"loads"`
}

// ExplainedRewrite says what becomes of a transmitted frame's source MAC.
type ExplainedRewrite struct {
	Rewritten bool   `json:"rewritten"`
	From      string `json:"from"`
	To        string `json:"to,omitempty"`
	Why       string `json:"why"`
}

// ExplainedXlat is rx_translation's part.
type ExplainedXlat struct {
	Action string `json:"action"`
	IP     string `json:"ip,omitempty"`
	// Binding is the MAC the table holds for IP, and BindingVNIC the vnic
	// it was learned on.
	Binding     string `json:"binding,omitempty"`
	BindingVNIC string `json:"binding_vnic,omitempty"`
	Learn       string `json:"learn"`
	TeamMAC     string `json:"team_mac"`
}

// ErrBadDirection is returned by Explain for a direction it does not know.
var ErrBadDirection = fmt.Errorf("direction must be %q or %q", Transmit, Receive)

// Explain explains what the data path does with the Ethernet frame eth
// (no virtio header) sent by vnic port (dir Transmit) or received on
// member port (dir Receive).
func (t *Team) Explain(dir, port string, eth []byte) (*Explanation, error) {
	s := t.snap.Load()
	now := t.now()
	e := &Explanation{Direction: dir, Port: port, Mode: modeName(s.mode), Balance: s.bal.Name(), Steps: []string{}}
	switch dir {
	case Transmit:
		for _, v := range s.vnics {
			if v != nil && v.name == port {
				t.explainTx(s, v, eth, now, e)
				return e, nil
			}
		}
		return nil, fmt.Errorf("vnic %q: %w", port, ErrNoSuchPort)
	case Receive:
		for _, m := range s.members {
			if m != nil && m.name == port {
				t.explainRx(s, m, eth, now, e)
				return e, nil
			}
		}
		return nil, fmt.Errorf("member %q: %w", port, ErrNoSuchPort)
	}
	return nil, fmt.Errorf("explain %q: %w", dir, ErrBadDirection)
}

func modeName(m mode) string {
	switch m {
	case modeStatic:
		return config.ModeStatic
	case modeLACP:
		return config.ModeLACP
	}
	return config.ModeSwitchIndependent
}

func (e *Explanation) step(format string, a ...any) {
	e.Steps = append(e.Steps, fmt.Sprintf(format, a...))
}

func (e *Explanation) drop(counter, format string, a ...any) {
	e.Verdict, e.Counter = VerdictDropped, counter
	e.step("dropped ("+counter+"): "+format, a...)
}

// parse checks and parses eth as the data path does, and reports whether
// the frame goes on (a short frame is counted as malformed by counter).
func (e *Explanation) parse(eth []byte, f *frame.Frame, counter string) bool {
	e.Frame.Len = len(eth)
	if len(eth) < 14 {
		e.drop(counter, "%d bytes, shorter than an Ethernet header", len(eth))
		return false
	}
	_ = frame.Parse(eth, f)
	e.Frame = describeFrame(f, len(eth))
	return true
}

func describeFrame(f *frame.Frame, n int) ExplainedFrame {
	d := ExplainedFrame{Len: n, Src: f.Src.String(), Dst: f.Dst.String(), VLAN: int(f.VLAN),
		EtherType: fmt.Sprintf("%#04x", f.EtherType)}
	if f.HasIP {
		src, dst := netip.AddrFrom16(f.SrcIP), netip.AddrFrom16(f.DstIP)
		d.SrcIP, d.DstIP = src.Unmap().String(), dst.Unmap().String()
		d.Proto = int(f.Proto)
		if f.L4 != 0 {
			d.SrcPort, d.DstPort = int(f.SrcPort), int(f.DstPort)
		}
	}
	return d
}

func (s *snapshot) memberName(id int) string {
	if uint(id) < lb.MaxMembers && s.members[id] != nil {
		return s.members[id].name
	}
	return ""
}

func (s *snapshot) vnicName(id int) string {
	if id >= 0 && id < len(s.vnics) && s.vnics[id] != nil {
		return s.vnics[id].name
	}
	return ""
}

func (t *Team) explainTx(s *snapshot, v *vnic, eth []byte, now int64, e *Explanation) {
	var f frame.Frame
	if !e.parse(eth, &f, "vnic_dropped_malformed") {
		return
	}
	if f.EtherType == frame.EtherTypeSlowProtocol {
		e.drop("vnic_dropped_slow_protocol", "a LACPDU or Marker: a VM never speaks LACP to the physical switch")
		return
	}
	// Source learning, as fdb.learn would do it (nothing is learned here).
	learns := false
	pol := s.vlanOf(v.id)
	vid, in := pol.ingress(eth)
	ev := &ExplainedVLAN{ID: int(vid), Port: pol.String()}
	e.VLAN = ev
	switch in {
	case inDropVLAN:
		e.drop("vnic_dropped_vlan", "tagged with VLAN %d, which %s (%s) is not on", vid, v.name, pol)
		return
	case inDropUntagged:
		e.drop("vnic_dropped_untagged", "untagged, and %s (%s) has no native VLAN for untagged frames", v.name, pol)
		return
	case inBare:
		e.step("vlan: untagged from %s (%s): VLAN %d", v.name, pol, vid)
	case inPriority:
		e.step("vlan: priority-tagged from %s (%s): VLAN %d, set in the tag", v.name, pol, vid)
	default:
		// Untagged from a transparent vnic: no VLAN involved, nothing
		// to say (as before VLANs).
		if vid != 0 {
			e.step("vlan: tagged %d from %s (%s): VLAN %d, passes as it is", vid, v.name, pol, vid)
		}
	}
	if pol != nil {
		f.VLAN = vid // as the data path: what the vlan hash field reads
	}
	bare := in == inBare
	key := fdbKey{vid, f.Src}
	pinnedElsewhere := false
	if p := v.src.pins.Load(); p != nil && pol == nil {
		pinnedElsewhere = slices.Contains(*p, f.Src)
	}
	switch en := t.fdb.entry(key); {
	case en != nil && en.vnic == v.id:
		e.step("source %v: owned by this vnic", f.Src)
	case en != nil:
		e.drop("dropped_spoofed", "source %v is owned by vnic %s: a vnic never sends from another's MAC (spoofing)", f.Src, s.vnicName(en.vnic))
		return
	case v.src.locked.Load() && !pinnedElsewhere:
		e.drop("dropped_spoofed", "source %v is not one of %s's pinned macs, and mac_spoofing is off", f.Src, v.name)
		return
	case f.Src.IsMulticast() || f.Src.IsZero():
		e.step("source %v: a group or zero MAC, not learned", f.Src)
	default:
		learns = true
		e.step("source %v: would be learned on %s", f.Src, v.name)
	}
	owner, flood := switchTx(t.fdb, &f, vid)
	// form notes what reaching vnic id does to the tag, as
	// vnicForwarder.toVNIC and the flood do it.
	form := func(id int) bool {
		deliver, wantBare := s.vlanOf(id).egress(vid)
		if deliver {
			ev.form(s.vnicName(id), vid, bare, wantBare)
		}
		return deliver
	}
	if !flood && f.Dst == f.Src && learns {
		owner = v.id // the data path learns before it switches
	}
	if !flood {
		switch {
		case owner == v.id:
			e.Verdict = VerdictLocal
			e.step("destination %v: the sender's own MAC; sent nowhere", f.Dst)
			return
		case owner >= 0:
			e.Verdict = VerdictLocal
			if form(owner) {
				e.VNICs = []string{s.vnicName(owner)}
			}
			e.step("destination %v: owned by vnic %s%s; delivered by the virtual switch, not sent to the team", f.Dst, s.vnicName(owner), onVLAN(vid))
			e.vlanSteps(ev)
			return
		}
		e.step("destination %v: owned by no vnic%s; out of the team", f.Dst, onVLAN(vid))
	} else {
		for _, o := range s.vnics {
			if o != nil && o.id != v.id && form(o.id) {
				e.VNICs = append(e.VNICs, o.name)
			}
		}
		e.Verdict = VerdictLocal
		e.step("destination %v: a group address; flooded to the other vnics %v and out of the team", f.Dst, e.VNICs)
	}
	ev.form("", vid, bare, false) // the members take every VLAN tagged
	e.vlanSteps(ev)
	if len(s.view.Members) == 0 {
		e.drop("tx_dropped_no_member", "no member may carry traffic")
		return
	}
	home := s.home(v.id)
	e.Home = s.memberName(home)
	for _, id := range s.view.Members {
		e.Candidates = append(e.Candidates, s.memberName(id))
	}
	if home >= 0 {
		e.step("home member of %s: %s", v.name, e.Home)
	} else {
		e.step("%s has no home member", v.name)
	}
	e.step("members that may carry: %v", e.Candidates)
	var m int
	if s.viaHome(&f, home) {
		m = home
		e.step("a group address in switch-independent mode leaves on the home member, with the vnic's MAC")
	} else {
		c := t.peek(s, v, &f, len(eth), now)
		m = c.Member
		if c.Fields != 0 {
			e.Hash = &ExplainedHash{Fields: c.Fields.String(), Value: fmt.Sprintf("%#08x", c.Hash)}
			e.step("hash over %s: %s", e.Hash.Fields, e.Hash.Value)
		}
		if fl := c.Flowlet; fl != nil {
			x := &ExplainedFlowlet{Slot: fl.Slot, Member: s.memberName(fl.Member), Gap: fl.Gap.String(),
				MayMove: fl.MayMove, Loads: map[string]float64{}}
			for i, id := range s.view.Members {
				if i < len(fl.Loads) {
					x.Loads[s.memberName(id)] = fl.Loads[i]
				}
			}
			if fl.Member >= 0 {
				x.LastFrame = fl.Idle.Round(time.Microsecond).String()
				e.step("flowlet: slot %d on %s, last frame %s ago, gap %s: may move now: %v", fl.Slot, x.Member, x.LastFrame, x.Gap, x.MayMove)
			} else {
				e.step("flowlet: slot %d free (a new flow)", fl.Slot)
			}
			e.Flowlet = x
		}
		e.step("balancer %s: %s (%s)", s.bal.Name(), s.memberName(m), c.Reason)
	}
	e.Member = s.memberName(m)
	e.Verdict = VerdictSent
	if x := s.xlat; x != nil {
		t.explainXlatTx(s, x, &f, eth, vid, v, e)
		e.step("leaves on %s", e.Member)
		return
	}
	r := &ExplainedRewrite{From: f.Src.String()}
	switch {
	case s.rewritesSource(&f, m, home):
		r.Rewritten, r.To = true, s.macs[m].String()
		r.Why = fmt.Sprintf("it leaves on %s, not on its home %s: it takes %s's own MAC so the switch never sees one MAC on two ports (replies to it come back to %s's MAC, which no vnic owns)",
			e.Member, e.Home, e.Member, e.Member)
	case home < 0:
		r.Why = "the vnic has no home member"
	case m == home:
		r.Why = "it leaves on its home member"
	case f.Dst.IsMulticast():
		r.Why = "a group address keeps the vnic's MAC"
	default:
		r.Why = "source_mac_rewrite is off for this mode and balancer"
	}
	e.SourceMAC = r
	if r.Rewritten {
		e.step("source MAC rewritten %s -> %s: %s", r.From, r.To, r.Why)
	} else {
		e.step("source MAC kept (%s): %s", r.From, r.Why)
	}
	e.step("leaves on %s", e.Member)
}

// peek asks vnic v's Picker (the one its goroutine uses, between two
// batches) what it would pick; before the vnic's first batch, or after a
// reload swapped the balancer, a new Picker, as the next batch makes.
func (t *Team) peek(s *snapshot, v *vnic, f *frame.Frame, size int, now int64) lb.Choice {
	fw := v.fwd
	fw.mu.Lock()
	defer fw.mu.Unlock()
	p := fw.picker
	if fw.bal != s.bal || p == nil {
		p = s.bal.NewPicker()
	}
	return lb.Peek(p, &s.view, f, v.id, size, now)
}

// explainXlatTx is xlat.tx without its effects.
func (t *Team) explainXlatTx(s *snapshot, x *xlat, f *frame.Frame, eth []byte, vid uint16, v *vnic, e *Explanation) {
	ip := txAddr(f, eth)
	xe := &ExplainedXlat{Action: "source rewritten to the team MAC", Learn: t.learnName(x), TeamMAC: x.teamMAC.String()}
	if bindable(ip) {
		xe.IP = netip.AddrFrom16(ip).Unmap().String()
		how := "gratuitous ARP"
		if _, v4 := frame.IPv4(ip); !v4 {
			how = "unsolicited neighbour advertisement"
		}
		switch b, ok := (*x.table.Load())[xlatKey{vid, ip}]; {
		case f.Src.IsMulticast():
		case !ok:
			e.step("rx_translation: %s is new: bound to %v on %s, and announced by %s from the team MAC", xe.IP, f.Src, v.name, how)
		case b.mac == f.Src && b.vnic == v.id:
			xe.Binding, xe.BindingVNIC = b.mac.String(), v.name
			e.step("rx_translation: %s is bound to %v (this vnic)", xe.IP, b.mac)
		case x.continuous:
			xe.Binding, xe.BindingVNIC = b.mac.String(), s.vnicName(b.vnic)
			e.step("rx_translation: %s was bound to %v; the binding moves to %v on %s (learn: continuous)", xe.IP, b.mac, f.Src, v.name)
		default:
			xe.Binding, xe.BindingVNIC = b.mac.String(), s.vnicName(b.vnic)
			e.step("rx_translation: %s stays bound to %v (learn: init keeps the first binding; frames for %s keep going to %v until a toggle)", xe.IP, b.mac, xe.IP, b.mac)
		}
	}
	e.RxTranslation = xe
	e.SourceMAC = &ExplainedRewrite{Rewritten: true, From: f.Src.String(), To: x.teamMAC.String(),
		Why: "rx_translation: every frame leaves with the team MAC"}
	e.step("source MAC rewritten %s -> %s (rx_translation)", f.Src, x.teamMAC)
}

func (t *Team) learnName(x *xlat) string {
	if x.continuous {
		return config.LearnContinuous
	}
	return config.LearnInit
}

func (t *Team) explainRx(s *snapshot, m *member, eth []byte, now int64, e *Explanation) {
	var f frame.Frame
	if !e.parse(eth, &f, "rx_malformed") {
		return
	}
	if f.EtherType == frame.EtherTypeSlowProtocol {
		e.Verdict, e.Counter = VerdictConsumed, "rx_slow_protocol"
		e.step("a LACPDU or Marker: handed to LACP (dropped without it); never to a vnic")
		return
	}
	if (f.ARP || f.ND) && s.pingw != nil && s.pingw.isReply(s.macs[m.id], &f, eth) {
		e.Verdict = VerdictConsumed
		e.step("an %s answer to %s: taken by the link watcher", s.pingw.name, m.name)
		return
	}
	if !s.collecting[m.id] {
		why := "it does not carry traffic now (link down, link watch failed, or a standby member)"
		if s.mode == modeLACP {
			why = "LACP has not made it collecting (no partner agreement)"
		}
		e.drop("rx_dropped_not_collecting", "%s is not collecting: %s", m.name, why)
		return
	}
	e.step("%s is collecting", m.name)
	rvid, _ := frame.VLANTag(eth)
	ev := &ExplainedVLAN{ID: int(rvid)}
	e.VLAN = ev
	if x := s.xlat; x != nil {
		act, ip, mac := x.rxAction(&f, eth, rvid)
		xe := &ExplainedXlat{Learn: t.learnName(x), TeamMAC: x.teamMAC.String()}
		if ip != ([16]byte{}) {
			xe.IP = netip.AddrFrom16(ip).Unmap().String()
			if b, ok := (*x.table.Load())[xlatKey{rvid, ip}]; ok {
				xe.Binding, xe.BindingVNIC = b.mac.String(), s.vnicName(b.vnic)
			}
		}
		e.RxTranslation = xe
		switch act {
		case xlatPass:
			xe.Action = "pass"
			e.step("rx_translation: not for the team MAC %v, nor an ARP request for a VM's IP: left alone", x.teamMAC)
		case xlatAnswerARP, xlatAnswerND:
			request, counter := "an ARP request", "arp_answered"
			if act == xlatAnswerND {
				request, counter = "a neighbour solicitation", "nd_answered"
			}
			xe.Action = "answer"
			e.Verdict, e.Counter = VerdictAnswered, counter
			e.step("rx_translation: %s for %s (bound to %s): the team answers with the team MAC %v", request, xe.IP, xe.Binding, x.teamMAC)
			if rvid != 0 {
				e.step("vlan: the answer goes out tagged %d, on the request's VLAN", rvid)
			}
			return
		case xlatMiss:
			xe.Action = "miss"
			if xe.IP == "" {
				e.drop("rx_translation_miss", "for the team MAC, but neither IPv4, IPv6 nor ARP: no address to translate")
			} else {
				e.drop("rx_translation_miss", "for the team MAC, but no VM is bound to %s", xe.IP)
			}
			return
		case xlatReaddress:
			xe.Action = "readdress"
			f.Dst = mac
			e.step("rx_translation: for the team MAC; %s is bound to %v (learned on %s, learn: %s): readdressed to %v",
				xe.IP, mac, xe.BindingVNIC, xe.Learn, mac)
			if t.fdb.lookup(fdbKey{0, mac}) < 0 {
				for k, en := range *t.fdb.table.Load() {
					if speaksFor(en, ip) && k.mac != mac {
						e.step("rx_translation: the binding is stale: %s now speaks for %s from %v", s.vnicName(en.vnic), xe.IP, k.mac)
					}
				}
			}
		}
	}
	verdict, owner := s.switchRx(t.fdb, &f, rvid, m.id, now)
	if verdict == rxFlood && s.bcastRx >= 0 {
		if by := t.bcast.deliveredBy(m.id, eth, now); by >= 0 {
			e.drop("rx_dropped_duplicate_broadcast", "a group address that %s delivered less than %s ago: a copy the switch flooded to both members around a move",
				s.memberName(by), time.Duration(bcastWindow))
			return
		}
	}
	switch verdict {
	case rxNoVLAN:
		if rvid == 0 {
			e.drop("rx_dropped_vlan", "untagged, and every vnic is on VLANs (no VLAN-transparent vnic takes untagged frames)")
		} else {
			e.drop("rx_dropped_vlan", "VLAN %d, which no vnic is on", rvid)
		}
	case rxFlood:
		e.Verdict = VerdictDelivered
		for _, v := range s.vnics {
			if v == nil {
				continue
			}
			if deliver, bare := s.vlanOf(v.id).egress(rvid); deliver {
				e.VNICs = append(e.VNICs, v.name)
				ev.form(v.name, rvid, false, bare)
			}
		}
		if rvid != 0 {
			e.step("a group address on VLAN %d: delivered to the vnics on it %v", rvid, e.VNICs)
		} else {
			e.step("a group address: delivered to every vnic %v", e.VNICs)
		}
		e.vlanSteps(ev)
	case rxDupBroadcast:
		e.drop("rx_dropped_duplicate_broadcast", "a group address; the switch floods it to every member and only %s takes them in", s.memberName(s.bcastRx))
	case rxNotOwned:
		for id := range s.members {
			if s.members[id] != nil && s.macs[id] == f.Dst {
				e.drop("rx_dropped_not_owned", "%v is member %s's own MAC, which no vnic owns: a reply to a frame whose source was rewritten to it", f.Dst, s.members[id].name)
				return
			}
		}
		e.drop("rx_dropped_not_owned", "no vnic owns %v", f.Dst)
	case rxWrongMember:
		e.Owner, e.OwnerHome = s.vnicName(owner), s.memberName(s.home(owner))
		e.drop("rx_dropped_wrong_member", "%v is vnic %s's, whose home is %s: the switch learned it there, so a copy on %s is a flood", f.Dst, e.Owner, e.OwnerHome, m.name)
	default:
		e.Owner, e.OwnerHome = s.vnicName(owner), s.memberName(s.home(owner))
		deliver, bare := s.vlanOf(owner).egress(rvid)
		if !deliver {
			e.drop("rx_dropped_vlan", "%v is vnic %s's, which is no longer on VLAN %d", f.Dst, e.Owner, rvid)
			return
		}
		ev.form(e.Owner, rvid, false, bare)
		defer e.vlanSteps(ev)
		e.Verdict, e.VNICs = VerdictDelivered, []string{e.Owner}
		if s.mode == modeSwitchIndependent && e.OwnerHome != "" && s.home(owner) != m.id {
			e.step("%v is vnic %s's; its previous home %s still delivers for %s after a move", f.Dst, e.Owner, m.name, time.Duration(homeGrace))
		} else {
			e.step("%v is vnic %s's: delivered", f.Dst, e.Owner)
		}
	}
}

// speaksFor reports whether the FDB entry's MAC speaks for ip (16 bytes,
// IPv4 mapped), as far as the FDB knows.
func speaksFor(e *fdbEntry, ip [16]byte) bool {
	if a, ok := frame.IPv4(ip); ok {
		return e.ipv4.Load() == binary.BigEndian.Uint32(a[:])
	}
	hi, lo := ip6Words(ip)
	return e.ipv6.find(hi, lo) >= 0
}
