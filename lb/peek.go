package lb

import (
	"time"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// Peeking: `teamd-go ctl explain` asks a vnic's live Picker where a frame
// would go. It must get the answer the data path would get, so Peek runs
// the very decision Pick runs, on copies of the Picker's state: a Peek
// changes nothing (no flow entry, no load, no counter), and the next Pick
// with the same arguments returns the same member. The conformance suite
// checks that for every algorithm.
//
// The caller must keep the Picker from being used by its goroutine during
// Peek (the team holds the vnic forwarder's lock, taken once per batch).

// Choice is a Peek's answer: the member and what led to it.
type Choice struct {
	// Member is what Pick would return.
	Member int
	// Fields are the header fields the algorithm hashes the flow on, 0 if
	// it does not hash flows; Hash is the flow's Hash over them.
	Fields HashFields
	Hash   uint32
	// Reason says in a few words why Member was chosen.
	Reason string
	// Flowlet is the flow table entry (dynamic only, else nil).
	Flowlet *FlowletEntry
}

// FlowletEntry is the dynamic flow table entry a frame maps to.
type FlowletEntry struct {
	// Slot is the entry's index in the vnic's table.
	Slot int
	// Member is the member the entry is on, -1 if the entry is free.
	Member int
	// Idle is how long ago the entry's last frame left (0 if free).
	Idle time.Duration
	// Gap is the flowlet gap: an entry idle that long may move (with
	// measured delays, the margin, to which the difference between the
	// delay its last frame waits, Wait, and the new member's is added).
	Gap  time.Duration
	Wait time.Duration
	// MayMove reports whether the flow may change member with this frame.
	MayMove bool
	// Loads is each member's load estimate (decayed bytes) at the time of
	// the Peek, in View order.
	Loads []float64
}

// Peeker is implemented by every Picker of this package.
type Peeker interface {
	// Peek returns what Pick(v, f, vnic, size, now) would return, and
	// why, without changing the Picker.
	Peek(v *View, f *frame.Frame, vnic, size int, now int64) Choice
}

var (
	_ Peeker = activeBackup{}
	_ Peeker = addressHash{}
	_ Peeker = (*hyperVPortPicker)(nil)
	_ Peeker = (*roundRobinPicker)(nil)
	_ Peeker = (*dynamicPicker)(nil)
)

// Peek returns p's Choice for a frame. Pickers of this package are all
// Peekers; any other Picker is asked with Pick, which for a stateless
// Picker is the same.
func Peek(p Picker, v *View, f *frame.Frame, vnic, size int, now int64) Choice {
	if pk, ok := p.(Peeker); ok {
		return pk.Peek(v, f, vnic, size, now)
	}
	return Choice{Member: p.Pick(v, f, vnic, size, now), Reason: "chosen by the balancer"}
}

func (b activeBackup) Peek(v *View, f *frame.Frame, vnic, size int, now int64) Choice {
	return Choice{Member: b.Pick(v, f, vnic, size, now), Reason: "the active member (first of the members that may carry)"}
}

func (b addressHash) Peek(v *View, f *frame.Frame, vnic, size int, now int64) Choice {
	return Choice{Member: b.Pick(v, f, vnic, size, now), Fields: b.fields, Hash: Hash(f, b.fields),
		Reason: "rendezvous hash of the flow over the members"}
}

func (p *hyperVPortPicker) Peek(v *View, f *frame.Frame, vnic, size int, now int64) Choice {
	// The member set cache is invisible state: a copy keeps it untouched.
	c := *p
	m := c.Pick(v, f, vnic, size, now)
	why := "the vnic's home member"
	if m != home(v, vnic) {
		why = "the vnic has no usable home: rendezvous hash of the vnic over the members"
	}
	return Choice{Member: m, Reason: why}
}

func (p *roundRobinPicker) Peek(v *View, f *frame.Frame, vnic, size int, now int64) Choice {
	c := *p
	return Choice{Member: c.Pick(v, f, vnic, size, now), Reason: "the next member in turn"}
}
