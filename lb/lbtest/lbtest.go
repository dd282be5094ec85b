// Package lbtest makes synthetic traffic and team views for testing
// balancers and the code that drives them, without sockets or clocks.
package lbtest

import (
	"encoding/binary"
	"slices"

	"github.com/teamd-go/teamd-go/dataplane/frame"
	"github.com/teamd-go/teamd-go/lb"
)

// Flow fills f with the first frame of synthetic flow i, as frame.Parse
// reads it. Distinct i below 2^24 give distinct IP pairs, hence distinct
// flows under any hash with ip fields. Like the traffic of a VM behind a
// router, all flows go from one of four VM MACs to one gateway MAC, so an
// eth-only hash sees four flows. Three flows in four are IPv4, one IPv6;
// one in three is UDP, the rest TCP; every 16th is VLAN-tagged. Flow does
// not allocate.
func Flow(i uint64, f *frame.Frame) {
	var buf [96]byte
	frame.Parse(buf[:packet(buf[:], i)], f)
}

// Packet returns the bytes of the first frame of synthetic flow i.
func Packet(i uint64) []byte {
	var buf [96]byte
	return slices.Clone(buf[:packet(buf[:], i)])
}

// ARP fills f with an ARP request from vm MAC i: a frame with no IP.
func ARP(i uint64, f *frame.Frame) {
	var b [42]byte
	copy(b[0:6], frame.Broadcast[:])
	b[6], b[11] = 0x02, byte(i)
	binary.BigEndian.PutUint16(b[12:], frame.EtherTypeARP)
	frame.Parse(b[:], f)
}

// mix is splitmix64, so that nearby i give unrelated addresses.
func mix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func packet(b []byte, i uint64) int {
	r := mix(i)
	copy(b[0:6], []byte{0x02, 0xaa, 0, 0, 0, 1})            // gateway
	copy(b[6:12], []byte{0x02, 0x00, 0, 0, 0, byte(i % 4)}) // VM
	off := 12
	if i%16 == 15 {
		binary.BigEndian.PutUint16(b[off:], frame.EtherTypeVLAN)
		binary.BigEndian.PutUint16(b[off+2:], uint16(100+i%7))
		off += 4
	}
	proto := byte(frame.ProtoTCP)
	if i%3 == 1 {
		proto = frame.ProtoUDP
	}
	if i%4 == 3 {
		binary.BigEndian.PutUint16(b[off:], frame.EtherTypeIPv6)
		ip := b[off+2:]
		ip[0] = 0x60
		ip[6] = proto
		ip[7] = 64
		copy(ip[8:], []byte{0xfd, 0, 0, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint64(ip[16:], i)
		copy(ip[24:], []byte{0xfd, 0, 0, 0, 0, 0, 0, 2})
		binary.BigEndian.PutUint64(ip[32:], r)
		off += 2 + 40
	} else {
		binary.BigEndian.PutUint16(b[off:], frame.EtherTypeIPv4)
		ip := b[off+2:]
		ip[0] = 0x45
		ip[8] = 64
		ip[9] = proto
		binary.BigEndian.PutUint32(ip[12:], 10<<24|uint32(i>>16)<<16|uint32(i&0xffff)) // 10.x.y.z
		binary.BigEndian.PutUint32(ip[16:], uint32(r>>32))
		off += 2 + 20
	}
	binary.BigEndian.PutUint16(b[off:], uint16(32768+i%28232)) // ephemeral port
	binary.BigEndian.PutUint16(b[off+2:], []uint16{443, 80, 53, 5201}[r%4])
	return off + 8
}

// View returns a View of members, in order of preference, with no homes.
func View(members ...int) *lb.View {
	return &lb.View{Members: slices.Clone(members)}
}

// Homed returns a View of members whose vnic i is homed on
// members[i%len(members)], for vnics vnics, as a switch-independent team
// places vnics round-robin.
func Homed(vnics int, members ...int) *lb.View {
	v := View(members...)
	v.Home = make([]int, vnics)
	for i := range v.Home {
		v.Home[i] = members[i%len(members)]
	}
	return v
}

// Without returns a copy of v without member id; homes are kept, so a
// vnic homed on id has a home that is not in Members, as while the team
// has not re-homed it.
func Without(v *lb.View, id int) *lb.View {
	w := &lb.View{Home: slices.Clone(v.Home)}
	for _, m := range v.Members {
		if m != id {
			w.Members = append(w.Members, m)
		}
	}
	return w
}
