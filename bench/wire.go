//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/internal/testbed"
)

// wireObserver watches which member each flow of the sender arrives on at
// the physical switch: one AF_PACKET socket per switch port facing a
// member, receiving only IPv4 frames from the sender's address (a classic
// BPF filter, first 128 bytes), stamped by the kernel. Sorting the frames
// of a flow by time and counting how often the port changes gives the
// moves of the flow as seen on the wire: what the dynamic balancer did,
// whether or not the daemon exposes its own count. Frames of a probe
// (UDP to its port, with its tag) also record their sequence number, so
// that a lost datagram can be placed before or after the switch.
type wireObserver struct {
	socks []*wireSock
	stop  atomic.Bool
	wg    sync.WaitGroup
}

type wireSock struct {
	fd        int
	dev       string
	member    uint8
	probePort int
	probeTag  uint64
	events    []wireEvent
	probeSeqs []uint64
	probeTS   []int64 // kernel timestamp of each of probeSeqs
	err       error
}

// wireEvent is one frame: when, which flow (protocol, ports), which port.
type wireEvent struct {
	ts     int64
	flow   uint64 // proto<<32 | sport<<16 | dport
	member uint8
}

func flowKey(proto uint8, sport, dport int) uint64 {
	return uint64(proto)<<32 | uint64(sport&0xffff)<<16 | uint64(dport&0xffff)
}

// startWire opens a socket on each of devs in ns; frames from srcIP count.
// pr, if not nil, is a probe whose sequence numbers are recorded.
func startWire(ns *testbed.NS, srcIP string, pr *probe, devs ...string) (*wireObserver, error) {
	ip := net.ParseIP(srcIP).To4()
	if ip == nil {
		return nil, fmt.Errorf("%s is not IPv4", srcIP)
	}
	w := &wireObserver{}
	for i, dev := range devs {
		s := &wireSock{fd: -1, dev: dev, member: uint8(i)}
		if pr != nil {
			_, s.probePort = pr.ports()
			s.probeTag = pr.Tag()
		}
		if err := ns.Do(func() error { return s.open(binary.BigEndian.Uint32(ip)) }); err != nil {
			w.close()
			return nil, fmt.Errorf("observe %s: %w", dev, err)
		}
		w.socks = append(w.socks, s)
	}
	for _, s := range w.socks {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			s.read(&w.stop)
		}()
	}
	return w, nil
}

func (s *wireSock) open(src uint32) error {
	ifi, err := net.InterfaceByName(s.dev)
	if err != nil {
		return err
	}
	// Protocol 0: nothing arrives before the filter is on and bind.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	s.fd = fd
	filter := []unix.SockFilter{
		{Code: 0x28, K: 12},                  // ldh [12]
		{Code: 0x15, Jt: 0, Jf: 3, K: 0x800}, // jeq #ipv4
		{Code: 0x20, K: 26},                  // ld [26]: source address
		{Code: 0x15, Jt: 0, Jf: 1, K: src},   // jeq #src
		{Code: 0x06, K: 128},                 // ret #128
		{Code: 0x06, K: 0},                   // ret #0
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	for _, set := range []func() error{
		func() error { return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog) },
		// Only what the member sent to the switch, not what the switch
		// sends back to the team.
		func() error { return unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1) },
		func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) },
		func() error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) },
		func() error { return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv) },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *wireSock) read(stop *atomic.Bool) {
	buf := make([]byte, 128)
	oob := make([]byte, 128)
	for !stop.Load() {
		n, oobn, _, _, err := unix.Recvmsg(s.fd, buf, oob, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			s.err = err
			return
		}
		n = min(n, len(buf))
		if n < 14+20 || binary.BigEndian.Uint16(buf[12:]) != 0x800 {
			continue
		}
		ihl := int(buf[14]&0xf) * 4
		proto := buf[23]
		var sport, dport int
		if (proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_UDP) && n >= 14+ihl+4 {
			sport = int(binary.BigEndian.Uint16(buf[14+ihl:]))
			dport = int(binary.BigEndian.Uint16(buf[14+ihl+2:]))
		}
		ts := time.Now().UnixNano()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS &&
					len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
					t := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
					ts = t.Nano()
				}
			}
		}
		s.events = append(s.events, wireEvent{ts: ts, flow: flowKey(proto, sport, dport), member: s.member})
		if p := 14 + ihl + 8; proto == unix.IPPROTO_UDP && dport == s.probePort && n >= p+16 &&
			binary.BigEndian.Uint64(buf[p+8:]) == s.probeTag {
			s.probeSeqs = append(s.probeSeqs, binary.BigEndian.Uint64(buf[p:]))
			s.probeTS = append(s.probeTS, ts)
		}
	}
}

