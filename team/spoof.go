package team

import (
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// sourcePolicy is what a vnic may send from (fdb.go: ownership), read by
// its goroutine per frame, set by the control path.
type sourcePolicy struct {
	// locked: the vnic has pinned MACs and no mac_spoofing; any other
	// source is dropped.
	locked atomic.Bool
	// spoofed and learnRefused are the vnic's counters (State).
	spoofed      atomic.Uint64
	learnRefused atomic.Uint64
	// droppedVLAN counts the vnic's frames dropped for their VLAN
	// (vnic_dropped_vlan and vnic_dropped_untagged).
	droppedVLAN atomic.Uint64
	// pins are the vnic's pinned MACs: with locked, a transparent vnic
	// may send from them on any VLAN (its static entries are on
	// VLAN 0 only).
	pins atomic.Pointer[[]frame.MAC]
	// logged is when a spoofed frame was last logged (+1; 0 never).
	logged atomic.Int64
}

// spoofLogEvery rate-limits the log of spoofed frames, per vnic.
const spoofLogEvery = int64(10 * time.Second)

// ErrMACPinned means an operation would change a MAC that the
// configuration pins to a vnic.
var ErrMACPinned = errors.New("MAC pinned by the configuration")

// pinnedMACs are the MACs a vnic owns by configuration: a TAP's own MAC
// and its macs list.
func (v *vnic) pinnedMACs() []frame.MAC {
	var out []frame.MAC
	if v.cfg.TAP && !v.mac.IsZero() {
		out = append(out, v.mac)
	}
	for _, s := range v.cfg.MACs {
		if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 {
			out = append(out, frame.MAC(hw))
		}
	}
	return out
}

// pin applies v.cfg's pinned MACs and mac_spoofing: the pinned
// MACs become v's static entries (moved from whoever had them: the
// configuration is the operator's word), other static entries of v go.
func (t *Team) pin(v *vnic) {
	var keys []fdbKey
	pins := v.pinnedMACs()
	for _, vid := range v.vlan.vlans() {
		for _, mac := range pins {
			keys = append(keys, fdbKey{vid, mac})
		}
	}
	t.fdb.pin(v.id, keys, t.now())
	v.src.pins.Store(&pins)
	v.src.locked.Store(len(v.cfg.MACs) > 0 && !v.cfg.MACSpoofing)
}

// repin gives a kept vnic the macs and mac_spoofing of vc (a
// reload that changed only those): no port is reopened.
func (t *Team) repin(vc config.VNIC) {
	if v := t.vnicNamed(vc.Name); v != nil {
		v.cfg.MACs, v.cfg.MACSpoofing = vc.MACs, vc.MACSpoofing
		t.pin(v)
		t.changed("vnic " + v.name + " pinned")
		t.log.Info("vnic MACs pinned", "vnic", v.name, "macs", vc.MACs, "mac_spoofing", vc.MACSpoofing)
	}
}

// spoofed counts (and now and then logs) a frame the vnic sent from a
// source it may not use; the frame is dropped.
func (w *vnicForwarder) spoofed(s *snapshot, src fdbKey, now int64) {
	t, v := w.t, w.v
	n := v.src.spoofed.Add(1)
	if l := v.src.logged.Load(); (l == 0 || now-(l-1) >= spoofLogEvery) && v.src.logged.CompareAndSwap(l, now+1) {
		owner := "none (this vnic may send only from its pinned macs)"
		if o := t.fdb.lookup(src); o >= 0 && o < len(s.vnics) && s.vnics[o] != nil {
			owner = s.vnics[o].name
		}
		t.log.Warn("vnic sends from a MAC it does not own; frames dropped",
			"vnic", v.name, "mac", src.mac, "vlan", src.vlan, "owner", owner, "dropped_spoofed", n)
	}
}

// ForgetMAC removes a learned MAC from the switch (`ctl mac forget`), on
// every VLAN: the next vnic that sends from it owns it. A MAC pinned on
// any VLAN is refused, and then nothing is forgotten.
func (t *Team) ForgetMAC(mac frame.MAC) error {
	return t.do(func() error {
		keys := t.fdb.entries(mac)
		if len(keys) == 0 {
			return fmt.Errorf("MAC %s: no vnic owns it", mac)
		}
		for _, k := range keys {
			if e := t.fdb.entry(k); e != nil && e.static {
				name := ""
				if e.vnic < len(t.vnics) && t.vnics[e.vnic] != nil {
					name = t.vnics[e.vnic].name
				}
				return fmt.Errorf("MAC %s of vnic %q: %w; change the vnic's macs (or mac) in the configuration and reload", mac, name, ErrMACPinned)
			}
		}
		t.fdb.remove(func(k fdbKey, _ *fdbEntry) bool { return k.mac == mac })
		t.log.Info("MAC forgotten by the operator", "mac", mac, "vlans", len(keys))
		return nil
	})
}
