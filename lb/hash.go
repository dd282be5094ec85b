package lb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

// HashFields selects the header fields that identify a flow for the
// hash-based balancers (address-hash, dynamic). Bits are named after
// teamd's tx_hash names; ParseHash reads those names.
type HashFields uint16

// Hash fields. A field a frame does not carry adds nothing to its hash:
// ipv4 hashes the addresses of IPv4 frames only, tcp the ports of TCP
// segments only (not of non-first fragments, which carry no ports).
const (
	HashEth  HashFields = 1 << iota // eth: source and destination MAC
	HashVLAN                        // vlan: 802.1Q VLAN ID (0 if untagged)
	HashIPv4                        // ipv4: IPv4 source and destination address
	HashIPv6                        // ipv6: IPv6 source and destination address
	HashTCP                         // tcp: TCP source and destination port
	HashUDP                         // udp: UDP source and destination port
	HashSCTP                        // sctp: SCTP source and destination port

	HashIP = HashIPv4 | HashIPv6          // ip: both IP versions
	HashL3 = HashIP                       // l3: teamd's other name for ip
	HashL4 = HashTCP | HashUDP | HashSCTP // l4: all three transports

	hashAll = HashEth | HashVLAN | HashIP | HashL4
)

// DefaultHash is what a zero Options.Hash means: teamd's default tx_hash
// (eth, ipv4, ipv6). Add l4 to split the flows between two hosts.
const DefaultHash = HashEth | HashIPv4 | HashIPv6

// ErrUnknownHash is returned by ParseHash for a name teamd does not know.
var ErrUnknownHash = errors.New("unknown tx_hash field")

// hashNames lists teamd's tx_hash names, single fields first, in the
// order String prints them.
var hashNames = [...]struct {
	name string
	f    HashFields
}{
	{"eth", HashEth},
	{"vlan", HashVLAN},
	{"ipv4", HashIPv4},
	{"ipv6", HashIPv6},
	{"tcp", HashTCP},
	{"udp", HashUDP},
	{"sctp", HashSCTP},
	{"ip", HashIP},
	{"l3", HashL3},
	{"l4", HashL4},
}

// ParseHash returns the fields named by teamd tx_hash names: eth, vlan,
// ipv4, ipv6, ip and l3 (both IP versions), tcp, udp, sctp and l4 (all
// three). Names are case-sensitive, as in teamd; repeats are harmless. An
// empty list gives 0, which New reads as DefaultHash.
func ParseHash(names []string) (HashFields, error) {
	var h HashFields
next:
	for _, n := range names {
		for _, e := range hashNames {
			if n == e.name {
				h |= e.f
				continue next
			}
		}
		return 0, fmt.Errorf("%w %q (known: %s)", ErrUnknownHash, n, strings.Join(HashNames(), ", "))
	}
	return h, nil
}

// HashNames returns every name ParseHash accepts, single fields first, in
// the order String prints them. Config validation lists them in its
// messages.
func HashNames() []string {
	names := make([]string, len(hashNames))
	for i, e := range hashNames {
		names[i] = e.name
	}
	return names
}

// Names returns the fields as tx_hash names, as String prints them
// (["eth", "ipv4", "ipv6"] for DefaultHash).
func (h HashFields) Names() []string {
	var names []string
	for _, e := range hashNames[:7] {
		if h&e.f != 0 {
			names = append(names, e.name)
		}
	}
	return names
}

// String returns the fields as comma-separated tx_hash names ("eth,ipv4").
func (h HashFields) String() string {
	var b strings.Builder
	for _, e := range hashNames[:7] {
		if h&e.f != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(e.name)
		}
	}
	if rest := h &^ hashAll; rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%#x", uint16(rest))
	}
	return b.String()
}