func (w *wireObserver) close() {
	for _, s := range w.socks {
		if s.fd >= 0 {
			_ = unix.Close(s.fd)
			s.fd = -1
		}
	}
}

// wireStats is what the observer saw.
type wireStats struct {
	frames, dropped uint64
	flows           int               // flows seen
	both            int               // flows seen on more than one member
	moves           uint64            // port changes, all flows
	flowMoves       map[uint64]int    // port changes per flow
	flowFrames      map[uint64]uint64 // frames per flow
	probeSeen       []bool            // by probe sequence number
	probeAt         []int64           // by sequence number: first sighting, kernel time
	probeOn         []uint8           // by sequence number: the port of that sighting
	err             error
}

// finish stops the observer and counts, per flow, how often consecutive
// frames (by kernel timestamp) came from different members.
func (w *wireObserver) finish() wireStats {
	w.stop.Store(true)
	w.wg.Wait()
	var st wireStats
	var all []wireEvent
	for _, s := range w.socks {
		if s.fd >= 0 {
			if ts, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				st.dropped += uint64(ts.Drops)
			}
		}
		all = append(all, s.events...)
		for i, seq := range s.probeSeqs {
			if seq < 1<<32 {
				for uint64(len(st.probeSeen)) <= seq {
					st.probeSeen = append(st.probeSeen, false)
					st.probeAt = append(st.probeAt, 0)
					st.probeOn = append(st.probeOn, 0)
				}
				if !st.probeSeen[seq] || s.probeTS[i] < st.probeAt[seq] {
					st.probeAt[seq], st.probeOn[seq] = s.probeTS[i], s.member
				}
				st.probeSeen[seq] = true
			}
		}
		if s.err != nil && st.err == nil {
			st.err = fmt.Errorf("observe %s: %w", s.dev, s.err)
		}
	}
	w.close()
	slices.SortStableFunc(all, func(a, b wireEvent) int {
		switch {
		case a.ts < b.ts:
			return -1
		case a.ts > b.ts:
			return 1
		}
		return 0
	})
	st.frames = uint64(len(all))
	last := map[uint64]uint8{}
	seenOn := map[uint64]uint8{} // bit per member
	st.flowMoves, st.flowFrames = map[uint64]int{}, map[uint64]uint64{}
	for _, e := range all {
		st.flowFrames[e.flow]++
		if m, ok := last[e.flow]; ok && m != e.member {
			st.flowMoves[e.flow]++
			st.moves++
		}
		last[e.flow] = e.member
		seenOn[e.flow] |= 1 << e.member
	}
	st.flows = len(seenOn)
	for _, bits := range seenOn {
		if bits&(bits-1) != 0 {
			st.both++
		}
	}
	return st
}

// onWire reports whether the probe's datagram seq was seen at the switch.
func (st *wireStats) onWire(seq uint64) bool {
	return seq < uint64(len(st.probeSeen)) && st.probeSeen[seq]
}

// probeFrames counts the probe's distinct datagrams seen at the switch.
func (st *wireStats) probeFrames() uint64 {
	var n uint64
	for _, b := range st.probeSeen {
		if b {
			n++
		}
	}
	return n
}
