package team

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/team/config"
)

// ip6 parses an IPv6 address for a test.
func ip6(s string) [16]byte { return netip.MustParseAddr(s).As16() }

// udp6 builds an Ethernet/IPv6/UDP frame from (src, srcIP) to (dst, dstIP).
func udp6(dst, src frame.MAC, dstIP, srcIP [16]byte, sport, dport uint16) []byte {
	b := make([]byte, 14+40+8+10)
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:], frame.EtherTypeIPv6)
	ip := b[14:]
	ip[0] = 0x60
	binary.BigEndian.PutUint16(ip[4:], 8+10)
	ip[6] = frame.ProtoUDP
	ip[7] = 64
	copy(ip[8:24], srcIP[:])
	copy(ip[24:40], dstIP[:])
	binary.BigEndian.PutUint16(ip[40:], sport)
	binary.BigEndian.PutUint16(ip[42:], dport)
	binary.BigEndian.PutUint16(ip[44:], 8+10)
	return b
}

// ignoreFDBAddrs compares FDB entries of ctl state without the addresses
// their MACs were seen to speak for.
var ignoreFDBAddrs = cmpopts.IgnoreFields(FDBEntry{}, "IPv4", "IPv6")

func addrStrings(as []netip.Addr) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func TestIPv6SetBoundedMostRecent(t *testing.T) {
	var s ipv6Set
	for i, a := range []string{"fe80::1", "2001:db8::1", "2001:db8::2", "2001:db8::3"} {
		s.learn(ip6(a), int64(i+1)*2e9)
	}
	// Seen again: refreshed, not added twice.
	s.learn(ip6("fe80::1"), 10e9)
	if diff := cmp.Diff([]string{"fe80::1", "2001:db8::3", "2001:db8::2", "2001:db8::1"}, addrStrings(s.addrs())); diff != "" {
		t.Fatalf("addresses (-want +got):\n%s", diff)
	}
	// A fifth replaces the least recently seen (2001:db8::1).
	s.learn(ip6("2001:db8::5"), 12e9)
	if diff := cmp.Diff([]string{"2001:db8::5", "fe80::1", "2001:db8::3", "2001:db8::2"}, addrStrings(s.addrs())); diff != "" {
		t.Fatalf("after a fifth address (-want +got):\n%s", diff)
	}
	var c ipv6Set
	c.copyFrom(&s)
	if diff := cmp.Diff(addrStrings(s.addrs()), addrStrings(c.addrs())); diff != "" {
		t.Errorf("copy (-want +got):\n%s", diff)
	}
}

func TestLearnableIPv6(t *testing.T) {
	for _, tc := range []struct {
		a    string
		want bool
	}{{"::", false}, {"::1", false}, {"ff02::1", false}, {"ff02::1:ff00:1", false}, {"fe80::1", true}, {"2001:db8::1", true}} {
		if got := learnableIPv6(ip6(tc.a)); got != tc.want {
			t.Errorf("learnableIPv6(%s) = %v, want %v", tc.a, got, tc.want)
		}
	}
}

// TestIPv6SetConcurrent: readers never see half of one address and half
// of another while a writer replaces them (run with -race too).
func TestIPv6SetConcurrent(t *testing.T) {
	var s ipv6Set
	valid := map[netip.Addr]bool{}
	for i := range 16 {
		a := ip6("2001:db8::")
		a[8], a[15] = byte(i), byte(i)
		valid[netip.AddrFrom16(a)] = true
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := int64(0); ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			a := ip6("2001:db8::")
			a[8], a[15] = byte(n%16), byte(n%16)
			s.learn(a, n*2e9)
		}
	}()
	for range 2000 {
		for _, a := range s.addrs() {
			if !valid[a] {
				t.Fatalf("torn address %v", a)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestVNICLearnsIPv6: the FDB remembers a vnic MAC's IPv6 source
// addresses, not the unspecified or multicast ones, and keeps them when
// the entry is re-added.
func TestVNICLearnsIPv6(t *testing.T) {
	tt := startTeam(t, baseConfig(config.ModeSwitchIndependent, config.BalanceHyperVPort, "eth1", "eth2"))
	peer6 := ip6("2001:db8::aa")
	for _, src := range []string{"::", "ff02::1", "fe80::1", "2001:db8::1"} {
		tt.h.port("vm1").Inject(udp6(peerMAC, vm1MAC, peer6, ip6(src), 1, 2))
	}
	if err := tt.h.port("eth1").WaitSent(4, wait); err != nil {
		t.Fatal(err)
	}
	e := tt.fdb.entry(fdbKey{0, vm1MAC})
	if e == nil {
		t.Fatal("vm1's MAC not learned")
	}
	// The virtual clock stands still: both were seen at the same time.
	if diff := cmp.Diff([]string{"2001:db8::1", "fe80::1"}, addrStrings(e.ipv6.addrs()), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("IPv6 of vm1 (-want +got):\n%s", diff)
	}
	// ctl state shows them with the entry.
	st := tt.State()
	if len(st.FDB) != 1 || len(st.FDB[0].IPv6) != 2 {
		t.Errorf("ctl state fdb %+v, want vm1's entry with its 2 IPv6 addresses", st.FDB)
	}
}

func TestLearnIPv6Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	fw, _, done := forwarders(t, config.BalanceHyperVPort)
	defer done()
	bufs, sizes := newBatch()
	fill(bufs, sizes, func(i int) []byte {
		src := ip6("2001:db8::1")
		src[15] = byte(i%6 + 1) // more than an entry holds: slots are replaced every batch
		return udp6(peerMAC, vm1MAC, ip6("2001:db8::aa"), src, uint16(i), 80)
	})
	fw.batch(bufs, sizes)
	if n := testing.AllocsPerRun(100, func() { fw.batch(bufs, sizes) }); n != 0 {
		t.Errorf("vnic->team IPv6: %v allocations per batch", n)
	}
	if got := len(fw.t.fdb.entry(fdbKey{0, vm1MAC}).ipv6.addrs()); got != fdbMaxIPv6 {
		t.Errorf("%d addresses learned, want %d", got, fdbMaxIPv6)
	}
}
