package lb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
	"github.com/teamd-go/teamd-go/lb/lbtest"
)

func TestParseHash(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    lb.HashFields
		wantErr string // the name the error must quote
	}{
		{name: "empty", in: nil, want: 0},
		{name: "teamd default", in: []string{"eth", "ipv4", "ipv6"}, want: lb.DefaultHash},
		{name: "spec example", in: []string{"eth", "ipv4", "ipv6", "l4"},
			want: lb.HashEth | lb.HashIPv4 | lb.HashIPv6 | lb.HashTCP | lb.HashUDP | lb.HashSCTP},
		{name: "ip", in: []string{"ip"}, want: lb.HashIPv4 | lb.HashIPv6},
		{name: "l3", in: []string{"l3"}, want: lb.HashIPv4 | lb.HashIPv6},
		{name: "l4", in: []string{"l4"}, want: lb.HashTCP | lb.HashUDP | lb.HashSCTP},
		{name: "single", in: []string{"vlan", "tcp", "udp", "sctp"}, want: lb.HashVLAN | lb.HashL4},
		{name: "repeat", in: []string{"tcp", "l4", "tcp"}, want: lb.HashL4},
		{name: "unknown", in: []string{"eth", "mpls"}, wantErr: `"mpls"`},
		{name: "case", in: []string{"ETH"}, wantErr: `"ETH"`},
		{name: "empty name", in: []string{""}, wantErr: `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lb.ParseHash(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, lb.ErrUnknownHash) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseHash(%q) error = %v, want ErrUnknownHash naming %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseHash(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestHashFieldsString(t *testing.T) {
	for h, want := range map[lb.HashFields]string{
		0:                         "",
		lb.DefaultHash:            "eth,ipv4,ipv6",
		lb.HashVLAN | lb.HashL4:   "vlan,tcp,udp,sctp",
		lb.HashEth | 1<<15:        "eth,0x8000",
		lb.HashEth | lb.HashIPv6:  "eth,ipv6",
		lb.HashIP | lb.HashUDP<<0: "ipv4,ipv6,udp",
	} {
		if got := h.String(); got != want {
			t.Errorf("%#x.String() = %q, want %q", uint16(h), got, want)
		}
		if h&^(lb.HashVLAN|lb.HashEth|lb.HashIP|lb.HashL4) != 0 {
			continue // Names leaves unknown bits out
		}
		if got := strings.Join(h.Names(), ","); got != want {
			t.Errorf("%#x.Names() = %q, want %q", uint16(h), got, want)
		}
	}
}

// TestHashNamesParse: every name HashNames lists is one ParseHash takes.
func TestHashNamesParse(t *testing.T) {
	names := lb.HashNames()
	if len(names) != 10 {
		t.Errorf("HashNames() = %q, want teamd's 10 tx_hash names", names)
	}
	for _, n := range names {
		if h, err := lb.ParseHash([]string{n}); err != nil || h == 0 {
			t.Errorf("ParseHash(%q) = %v, %v", n, h, err)
		}
	}
}

// TestHashFields checks that a field changes the hash if and only if it
// is selected.
func TestHashFields(t *testing.T) {
	var v4, v6 frame.Frame
	lbtest.Flow(0, &v4) // IPv4 TCP
	lbtest.Flow(3, &v6) // IPv6 TCP
	if v4.EtherType != frame.EtherTypeIPv4 || v4.Proto != frame.ProtoTCP || v6.EtherType != frame.EtherTypeIPv6 {
		t.Fatalf("lbtest flows are not what this test expects: %+v %+v", v4.Key, v6.Key)
	}
	tests := []struct {
		name   string
		base   *frame.Frame
		change func(f *frame.Frame)
		field  lb.HashFields // the fields that see the change
	}{
		{"src mac", &v4, func(f *frame.Frame) { f.Src[5]++ }, lb.HashEth},
		{"dst mac", &v4, func(f *frame.Frame) { f.Dst[0]++ }, lb.HashEth},
		{"vlan", &v4, func(f *frame.Frame) { f.VLAN = 7 }, lb.HashVLAN},
		{"ipv4 src", &v4, func(f *frame.Frame) { f.SrcIP[15]++ }, lb.HashIPv4},
		{"ipv4 dst", &v4, func(f *frame.Frame) { f.DstIP[12]++ }, lb.HashIPv4},
		{"ipv6 src", &v6, func(f *frame.Frame) { f.SrcIP[0]++ }, lb.HashIPv6},
		{"ipv6 dst", &v6, func(f *frame.Frame) { f.DstIP[15]++ }, lb.HashIPv6},
		{"tcp sport", &v4, func(f *frame.Frame) { f.SrcPort++ }, lb.HashTCP},
		{"tcp dport v6", &v6, func(f *frame.Frame) { f.DstPort++ }, lb.HashTCP},
		{"udp port", &v4, func(f *frame.Frame) { f.Proto = frame.ProtoUDP; f.SrcPort++ }, lb.HashUDP},
		{"sctp port", &v4, func(f *frame.Frame) { f.Proto = frame.ProtoSCTP; f.DstPort++ }, lb.HashSCTP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := *tt.base
			tt.change(&changed)
			if tt.field&lb.HashL4 != 0 && changed.Proto != tt.base.Proto {
				// Same protocol on both sides, only the port differs.
				base := *tt.base
				base.Proto = changed.Proto
				tt.base = &base
			}
			for _, h := range []lb.HashFields{lb.HashEth, lb.HashVLAN, lb.HashIPv4, lb.HashIPv6, lb.HashTCP, lb.HashUDP, lb.HashSCTP, lb.DefaultHash, lb.DefaultHash | lb.HashL4} {
				differ := lb.Hash(tt.base, h) != lb.Hash(&changed, h)
				if want := h&tt.field != 0; differ != want {
					t.Errorf("hash %v: changed=%v, want %v", h, differ, want)
				}
			}
		})
	}
}

// TestHashStable pins the hash of a few frames, so that a change of the
// function (which moves every flow of a running lab) is deliberate, and
// checks it does not depend on the process (no random seed).
func TestHashStable(t *testing.T) {
	var f frame.Frame
	got := make([]uint32, 0, 8)
	for i := range uint64(4) {
		lbtest.Flow(i, &f)
		got = append(got, lb.Hash(&f, lb.DefaultHash), lb.Hash(&f, lb.DefaultHash|lb.HashL4))
	}
	want := []uint32{0x3517aaae, 0x4cb230d5, 0x248dbbc2, 0xa8a3afe7, 0x57790597, 0xa3fb3d56, 0xc05723d7, 0x80db6767}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("hashes = %#x, want %#x", got, want)
		}
	}
}

// TestHashDispersion checks that structured input (consecutive addresses
// or ports) fills buckets evenly, in the low bits (table index) and the
// high bits.
func TestHashDispersion(t *testing.T) {
	const n, buckets = 1 << 16, 64
	inputs := []struct {
		name string
		h    lb.HashFields
		make func(i uint64, f *frame.Frame)
	}{
		{"synthetic flows", lb.DefaultHash | lb.HashL4, lbtest.Flow},
		{"source port only", lb.HashL4, func(i uint64, f *frame.Frame) {
			lbtest.Flow(0, f)
			f.SrcPort = uint16(i)
		}},
		{"ipv4 host counter", lb.HashIPv4, func(i uint64, f *frame.Frame) {
			lbtest.Flow(0, f)
			f.SrcIP[14], f.SrcIP[15] = byte(i>>8), byte(i)
		}},
		{"mac counter", lb.HashEth, func(i uint64, f *frame.Frame) {
			lbtest.Flow(0, f)
			f.Src[4], f.Src[5] = byte(i>>8), byte(i)
		}},
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			var lo, hi [buckets]int
			var f frame.Frame
			for i := range uint64(n) {
				in.make(i, &f)
				x := lb.Hash(&f, in.h)
				lo[x%buckets]++
				hi[x>>26]++
			}
			// Expect n/buckets = 1024 per bucket, σ ≈ 32: allow ±15% (~5σ).
			for b := range buckets {
				for _, c := range []int{lo[b], hi[b]} {
					if c < 870 || c > 1180 {
						t.Fatalf("bucket %d: %d entries (low bits %v, high bits %v)", b, c, lo, hi)
					}
				}
			}
		})
	}
}

func TestHashAllocs(t *testing.T) {
	var f frame.Frame
	lbtest.Flow(3, &f)
	if a := testing.AllocsPerRun(100, func() { lb.Hash(&f, lb.DefaultHash|lb.HashL4|lb.HashVLAN) }); a != 0 {
		t.Errorf("Hash allocates %v times", a)
	}
}

func FuzzParseHash(f *testing.F) {
	for _, s := range []string{"eth,ipv4,ipv6", "l4", "ip,l3,vlan", "", "eth,,tcp", "bogus"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := lb.ParseHash(strings.Split(s, ","))
		if err != nil {
			if !errors.Is(err, lb.ErrUnknownHash) {
				t.Fatalf("error %v is not ErrUnknownHash", err)
			}
			return
		}
		if h == 0 {
			return
		}
		back, err := lb.ParseHash(strings.Split(h.String(), ","))
		if err != nil || back != h {
			t.Fatalf("round trip of %q: %v -> %q -> %v, %v", s, h, h.String(), back, err)
		}
	})
}
