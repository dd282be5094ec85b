package lb

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Algorithm names, as the config's balance key spells them.
const (
	// ActiveBackup sends everything on Members[0], the most preferred
	// member that may carry traffic; the others stand by. Which member is
	// first (prio, sticky, primary) is the team's decision, expressed by
	// the order of View.Members: when the first member leaves, all traffic
	// moves to the next one, and moves back when the team puts it first
	// again.
	ActiveBackup = "active-backup"

	// HyperVPort keeps every frame of a vnic on one member, as Windows'
	// "Hyper-V Port": the vnic's home member (View.Home), where its MAC is
	// registered in switch-independent mode, so frames always leave with
	// the VM's own source MAC and replies come back on the same member.
	// Balance comes from spreading vnics, not flows: one busy VM never
	// gets more than one member's bandwidth. When the vnic has no home, or
	// its home is not in Members (link down), the vnic is placed by
	// rendezvous hashing of its ID over Members, so a member going down
	// moves only the vnics that were on it.
	HyperVPort = "hyperv-port"

	// AddressHash places each flow (the header fields of Options.Hash) on
	// one member by rendezvous hashing: every member gets a pseudo-random
	// weight per flow, the heaviest wins. Frames of a flow stay in order;
	// balance depends on the number and the size of flows (two elephants
	// hash onto the same member half the time with two members). Unlike
	// "hash modulo number of members", a member leaving moves only the
	// flows that were on it, spread evenly over the others, and when it
	// returns it takes back exactly those flows: no flow on a healthy
	// member is ever moved, so a link flap costs no reordering elsewhere.
	// The choice depends on member IDs only, not on their order or on the
	// Picker, and costs one 64-bit mix per member per frame.
	AddressHash = "address-hash"

	// RoundRobin sends each frame on the next member in turn, per vnic.
	// It spreads load perfectly and reorders flows across members: it is
	// only for static and lacp modes (where the switch sees one logical
	// link) and for receivers that tolerate reordering. Config validation
	// enforces the mode.
	RoundRobin = "round-robin"

	// Dynamic is Windows' Dynamic algorithm: flowlet switching. A flow
	// (hashed on Options.Hash) stays on its member while its packets keep
	// coming; once it has been idle for Options.FlowletGap, its next packet
	// starts a new flowlet, which goes to the least-loaded member. The gap
	// is longer than the difference in delay between members, so a
	// flowlet cannot overtake the one before it: no reordering, yet an
	// elephant with natural pauses (TCP sends in bursts) is spread over
	// time. Load is the bytes each member carried recently, decayed
	// exponentially (time constant Options.LoadDecay), and shared by all
	// vnics of the team. A new flow goes to the least-loaded member too
	// (on a tie, to its vnic's home, which spares a source-MAC rewrite); a
	// flow whose member leaves is moved at once, mid-flowlet. Per vnic,
	// flows live in a fixed table of Options.FlowSlots entries indexed by
	// hash: flows that share an entry share a flowlet (they move together,
	// never apart), so a flood of new flows costs no memory. Balancers
	// made with this name implement Statser.
	Dynamic = "dynamic"
)

// Defaults for Options fields left zero.
const (
	// DefaultFlowletGap is the idle time that ends a flowlet. A flowlet
	// may move to another member only if its first packet cannot arrive
	// before the last packet of the previous one, so the gap must exceed
	// the largest difference in delay between members (FLARE, Kandula et
	// al. 2007). Datacenter designs use a few hundred microseconds: CONGA
	// (SIGCOMM 2014) 500 µs, LetFlow (NSDI 2017) reports 150-500 µs as
	// robust. A host-side team sees more delay variation than a switch
	// ASIC: per-member qdiscs and driver rings, NIC interrupt coalescing
	// (tens of µs), GSO super-frames of 64 KiB (52 µs at 10 Gb/s) and the
	// scheduler, so we take the top of that range. Shorter gaps balance
	// better and risk reordering; TCP's RACK tolerates some, but a team
	// should not make it work.
	DefaultFlowletGap = 500 * time.Microsecond

	// DefaultLoadDecay is the time constant of the per-member load
	// estimate: bytes sent t ago count e^(-t/τ). Two flowlet gaps: long
	// enough to smooth over GSO bursts and the flowlet being placed, short
	// enough that a member busy a few milliseconds ago looks idle now.
	DefaultLoadDecay = 2 * DefaultFlowletGap

	// DefaultFlowSlots is the number of flow entries per Picker (16 bytes
	// each: 64 KiB per vnic). With 1000 active flows a new flow shares an
	// entry with another one about one time in four.
	DefaultFlowSlots = 4096

	// MaxFlowSlots bounds Options.FlowSlots.
	MaxFlowSlots = 1 << 20
)

