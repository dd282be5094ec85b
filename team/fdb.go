package team

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// The forwarding database maps MAC addresses to the vnic that owns them.
// Lookups happen on every frame and take no lock: the table is an
// immutable map behind an atomic pointer, replaced (copied) when an entry
// is added, moved or removed, which is rare. Entries refresh their
// timestamp with an atomic store at most once a second.
//
// Ownership (anti-spoofing, as Hyper-V's switch): a MAC owned by one vnic
// is never taken over by another vnic's frames. Learning only adds MACs
// nobody owns; the frame of a vnic whose source another vnic owns is
// dropped (vnic_dropped_spoofed). A MAC changes owner when its owner's
// link goes down or the owner is removed (its learned entries go), when
// the entry ages out, when the operator forgets it (`ctl mac forget`), or
// by configuration (vnics[].macs pins, the TAP's mac:). A VM that live
// migrates between vnics therefore takes its MAC along as soon as the old
// vnic's link is down. A pinned (static) entry never moves by learning.

const (
	// fdbMaxEntries bounds the table; a VM flooding source MACs cannot
	// grow it further (refusals are counted).
	fdbMaxEntries = 8192
	// fdbMaxPerVNIC bounds the MACs one vnic may learn. A VM that
	// floods random source MACs fills its share; its own new MAC is
	// then refused (counted per vnic as learn_refused) until the
	// flood's entries age out.
	fdbMaxPerVNIC = config.MaxVNICMACs
	// fdbRefresh is how stale a timestamp may get before a frame
	// refreshes it.
	fdbRefresh = int64(1e9)
)

type fdbEntry struct {
	vnic     int
	static   bool
	lastSeen atomic.Int64
	// ipv4 is the last IPv4 source address seen from this MAC (for
	// gratuitous ARP on failover), 0 if none.
	ipv4 atomic.Uint32
	// ipv6 is the IPv6 addresses seen from this MAC (fdb6.go).
	ipv6 ipv6Set
}

type fdb struct {
	table atomic.Pointer[map[frame.MAC]*fdbEntry]

	mu      sync.Mutex // serialises writers
	refused atomic.Uint64
}

func newFDB() *fdb {
	f := &fdb{}
	m := map[frame.MAC]*fdbEntry{}
	f.table.Store(&m)
	return f
}

// lookup returns the vnic owning mac, or -1.
func (f *fdb) lookup(mac frame.MAC) int {
	if e, ok := (*f.table.Load())[mac]; ok {
		return e.vnic
	}
	return -1
}

// learnVerdict is what learning a source MAC decided.
type learnVerdict int

const (
	learnOK      learnVerdict = iota // the vnic owns the MAC (now)
	learnSpoofed                     // another vnic owns it, or the vnic may not send from it: drop the frame
	learnRefused                     // the table or the vnic's share is full: forward, do not learn
	learnSkipped                     // a multicast or zero source: nothing to learn
)

// learn records that vnic sent a frame from mac at now. It is called per
// frame and is cheap when nothing changes. locked means the vnic may send
// only from MACs it owns already (vnics[].macs without mac_spoofing).
func (f *fdb) learn(mac frame.MAC, vnic int, locked bool, now int64) (*fdbEntry, learnVerdict) {
	if e, ok := (*f.table.Load())[mac]; ok {
		if e.vnic != vnic {
			return nil, learnSpoofed
		}
		if now-e.lastSeen.Load() > fdbRefresh {
			e.lastSeen.Store(now)
		}
		return e, learnOK
	}
	if locked {
		return nil, learnSpoofed
	}
	if mac.IsMulticast() || mac.IsZero() {
		return nil, learnSkipped
	}
	return f.claim(mac, vnic, now)
}