// Hash returns a 32-bit hash of f's fields selected by h. It is
// deterministic: the same frame hashes the same in every process and on
// every run (a fixed-seed wyhash-style multiply-fold mixer, no per-process
// random seed), so labs and tests are reproducible. That also means a
// sender who knows the function can aim many flows at one member; the
// daemon carries its own and its VMs' traffic, so that is accepted. The
// hash is not symmetric: the two directions of a connection may hash
// differently, which a transmit-only balancer never needs. It does not
// allocate.
func Hash(f *frame.Frame, h HashFields) uint32 {
	x := hash64(f, h)
	return uint32(x ^ x>>32)
}

// Constants of the mixer (wyhash's).
const (
	hashSeed = 0x243f6a8885a308d3 // digits of π
	wyp0     = 0xa0761d6478bd642f
	wyp1     = 0xe7037ed1a0b428db
	wyp2     = 0x8ebc6af09c88c6e3
	wyp3     = 0x589965cc75374cc3
)

// mum multiplies a and b to 128 bits and folds the halves together.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// absorb mixes two 64-bit words into the running state s.
func absorb(s, a, b uint64) uint64 {
	return mum(a^wyp0, b^s^wyp1)
}

func mac48(m *frame.MAC) uint64 {
	return uint64(binary.LittleEndian.Uint32(m[0:4])) | uint64(binary.LittleEndian.Uint16(m[4:6]))<<32
}

// hash64 is the 64-bit flow hash behind Hash.
func hash64(f *frame.Frame, h HashFields) uint64 {
	s := uint64(hashSeed)
	if h&HashEth != 0 {
		s = absorb(s, mac48(&f.Src), mac48(&f.Dst))
	}
	// Small fields share one word: VLAN ID in bits 48-59, ports below.
	var small uint64
	if h&HashVLAN != 0 {
		small = uint64(f.VLAN) << 48
	}
	if h&HashL4 != 0 && f.L4 != 0 {
		var want HashFields
		switch f.Proto {
		case frame.ProtoTCP:
			want = HashTCP
		case frame.ProtoUDP:
			want = HashUDP
		case frame.ProtoSCTP:
			want = HashSCTP
		}
		if h&want != 0 {
			small |= uint64(f.SrcPort)<<16 | uint64(f.DstPort)
		}
	}
	switch {
	case h&HashIPv4 != 0 && f.HasIP && f.EtherType == frame.EtherTypeIPv4:
		ips := uint64(binary.LittleEndian.Uint32(f.SrcIP[12:]))<<32 | uint64(binary.LittleEndian.Uint32(f.DstIP[12:]))
		s = absorb(s, ips, small)
	case h&HashIPv6 != 0 && f.HasIP && f.EtherType == frame.EtherTypeIPv6:
		s = absorb(s, binary.LittleEndian.Uint64(f.SrcIP[:8]), binary.LittleEndian.Uint64(f.SrcIP[8:]))
		s = absorb(s, binary.LittleEndian.Uint64(f.DstIP[:8]), binary.LittleEndian.Uint64(f.DstIP[8:])^small)
	default:
		s = absorb(s, small, 0)
	}
	return mum(s^wyp2, wyp3)
}

// golden is 2^64 / φ, the splitmix64 increment.
const golden = 0x9e3779b97f4a7c15

// splitmix is the splitmix64 finalizer: a bijective 64-bit mixer.
func splitmix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// rendezvous returns the member of ms (never empty) with the highest
// weight for key: highest-random-weight hashing (Thaler and Ravishankar,
// 1998). A key's weights depend only on the key and the member ID, so
// removing a member moves exactly the keys it won, each to its runner-up
// (spread evenly over the survivors), and adding it back takes exactly
// those keys back; keys won by other members never move. The order of ms
// does not matter. Cost: one mix per member.
func rendezvous(ms []int, key uint64) int {
	best, bestW := ms[0], splitmix(key^uint64(ms[0]+1)*golden)
	for _, id := range ms[1:] {
		w := splitmix(key ^ uint64(id+1)*golden)
		if w > bestW || (w == bestW && id < best) {
			best, bestW = id, w
		}
	}
	return best
}
