//go:build linux

package afpacket

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/dataplane"
	"github.com/teamd-go/teamd-go/dataplane/dataplanetest"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// startForwarder copies frames between a and b in both directions, the
// way the team's dataplane does, and counts the GSO super-frames it
// carried, until the test ends.
var startForwarder = dataplanetest.Forward[Stats, *Port]

// TestForwardTCP runs a TCP transfer from a "VM" namespace whose veth has
// the default offloads (so it sends TSO super-frames with partial
// checksums) through two Ports joined by a forwarder, to a peer. The
// super-frames are carried through whole; where the egress veth has its
// offloads off the kernel must segment and checksum them in software, and
// the peer's TCP accepts only correct segments. The data is compared by
// hash.
func TestForwardTCP(t *testing.T) {
	nstest.Require(t)
	nstest.RequireTool(t, "ethtool")
	tests := []struct {
		name       string
		offloadOff bool // the forwarder's veths cannot take GSO or checksum offload
		opts       Options
		wantBypass bool
	}{
		{"egress offloads", false, Options{}, true},
		{"egress software GSO", true, Options{}, false},
		{"egress software GSO through qdisc", true, Options{NoQdiscBypass: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm, fwd, peer := newNS(t, "vm"), newNS(t, "fwd"), newNS(t, "peer")
			nstest.Veth(t, vm, "vm0", fwd, "fa0")
			nstest.Veth(t, fwd, "fb0", peer, "pe0")
			vm.Addr(t, "vm0", "10.99.0.1/24")
			peer.Addr(t, "pe0", "10.99.0.2/24")
			if tt.offloadOff {
				offloadsOff(t, fwd, "fa0", "fb0")
			}

			pa := openIn(t, fwd, "fa0", tt.opts)
			pb := openIn(t, fwd, "fb0", tt.opts)
			f := startForwarder(t, pa, pb)

			sent, got, n := tcpTransfer(t, vm, peer, "10.99.0.2:5201", 64<<20)
			if sent != got {
				t.Fatalf("peer received %d bytes with sha256 %x, VM sent %x", n, got, sent)
			}
			if f.GSO.Load() == 0 {
				t.Errorf("no GSO super-frames were read; the test did not test GSO")
			}
			sa, sb := pa.Stats(), pb.Stats()
			t.Logf("%d MiB intact; %d super-frames, largest frame %d bytes; fa0 %+v; fb0 %+v",
				n>>20, f.GSO.Load(), f.MaxSize.Load(), sa, sb)
			if sa.WriteErrors+sb.WriteErrors+sa.Truncated+sb.Truncated != 0 {
				t.Errorf("write errors or truncated frames")
			}
			if sb.QdiscBypass != tt.wantBypass {
				t.Errorf("fb0 QdiscBypass = %v, want %v", sb.QdiscBypass, tt.wantBypass)
			}
		})
	}
}

// offloadsOff turns off checksum and segmentation offload on devs, so the
// kernel has to do both in software before handing frames to them.
func offloadsOff(t *testing.T, ns *nstest.NS, devs ...string) {
	t.Helper()
	for _, dev := range devs {
		ns.MustRun(t, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off")
	}
}

// TestForwardGSOVLAN sends a VLAN-tagged TCP super-frame with a partial
// checksum into the forwarder. The receive path strips the tag, Read puts
// it back and moves csum_start, and on the far side the frame must arrive
// with correct checksums: as one super-frame whose checksum, completed
// at the header's csum_start, is valid, or, where the egress veth has no
// offloads, as segments the kernel cut and checksummed.
func TestForwardGSOVLAN(t *testing.T) {
	nstest.Require(t)
	nstest.RequireTool(t, "ethtool")
	tests := []struct {
		name       string
		offloadOff bool
		wantFrames int
	}{
		{"egress offloads", false, 1},
		{"egress software GSO", true, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm, fwd, peer := newNS(t, "vm"), newNS(t, "fwd"), newNS(t, "peer")
			nstest.Veth(t, vm, "vm0", fwd, "fa0")
			nstest.Veth(t, fwd, "fb0", peer, "pe0")
			if tt.offloadOff {
				offloadsOff(t, fwd, "fa0", "fb0")
			}
			src := openIn(t, vm, "vm0", Options{})
			sink := openIn(t, peer, "pe0", Options{})
			pa := openIn(t, fwd, "fa0", Options{})
			pb := openIn(t, fwd, "fb0", Options{})
			f := startForwarder(t, pa, pb)

			const mss, segs = 1448, 20
			payload := make([]byte, mss*segs)
			rand.NewChaCha8([32]byte{9}).Read(payload)
			super := tcpSuperFrame(sink.MAC(), src.MAC(), tag{0x8100, 3<<13 | 100}, mss, payload)
			writeAll(t, src, [][]byte{super})

			got := readTCP(t, sink, len(payload), 5*time.Second)
			if len(got) != tt.wantFrames {
				t.Errorf("got %d frames, want %d", len(got), tt.wantFrames)
			}
			var data []byte
			for i, fr := range got {
				eth := dataplane.Eth(fr)
				if tpid, tci := binary.BigEndian.Uint16(eth[12:]), binary.BigEndian.Uint16(eth[14:]); tpid != 0x8100 || tci != 3<<13|100 {
					t.Fatalf("frame %d: tag %#04x %#04x, want 0x8100 0x6064", i, tpid, tci)
				}
				h := dataplane.DecodeVnetHdr(fr)
				if h.Flags&dataplane.VnetFlagNeedsCsum != 0 {
					// What a NIC would do: fold the sum from csum_start
					// into the field at csum_start+csum_offset.
					s, o := int(h.CsumStart), int(h.CsumStart+h.CsumOffset)
					binary.BigEndian.PutUint16(eth[o:], ^fold(sum(eth[s:], 0)))
				}
				if err := checkTCP(eth[18:]); err != nil {
					t.Fatalf("frame %d (%d bytes, %+v): %v", i, len(eth), h, err)
				}
				ip := eth[18:]
				data = append(data, ip[40:binary.BigEndian.Uint16(ip[2:])]...)
			}
			if !bytes.Equal(data, payload) {
				t.Errorf("payload differs (%d bytes, want %d)", len(data), len(payload))
			}
			if f.GSO.Load() == 0 {
				t.Error("the forwarder read no GSO frame")
			}
		})
	}
}

