package team

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// The forwarding database maps (VLAN, MAC) pairs to the vnic that owns
// them: the same MAC on two VLANs is two entries, which two vnics may
// own (fdbKey).
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

// fdbKey is what the FDB is keyed by: a MAC on a VLAN. vlan is the
// VLAN the frame belongs to in the switch (vlan.go), 0 for untagged
// frames of VLAN-transparent vnics and members.
type fdbKey struct {
	vlan uint16
	mac  frame.MAC
}

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
	table atomic.Pointer[map[fdbKey]*fdbEntry]

	mu      sync.Mutex // serialises writers
	refused atomic.Uint64
}

func newFDB() *fdb {
	f := &fdb{}
	m := map[fdbKey]*fdbEntry{}
	f.table.Store(&m)
	return f
}

// lookup returns the vnic owning k, or -1.
func (f *fdb) lookup(k fdbKey) int {
	if e, ok := (*f.table.Load())[k]; ok {
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
	learnLocked                      // a locked vnic, a source with no entry: the caller decides (learnPinned)
)

// learn records that vnic sent a frame from k.mac on VLAN k.vlan at now.
// It is called per frame and is cheap when nothing changes. locked means
// the vnic may send only from MACs it owns already (vnics[].macs without
// mac_spoofing).
func (f *fdb) learn(k fdbKey, vnic int, locked bool, now int64) (*fdbEntry, learnVerdict) {
	if e, ok := (*f.table.Load())[k]; ok {
		if e.vnic != vnic {
			return nil, learnSpoofed
		}
		if now-e.lastSeen.Load() > fdbRefresh {
			e.lastSeen.Store(now)
		}
		return e, learnOK
	}
	if locked {
		return nil, learnLocked
	}
	if k.mac.IsMulticast() || k.mac.IsZero() {
		return nil, learnSkipped
	}
	return f.claim(k, vnic, now)
}

// claim adds k for vnic if nobody owns it (slow path of learn).
func (f *fdb) claim(k fdbKey, vnic int, now int64) (*fdbEntry, learnVerdict) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.table.Load()
	if e, ok := old[k]; ok {
		if e.vnic != vnic {
			return nil, learnSpoofed // claimed by another vnic meanwhile
		}
		return e, learnOK
	}
	if len(old) >= fdbMaxEntries || f.countLocked(old, vnic) >= fdbMaxPerVNIC {
		f.refused.Add(1)
		return nil, learnRefused
	}
	return f.storeLocked(old, k, vnic, false, now), learnOK
}

// add inserts or moves an entry whatever its owner, unless a learned
// entry would take a static one's place: the operator's and the
// configuration's path (pins, the TAP's MAC), never a frame's.
func (f *fdb) add(k fdbKey, vnic int, static bool, now int64) *fdbEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.table.Load()
	if e, ok := old[k]; ok && e.vnic == vnic {
		e.lastSeen.Store(now)
		return e
	} else if ok && e.static && !static {
		// A static MAC does not move by learning.
		return nil
	}
	if _, ok := old[k]; !ok {
		if len(old) >= fdbMaxEntries || (!static && f.countLocked(old, vnic) >= fdbMaxPerVNIC) {
			f.refused.Add(1)
			return nil
		}
	}
	return f.storeLocked(old, k, vnic, static, now)
}

// storeLocked publishes a copy of old with k owned by vnic.
func (f *fdb) storeLocked(old map[fdbKey]*fdbEntry, k fdbKey, vnic int, static bool, now int64) *fdbEntry {
	m := make(map[fdbKey]*fdbEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	e := &fdbEntry{vnic: vnic, static: static}
	e.lastSeen.Store(now)
	if prev, ok := old[k]; ok {
		e.ipv4.Store(prev.ipv4.Load())
		e.ipv6.copyFrom(&prev.ipv6)
	}
	m[k] = e
	f.table.Store(&m)
	return e
}

func (f *fdb) countLocked(m map[fdbKey]*fdbEntry, vnic int) int {
	n := 0
	for _, e := range m {
		if e.vnic == vnic {
			n++
		}
	}
	return n
}

// remove deletes entries for which drop returns true.
func (f *fdb) remove(drop func(k fdbKey, e *fdbEntry) bool) []fdbKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := *f.table.Load()
	var gone []fdbKey
	for k, e := range old {
		if drop(k, e) {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	m := make(map[fdbKey]*fdbEntry, len(old))
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
func (f *fdb) age(cutoff int64) []fdbKey {
	return f.remove(func(_ fdbKey, e *fdbEntry) bool {
		return !e.static && e.lastSeen.Load() < cutoff
	})
}

// pin makes vnic the static owner of exactly keys: its other static
// entries go (learned ones stay), and each of keys moves to it from
// whoever had it (configuration, so it may).
func (f *fdb) pin(vnic int, keys []fdbKey, now int64) {
	f.remove(func(k fdbKey, e *fdbEntry) bool {
		return e.vnic == vnic && e.static && !slices.Contains(keys, k)
	})
	for _, k := range keys {
		if e := f.entry(k); e == nil || e.vnic != vnic || !e.static {
			f.remove(func(o fdbKey, _ *fdbEntry) bool { return o == k })
			f.add(k, vnic, true, now)
		}
	}
}

// forget removes every entry of a vnic.
func (f *fdb) forget(vnic int) {
	f.remove(func(_ fdbKey, e *fdbEntry) bool { return e.vnic == vnic })
}

// owned returns the keys a vnic owns, sorted by VLAN then MAC (control
// path).
func (f *fdb) owned(vnic int) []fdbKey {
	var out []fdbKey
	for k, e := range *f.table.Load() {
		if e.vnic == vnic {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// compareKeys orders keys by VLAN, then MAC.
func compareKeys(a, b fdbKey) int {
	if a.vlan != b.vlan {
		return int(a.vlan) - int(b.vlan)
	}
	return slices.Compare(a.mac[:], b.mac[:])
}

// entry returns the entry of k, or nil (control path).
func (f *fdb) entry(k fdbKey) *fdbEntry {
	return (*f.table.Load())[k]
}

// entries returns the keys of mac on every VLAN (control path).
func (f *fdb) entries(mac frame.MAC) []fdbKey {
	var out []fdbKey
	for k := range *f.table.Load() {
		if k.mac == mac {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}
