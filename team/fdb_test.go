package team

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// TestFDBPerVLAN: the FDB is keyed by (VLAN, MAC): one MAC on two VLANs
// is two entries, each with its own owner, and forgetting, aging and
// ownership act on one entry without touching the other.
func TestFDBPerVLAN(t *testing.T) {
	db := newFDB()
	mac := frame.MAC{0x02, 0, 0, 0, 0, 0x10}
	on10, on20 := fdbKey{10, mac}, fdbKey{20, mac}
	if _, v := db.learn(on10, 1, false, 0); v != learnOK {
		t.Fatalf("learn on VLAN 10 by vnic 1: %v", v)
	}
	if _, v := db.learn(on20, 2, false, 0); v != learnOK {
		t.Fatalf("learn of the same MAC on VLAN 20 by vnic 2: %v, want learnOK (another entry)", v)
	}
	if got := db.lookup(on10); got != 1 {
		t.Errorf("lookup (10, mac) = %d, want 1", got)
	}
	if got := db.lookup(on20); got != 2 {
		t.Errorf("lookup (20, mac) = %d, want 2", got)
	}
	if got := db.lookup(fdbKey{0, mac}); got != -1 {
		t.Errorf("lookup untagged = %d, want -1", got)
	}
	if _, v := db.learn(on10, 2, false, 0); v != learnSpoofed {
		t.Errorf("vnic 2 sending from the MAC on VLAN 10 (vnic 1's): %v, want learnSpoofed", v)
	}
	if got := db.entries(mac); len(got) != 2 || got[0] != on10 || got[1] != on20 {
		t.Errorf("entries = %v, want [(10) (20)]", got)
	}
	db.forget(1)
	if db.lookup(on10) != -1 || db.lookup(on20) != 2 {
		t.Errorf("after forgetting vnic 1: (10) -> %d, (20) -> %d; want -1, 2", db.lookup(on10), db.lookup(on20))
	}
	db.add(on10, 3, true, 0)
	db.age(1)
	if db.lookup(on10) != 3 || db.lookup(on20) != -1 {
		t.Errorf("after aging: static (10) -> %d, learned (20) -> %d; want 3, -1", db.lookup(on10), db.lookup(on20))
	}
}