// Options configures a balancer. The zero value gives the defaults.
type Options struct {
	// Hash selects the fields that identify a flow (address-hash,
	// dynamic). Zero means DefaultHash.
	Hash HashFields
	// FlowletGap is the idle time that ends a flowlet (dynamic). Zero
	// means DefaultFlowletGap. With Delays it is the margin added to the
	// measured delay difference.
	FlowletGap time.Duration
	// Delays, if not nil, makes dynamic's gap automatic ("flowlet_gap:
	// auto"): a flow may move from member a to member b once idle for
	// FlowletGap plus how much longer a's transmit queue takes to drain
	// than b's (see Delays.Gap). The team owns it and measures into it.
	Delays *Delays
	// LoadDecay is the time constant of the decayed per-member byte count
	// that measures load (dynamic). Zero means DefaultLoadDecay.
	LoadDecay time.Duration
	// FlowSlots is the number of flow entries of each Picker's table
	// (dynamic): a power of two, at most MaxFlowSlots. Zero means
	// DefaultFlowSlots.
	FlowSlots int
}

// Errors returned by New.
var (
	// ErrUnknownAlgorithm means New was given a name Names does not list.
	ErrUnknownAlgorithm = errors.New("unknown balancing algorithm")
	// ErrBadOptions means an Options field is out of range.
	ErrBadOptions = errors.New("bad balancer options")
)

// algorithms lists every algorithm, sorted by name.
var algorithms = [...]struct {
	name string
	make func(Options) Balancer
}{
	{ActiveBackup, func(Options) Balancer { return activeBackup{} }},
	{AddressHash, func(o Options) Balancer { return addressHash{o.Hash} }},
	{Dynamic, newDynamic},
	{HyperVPort, func(Options) Balancer { return hyperVPort{} }},
	{RoundRobin, func(Options) Balancer { return roundRobin{} }},
}

// Names returns the names New accepts, sorted.
func Names() []string {
	names := make([]string, len(algorithms))
	for i, a := range algorithms {
		names[i] = a.name
	}
	return names
}

// New returns the balancer called name, configured by o. Options an
// algorithm does not use are checked all the same.
func New(name string, o Options) (Balancer, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, a := range algorithms {
		if a.name == name {
			return a.make(o), nil
		}
	}
	return nil, fmt.Errorf("balance %q: %w (known: %s)", name, ErrUnknownAlgorithm, strings.Join(Names(), ", "))
}

func (o Options) withDefaults() (Options, error) {
	if o.Hash&^hashAll != 0 {
		return o, fmt.Errorf("%w: hash %v", ErrBadOptions, o.Hash)
	}
	if o.Hash == 0 {
		o.Hash = DefaultHash
	}
	switch {
	case o.FlowletGap < 0:
		return o, fmt.Errorf("%w: flowlet gap %v is negative", ErrBadOptions, o.FlowletGap)
	case o.FlowletGap == 0:
		o.FlowletGap = DefaultFlowletGap
	}
	switch {
	case o.LoadDecay < 0:
		return o, fmt.Errorf("%w: load decay %v is negative", ErrBadOptions, o.LoadDecay)
	case o.LoadDecay == 0:
		o.LoadDecay = DefaultLoadDecay
	}
	switch {
	case o.FlowSlots == 0:
		o.FlowSlots = DefaultFlowSlots
	case o.FlowSlots < 0 || o.FlowSlots > MaxFlowSlots || o.FlowSlots&(o.FlowSlots-1) != 0:
		return o, fmt.Errorf("%w: flow slots %d is not a power of two up to %d", ErrBadOptions, o.FlowSlots, MaxFlowSlots)
	}
	return o, nil
}
