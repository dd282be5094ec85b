//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Port is an AF_PACKET socket bound to one interface, with a TPACKET_V2
// receive ring and batched transmit. It implements dataplane.Port.
//
// One goroutine may Read while another Writes; Read is not safe for
// concurrent use with itself, nor Write with itself (each keeps its own
// preallocated state). Close, Stats, Name, Index and MAC are safe from any
// goroutine at any time.
type Port struct {
	name  string
	index int
	mac   [6]byte
	opts  Options

	fd  int // AF_PACKET socket
	efd int // eventfd, made readable by Close to wake Read and Write

	closed atomic.Bool
	once   sync.Once
	rmu    sync.Mutex // held by Read while it touches the ring and fd
	wmu    sync.Mutex // held by Write while it uses fd
	smu    sync.Mutex // serialises PACKET_STATISTICS reads with Close

	// Ring counter, folded in from PACKET_STATISTICS under smu.
	ringDrops atomic.Uint64

	// Receive state, owned by Read. The padding keeps it and the
	// transmit state on separate cache lines, as a reader and a writer
	// goroutine run on different CPUs.
	_         cpu.CacheLinePad
	ring      []byte // NumBlocks blocks of BlockSize bytes
	blockSize int
	frameSize int
	perBlock  int // slots per block
	slots     int // slots in the ring
	cur       int // slot Read is at
	rpoll     [2]unix.PollFd
	rmsg      unix.Msghdr // recvmsg of a frame too long for its slot
	riov      unix.Iovec
	roob      [64]byte // its PACKET_AUXDATA control message

	readFrames atomic.Uint64
	readBytes  atomic.Uint64
	truncated  atomic.Uint64
	copied     atomic.Uint64

	// Transmit state, owned by Write.
	_        cpu.CacheLinePad
	msgs     [dataplane.BatchSize]unix.Mmsghdr
	iovs     [dataplane.BatchSize]unix.Iovec
	wpoll    [2]unix.PollFd
	epoll    [1]unix.PollFd // eventfd alone, to sleep while the device is busy
	sleepTS  unix.Timespec
	empty    [1]byte     // iovec base for zero-length frames
	wtimeout int         // WriteTimeout in ms for poll
	bypass   atomic.Bool // PACKET_QDISC_BYPASS is on; only Write clears it
	outq     int32       // SIOCOUTQ result, under wmu

	writeFrames atomic.Uint64
	writeBytes  atomic.Uint64
	writeErrors atomic.Uint64
	writeDrops  atomic.Uint64
}

// Open opens a Port on interface ifname in the calling thread's network
// namespace. The socket stays in that namespace: callers that switch
// namespaces (runtime.LockOSThread, setns) may use the Port from any
// goroutine afterwards.
func Open(ifname string, o Options) (*Port, error) {
	p, err := open(ifname, o.withDefaults())
	if err != nil {
		return nil, fmt.Errorf("open af_packet port %q: %w", ifname, err)
	}
	return p, nil
}