// tcpSuperFrame builds a tagged TCP/IPv4 frame carrying payload, with a
// virtio-net header asking for segmentation into mss-byte segments and
// the TCP checksum field holding the pseudo-header sum, as a guest's
// stack hands it to its NIC.
func tcpSuperFrame(dst, src [6]byte, tg tag, mss int, payload []byte) []byte {
	const ethLen, ipLen, tcpLen = 18, 20, 20
	f := make([]byte, dataplane.VnetHdrLen+ethLen+ipLen+tcpLen+len(payload))
	dataplane.VnetHdr{
		Flags:      dataplane.VnetFlagNeedsCsum,
		GSOType:    dataplane.VnetGSOTCPv4,
		HdrLen:     ethLen + ipLen + tcpLen,
		GSOSize:    uint16(mss),
		CsumStart:  ethLen + ipLen,
		CsumOffset: 16,
	}.Encode(f)
	eth := dataplane.Eth(f)
	copy(eth[0:], dst[:])
	copy(eth[6:], src[:])
	binary.BigEndian.PutUint16(eth[12:], tg.tpid)
	binary.BigEndian.PutUint16(eth[14:], tg.tci)
	binary.BigEndian.PutUint16(eth[16:], 0x0800)
	ip := eth[ethLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen+tcpLen+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], 0x1234)
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{10, 1, 0, 1, 10, 1, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:ipLen], 0)))
	tcp := ip[ipLen:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	binary.BigEndian.PutUint32(tcp[8:], 1)
	tcp[12], tcp[13] = 5<<4, 0x18 // ACK|PSH
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	copy(tcp[tcpLen:], payload)
	binary.BigEndian.PutUint16(tcp[16:], fold(pseudo(ip, tcpLen+len(payload))))
	return f
}

// readTCP reads TCP frames (VLAN-tagged IPv4) from p until they carry n
// payload bytes, ordered by sequence number.
func readTCP(t *testing.T, p *Port, n int, timeout time.Duration) [][]byte {
	t.Helper()
	wd := time.AfterFunc(timeout, func() { p.Close() })
	defer wd.Stop()
	frames, sizes := newBatch()
	var got [][]byte
	for have := 0; have < n; {
		k, err := p.Read(frames, sizes)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", have, n, err)
		}
		for i := range k {
			eth := dataplane.Eth(frames[i][:sizes[i]])
			if len(eth) < 58 || binary.BigEndian.Uint16(eth[16:]) != 0x0800 || eth[18+9] != 6 {
				continue
			}
			got = append(got, bytes.Clone(frames[i][:sizes[i]]))
			have += int(binary.BigEndian.Uint16(eth[18+2:])) - 40
		}
	}
	seq := func(f []byte) uint32 { return binary.BigEndian.Uint32(dataplane.Eth(f)[18+20+4:]) }
	slices.SortFunc(got, func(a, b []byte) int { return cmp.Compare(seq(a), seq(b)) })
	return got
}

// checkTCP verifies the IPv4 header and TCP checksums of a packet.
func checkTCP(ip []byte) error {
	if len(ip) < 40 || ip[0] != 0x45 {
		return fmt.Errorf("not a plain IPv4 header: % x", ip[:min(len(ip), 20)])
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if total > len(ip) {
		return fmt.Errorf("IP total length %d > %d", total, len(ip))
	}
	if c := fold(sum(ip[:20], 0)); c != 0xffff {
		return fmt.Errorf("bad IPv4 header checksum (sum %#04x)", c)
	}
	if c := fold(sum(ip[20:total], pseudo(ip, total-20))); c != 0xffff {
		return fmt.Errorf("bad TCP checksum (sum %#04x)", c)
	}
	return nil
}

// pseudo is the one's-complement sum of the IPv4 pseudo-header.
func pseudo(ip []byte, l4len int) uint32 {
	return sum(ip[12:20], 6+uint32(l4len))
}

// sum and fold are the one's-complement checksum arithmetic.
var sum, fold = dataplanetest.Sum, dataplanetest.Fold