// claim adds mac for vnic if nobody owns it (slow path of learn).
func (f *fdb) claim(mac frame.MAC, vnic int, now int64) (*fdbEntry, learnVerdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.table.Load()
	if e, ok := old[mac]; ok {
		if e.vnic != vnic {
			return nil, learnSpoofed // claimed by another vnic meanwhile
		}
		return e, learnOK
	}
	if len(old) >= fdbMaxEntries || f.countLocked(old, vnic) >= fdbMaxPerVNIC {
		f.refused.Add(1)
		return nil, learnRefused
	}
	return f.storeLocked(old, mac, vnic, false, now), learnOK
}

// add inserts or moves an entry whatever its owner, unless a learned
// entry would take a static one's place: the operator's and the
// configuration's path (pins, the TAP's MAC), never a frame's.
func (f *fdb) add(mac frame.MAC, vnic int, static bool, now int64) *fdbEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.table.Load()
	if e, ok := old[mac]; ok && e.vnic == vnic {
		e.lastSeen.Store(now)
		return e
	} else if ok && e.static && !static {
		// A static MAC does not move by learning.
		return nil
	}
	if _, ok := old[mac]; !ok {
		if len(old) >= fdbMaxEntries || (!static && f.countLocked(old, vnic) >= fdbMaxPerVNIC) {
			f.refused.Add(1)
			return nil
		}
	}
	return f.storeLocked(old, mac, vnic, static, now)
}

// storeLocked publishes a copy of old with mac owned by vnic.
func (f *fdb) storeLocked(old map[frame.MAC]*fdbEntry, mac frame.MAC, vnic int, static bool, now int64) *fdbEntry {
	m := make(map[frame.MAC]*fdbEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	e := &fdbEntry{vnic: vnic, static: static}
	e.lastSeen.Store(now)
	if prev, ok := old[mac]; ok {
		e.ipv4.Store(prev.ipv4.Load())
		e.ipv6.copyFrom(&prev.ipv6)
	}
	m[mac] = e
	f.table.Store(&m)
	return e
}

func (f *fdb) countLocked(m map[frame.MAC]*fdbEntry, vnic int) int {
	n := 0
	for _, e := range m {
		if e.vnic == vnic {
			n++
		}
	}
	return n
}

// remove deletes entries for which drop returns true.
func (f *fdb) remove(drop func(mac frame.MAC, e *fdbEntry) bool) []frame.MAC {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.table.Load()
	var gone []frame.MAC
	for k, e := range old {
		if drop(k, e) {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	m := make(map[frame.MAC]*fdbEntry, len(old))
	for k, v := range old {
		m[k] = v
	}
	for _, k := range gone {
		delete(m, k)
	}
	f.table.Store(&m)
	return gone
}

// age removes learned entries not refreshed since before cutoff.
func (f *fdb) age(cutoff int64) []frame.MAC {
	return f.remove(func(_ frame.MAC, e *fdbEntry) bool {
		return !e.static && e.lastSeen.Load() < cutoff
	})
}

// pin makes vnic the static owner of exactly macs: its other static
// entries go (learned ones stay), and each of macs moves to it from
// whoever had it (configuration, so it may).
func (f *fdb) pin(vnic int, macs []frame.MAC, now int64) {
	f.remove(func(mac frame.MAC, e *fdbEntry) bool {
		return e.vnic == vnic && e.static && !slices.Contains(macs, mac)
	})
	for _, mac := range macs {
		if e := f.entry(mac); e == nil || e.vnic != vnic || !e.static {
			f.remove(func(k frame.MAC, _ *fdbEntry) bool { return k == mac })
			f.add(mac, vnic, true, now)
		}
	}
}

// forget removes every entry of a vnic.
func (f *fdb) forget(vnic int) {
	f.remove(func(_ frame.MAC, e *fdbEntry) bool { return e.vnic == vnic })
}

// owned returns the MACs a vnic owns (control path).
func (f *fdb) owned(vnic int) []frame.MAC {
	var out []frame.MAC
	for k, e := range *f.table.Load() {
		if e.vnic == vnic {
			out = append(out, k)
		}
	}
	return out
}

// entry returns the entry of mac, or nil (control path).
func (f *fdb) entry(mac frame.MAC) *fdbEntry {
	return (*f.table.Load())[mac]
}