func open(ifname string, o Options) (_ *Port, err error) {
	page := unix.Getpagesize()
	switch {
	case o.FrameSize < MinFrameSize || o.FrameSize%16 != 0:
		return nil, fmt.Errorf("frame size %d: want a multiple of 16, at least %d", o.FrameSize, MinFrameSize)
	case o.BlockSize < o.FrameSize || o.BlockSize%page != 0 || o.BlockSize%o.FrameSize != 0:
		return nil, fmt.Errorf("block size %d: want a multiple of %d and of the frame size %d", o.BlockSize, page, o.FrameSize)
	case o.NumBlocks < 1 || o.NumBlocks*(o.BlockSize/o.FrameSize) < 2:
		return nil, fmt.Errorf("%d blocks of %d frames: want at least 2 frames", o.NumBlocks, o.BlockSize/o.FrameSize)
	case o.WriteTimeout < 0 || o.SendBuffer < 0 || o.ReceiveBuffer < 0:
		return nil, errors.New("negative option")
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	p := &Port{
		name:      ifname,
		index:     ifi.Index,
		opts:      o,
		fd:        -1,
		efd:       -1,
		blockSize: o.BlockSize,
		frameSize: o.FrameSize,
		perBlock:  o.BlockSize / o.FrameSize,
		slots:     o.NumBlocks * (o.BlockSize / o.FrameSize),
	}
	copy(p.mac[:], ifi.HardwareAddr)
	defer func() {
		if err != nil {
			p.release()
		}
	}()

	// Protocol 0: nothing is queued until bind, after the ring exists.
	p.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	// VLAN tags are put back after the MAC addresses: Ethernet only.
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(p.fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return nil, fmt.Errorf("get hardware type: %w", err)
	}
	if t := ifr.Uint16(); t != unix.ARPHRD_ETHER {
		return nil, fmt.Errorf("hardware type %d: %w", t, ErrNotEthernet)
	}
	p.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}

	// PACKET_VNET_HDR and PACKET_VERSION must precede the ring: the
	// kernel refuses to change them once a ring is mapped (EBUSY).
	for _, so := range []struct {
		name string
		opt  int
		val  int
	}{
		{"PACKET_VERSION", unix.PACKET_VERSION, unix.TPACKET_V2},
		{"PACKET_VNET_HDR", unix.PACKET_VNET_HDR, 1},
		{"PACKET_IGNORE_OUTGOING", unix.PACKET_IGNORE_OUTGOING, 1}, // Linux 4.20
		// Frames too long for a slot are also queued whole (any non-zero
		// threshold turns it on), with their VLAN tag in a cmsg.
		{"PACKET_COPY_THRESH", unix.PACKET_COPY_THRESH, 1},
		{"PACKET_AUXDATA", unix.PACKET_AUXDATA, 1},
	} {
		if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, so.opt, so.val); err != nil {
			return nil, fmt.Errorf("setsockopt %s: %w", so.name, err)
		}
	}
	if !o.NoQdiscBypass {
		if err := unix.SetsockoptInt(p.fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return nil, fmt.Errorf("setsockopt PACKET_QDISC_BYPASS: %w", err)
		}
		p.bypass.Store(true)
	}
	if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, o.SendBuffer); err != nil {
		if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer); err != nil {
			return nil, fmt.Errorf("setsockopt SO_SNDBUF: %w", err)
		}
	}
	if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, o.ReceiveBuffer); err != nil {
		if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, o.ReceiveBuffer); err != nil {
			return nil, fmt.Errorf("setsockopt SO_RCVBUF: %w", err)
		}
	}

	req := unix.TpacketReq{
		Block_size: uint32(o.BlockSize),
		Block_nr:   uint32(o.NumBlocks),
		Frame_size: uint32(o.FrameSize),
		Frame_nr:   uint32(p.slots),
	}
	if err := unix.SetsockoptTpacketReq(p.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("setsockopt PACKET_RX_RING (%d blocks of %d bytes, %d-byte frames): %w", o.NumBlocks, o.BlockSize, o.FrameSize, err)
	}
	p.ring, err = unix.Mmap(p.fd, 0, o.BlockSize*o.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap ring: %w", err)
	}

	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: p.index}
	if err := unix.Bind(p.fd, sa); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if o.Promisc {
		mreq := unix.PacketMreq{Ifindex: int32(p.index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(p.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return nil, fmt.Errorf("promiscuous membership: %w", err)
		}
	}

	p.rpoll = [2]unix.PollFd{
		{Fd: int32(p.fd), Events: unix.POLLIN},
		{Fd: int32(p.efd), Events: unix.POLLIN},
	}
	p.rmsg.Iov = &p.riov
	p.rmsg.SetIovlen(1)
	p.rmsg.Control = &p.roob[0]
	p.wpoll = [2]unix.PollFd{
		{Fd: int32(p.fd), Events: unix.POLLOUT},
		{Fd: int32(p.efd), Events: unix.POLLIN},
	}
	p.epoll = [1]unix.PollFd{{Fd: int32(p.efd), Events: unix.POLLIN}}
	p.wtimeout = int((o.WriteTimeout + time.Millisecond - 1) / time.Millisecond)
	for i := range p.msgs {
		p.msgs[i].Hdr.Iov = &p.iovs[i]
		p.msgs[i].Hdr.SetIovlen(1)
	}
	return p, nil
}

// release frees what open acquired; Close does the same after stopping
// Read and Write.
func (p *Port) release() {
	if p.ring != nil {
		_ = unix.Munmap(p.ring)
		p.ring = nil
	}
	if p.fd >= 0 {
		_ = unix.Close(p.fd)
		p.fd = -1
	}
	if p.efd >= 0 {
		_ = unix.Close(p.efd)
		p.efd = -1
	}
}

// Name returns the interface name the Port was opened on.
func (p *Port) Name() string { return p.name }

// Index returns the interface index, read at Open.
func (p *Port) Index() int { return p.index }

// MAC returns the interface's hardware address, read at Open.
func (p *Port) MAC() [6]byte { return p.mac }

// Close unblocks a pending Read or Write, which return
// dataplane.ErrClosed, then unmaps the ring and closes the socket, which
// also ends the promiscuous membership. It is idempotent.
func (p *Port) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		var one [8]byte
		one[0] = 1 // host-endian uint64 1; any non-zero value wakes poll
		_, _ = unix.Write(p.efd, one[:])
		p.rmu.Lock() // Read has returned and will not touch the ring again
		p.wmu.Lock()
		p.smu.Lock()
		p.pollStats()
		p.release()
		p.smu.Unlock()
		p.wmu.Unlock()
		p.rmu.Unlock()
	})
	return nil
}

// Stats returns the Port's counters. It may be called at any time, also
// while Read and Write run and after Close.
func (p *Port) Stats() Stats {
	p.smu.Lock()
	if !p.closed.Load() {
		p.pollStats()
	}
	p.smu.Unlock()
	return Stats{
		ReadFrames:  p.readFrames.Load(),
		ReadBytes:   p.readBytes.Load(),
		WriteFrames: p.writeFrames.Load(),
		WriteBytes:  p.writeBytes.Load(),
		RingDrops:   p.ringDrops.Load(),
		Truncated:   p.truncated.Load(),
		Copied:      p.copied.Load(),
		WriteErrors: p.writeErrors.Load(),
		WriteDrops:  p.writeDrops.Load(),
		QdiscBypass: p.bypass.Load(),
	}
}

// pollStats folds the kernel's ring counters, which reset on every read,
// into the Port's. Called with smu held and fd open.
func (p *Port) pollStats() {
	st, err := unix.GetsockoptTpacketStats(p.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return
	}
	p.ringDrops.Add(uint64(st.Drops))
}

func htons(v uint16) uint16 {
	var b [2]byte
	b[0], b[1] = byte(v>>8), byte(v)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}
