package team

import (
	"sync"
	"sync/atomic"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// The forwarding database maps MAC addresses to the vnic that owns them.
// Lookups happen on every frame and take no lock: the table is an
// immutable map behind an atomic pointer, replaced (copied) when an entry
// is added, moved or removed, which is rare. Entries refresh their
// timestamp with an atomic store at most once a second.

const (
	// fdbMaxEntries bounds the table; a VM flooding source MACs cannot
	// grow it further (refusals are counted).
	fdbMaxEntries = 8192
	// fdbMaxPerVNIC bounds the MACs one vnic may own.
	fdbMaxPerVNIC = 256
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

// learn records that vnic sent a frame from mac at now. It is called per
// frame and is cheap when nothing changes.
func (f *fdb) learn(mac frame.MAC, vnic int, now int64) *fdbEntry {
	if e, ok := (*f.table.Load())[mac]; ok && e.vnic == vnic {
		if now-e.lastSeen.Load() > fdbRefresh {
			e.lastSeen.Store(now)
		}
		return e
	}
	if mac.IsMulticast() || mac.IsZero() {
		return nil
	}
	return f.add(mac, vnic, false, now)
}

// add inserts or moves an entry (slow path).
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
	m := make(map[frame.MAC]*fdbEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	e := &fdbEntry{vnic: vnic, static: static}
	e.lastSeen.Store(now)
	if prev, ok := old[mac]; ok {
		e.ipv4.Store(prev.ipv4.Load())
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
