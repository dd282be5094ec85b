package team

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"sync/atomic"
)

// fdbMaxIPv6 bounds the IPv6 addresses an FDB entry remembers for its
// MAC. A host has a link-local address, usually one or two global ones
// and perhaps a temporary (privacy) one; past that the least recently
// seen is replaced.
const fdbMaxIPv6 = 4

// ipv6Set is the IPv6 addresses a MAC has been seen to speak for (for
// unsolicited neighbour advertisements on failover and for
// rx_translation), as fdbEntry.ipv4 is its IPv4 one. It sits in the FDB
// entry itself and never allocates.
//
// The data path looks an address up on every IPv6 frame and finds it
// (the common case) with a few atomic loads; it writes only when a new
// address appears, or to refresh an address's timestamp at most once a
// second. An address is 16 bytes, more than one atomic word holds, so a
// sequence lock keeps a reader from seeing half of one address and half
// of another: a writer makes seq odd, rewrites the slot and makes it
// even again; a reader that saw seq change reads again. Writers (the
// vnic's goroutine that owns the entry, in practice alone) take the odd
// state with a compare-and-swap, so two never interleave.
type ipv6Set struct {
	seq  atomic.Uint32
	addr [fdbMaxIPv6][2]atomic.Uint64 // the address, big-endian halves; zero = empty slot
	seen [fdbMaxIPv6]atomic.Int64     // when the address was last seen
}

// ip6Words splits an address into the two words a slot holds.
func ip6Words(a [16]byte) (hi, lo uint64) {
	return binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
}

// find returns the slot holding the address (hi, lo), or -1.
func (s *ipv6Set) find(hi, lo uint64) int {
	for {
		q := s.seq.Load()
		if q&1 != 0 {
			continue // a writer is in the middle of a slot
		}
		at := -1
		for i := range s.addr {
			if s.addr[i][0].Load() == hi && s.addr[i][1].Load() == lo {
				at = i
				break
			}
		}
		if s.seq.Load() == q {
			return at
		}
	}
}

// learn records that the MAC speaks for a at now. Data path: no lock, no
// allocation; the caller has checked a is a unicast address.
func (s *ipv6Set) learn(a [16]byte, now int64) {
	hi, lo := ip6Words(a)
	if i := s.find(hi, lo); i >= 0 {
		if now-s.seen[i].Load() > fdbRefresh {
			s.seen[i].Store(now)
		}
		return
	}
	s.put(hi, lo, now)
}

// put writes a new address into an empty slot, or over the least
// recently seen one.
func (s *ipv6Set) put(hi, lo uint64, now int64) {
	for {
		q := s.seq.Load()
		if q&1 == 0 && s.seq.CompareAndSwap(q, q+1) {
			break
		}
	}
	at := 0
	for i := range s.addr {
		if s.addr[i][0].Load() == hi && s.addr[i][1].Load() == lo {
			at = i // another writer put it meanwhile
			break
		}
		if s.addr[i][0].Load() == 0 && s.addr[i][1].Load() == 0 {
			at = i
			break
		}
		if s.seen[i].Load() < s.seen[at].Load() {
			at = i
		}
	}
	s.addr[at][0].Store(hi)
	s.addr[at][1].Store(lo)
	s.seen[at].Store(now)
	s.seq.Add(1)
}

// addrs returns the addresses, most recently seen first (control path).
func (s *ipv6Set) addrs() []netip.Addr {
	type slot struct {
		a    [16]byte
		seen int64
	}
	var got [fdbMaxIPv6]slot
	for {
		q := s.seq.Load()
		if q&1 != 0 {
			continue
		}
		for i := range s.addr {
			binary.BigEndian.PutUint64(got[i].a[:8], s.addr[i][0].Load())
			binary.BigEndian.PutUint64(got[i].a[8:], s.addr[i][1].Load())
			got[i].seen = s.seen[i].Load()
		}
		if s.seq.Load() == q {
			break
		}
	}
	slices.SortStableFunc(got[:], func(a, b slot) int { return cmp.Compare(b.seen, a.seen) })
	var out []netip.Addr
	for _, g := range got {
		if g.a != ([16]byte{}) {
			out = append(out, netip.AddrFrom16(g.a))
		}
	}
	return out
}

// copyFrom takes over o's addresses (an entry replaced by a move keeps
// what its MAC spoke for). Control path, before s is published.
func (s *ipv6Set) copyFrom(o *ipv6Set) {
	for {
		q := o.seq.Load()
		if q&1 != 0 {
			continue
		}
		for i := range o.addr {
			s.addr[i][0].Store(o.addr[i][0].Load())
			s.addr[i][1].Store(o.addr[i][1].Load())
			s.seen[i].Store(o.seen[i].Load())
		}
		if o.seq.Load() == q {
			return
		}
	}
}

// learnableIPv6 reports whether a source or target address names the
// host that sent it: not the unspecified address (duplicate address
// detection), not a multicast one, not loopback.
func learnableIPv6(a [16]byte) bool {
	if a[0] == 0xff {
		return false
	}
	hi, lo := ip6Words(a)
	return hi != 0 || lo > 1
}
