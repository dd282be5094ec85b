//go:build linux

package afxdp

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	xskprog "github.com/teamd-go/teamd-go/ebpf/xsk"
)

// Port is a set of AF_XDP sockets, one per RX queue of one interface,
// with the interface's XDP program redirecting into them. It implements
// dataplane.Port.
//
// One goroutine may Read while another Writes; Read is not safe for
// concurrent use with itself, nor Write with itself. Close, Stats, Name,
// Index and MAC are safe from any goroutine at any time.
type Port struct {
	name  string
	index int
	mac   [6]byte
	opts  Options

	socks []*socket // one per RX queue
	tx    *socket   // socks[0]: Write sends on it
	efd   int       // eventfd, made readable by Close to wake Read and Write
	pfd   int       // AF_PACKET socket holding the promiscuous membership, or -1
	prog  *xskprog.Program
	umem  *UMEM // the shared UMEM the sockets use, or nil

	// DriverErr is why native XDP was refused when the program fell back
	// to generic mode (Options.Mode ModeAuto), nil otherwise.
	DriverErr error
	// SharedErr is why the sockets could not share Options.UMEM (the
	// kernel refused the shared bind), so that the Port has its own,
	// nil otherwise.
	SharedErr error
	// VLANErr is why the program could not be bound to the device in
	// driver mode, so that VLAN tags the driver holds beside the frame
	// are not recovered (see VLAN tags in the package doc), nil otherwise.
	VLANErr error

	closed atomic.Bool
	once   sync.Once
	rmu    sync.Mutex
	wmu    sync.Mutex
	smu    sync.Mutex // serialises XDP_STATISTICS and program reads with Close

	// Receive state, owned by Read.
	_          cpu.CacheLinePad
	rpoll      []unix.PollFd // the sockets, then efd
	next       int           // socket Read starts at, for fairness
	lent       bool          // ReadLoan lent frames; rmu is held until Release
	readFrames atomic.Uint64
	readBytes  atomic.Uint64
	truncated  atomic.Uint64
	partial    atomic.Uint64

	// Transmit state, owned by Write.
	_           cpu.CacheLinePad
	epoll       [1]unix.PollFd
	sleepTS     unix.Timespec
	writeFrames atomic.Uint64
	writeBytes  atomic.Uint64
	writeShared atomic.Uint64
	writeErrors atomic.Uint64
	gsoDropped  atomic.Uint64
	writeDrops  atomic.Uint64
}

// Open opens a Port on interface ifname in the calling thread's network
// namespace: it creates a socket with its UMEM and rings for each RX
// queue and binds it, loads the XDP program, registers the sockets with it and attaches it
// to the interface through a BPF link, so the program goes away with the
// process however it ends. An error names the interface and carries the
// kernel's reason; nothing acquired is left behind.
func Open(ifname string, o Options) (*Port, error) {
	p, err := open(ifname, o.withDefaults())
	if errors.Is(err, errSharedBind) {
		// Another mode than the UMEM's first binding (a zero-copy NIC
		// and a veth): this Port keeps a UMEM of its own.
		o.UMEM = nil
		serr := err
		if p, err = open(ifname, o.withDefaults()); err == nil {
			p.SharedErr = serr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open af_xdp port %q: %w", ifname, err)
	}
	return p, nil
}

func open(ifname string, o Options) (_ *Port, err error) {
	switch {
	case o.NumFrames < 4 || o.NumFrames&(o.NumFrames-1) != 0:
		return nil, fmt.Errorf("%d frames: want a power of two, at least 4", o.NumFrames)
	case o.WriteTimeout < 0:
		return nil, errors.New("negative write timeout")
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, ErrNotEthernet
	}
	// A frame of the MTU (and a VLAN tag) in one UMEM frame, behind
	// XDP's headroom; beyond that, a frame spans several (multi-buffer).
	fits := func(size int) bool { return ifi.MTU+14+4 <= size-xdpHeadroom }
	if o.FrameSize == 0 {
		o.FrameSize = DefaultFrameSize
		if !fits(DefaultFrameSize) {
			o.FrameSize = 4096
		}
	}
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		return nil, fmt.Errorf("frame size %d: want 2048 or 4096", o.FrameSize)
	}
	multi := !fits(o.FrameSize)
	// A shared UMEM when its frames hold this interface's frames whole
	// (a chain of descriptors takes a socket's own UMEM: see the doc).
	u := o.UMEM
	if u != nil && !fits(u.FrameSize()) {
		u = nil
	}
	if u != nil {
		o.FrameSize, multi = u.FrameSize(), false
	}
	nq := rxQueues(ifname)
	if nq > xskprog.MaxQueues {
		return nil, fmt.Errorf("%d RX queues: %w", nq, ErrMultiQueue)
	}
	p := &Port{name: ifname, index: ifi.Index, opts: o, efd: -1, pfd: -1}
	if u != nil {
		if err := u.use(mmapUMEM); err != nil {
			return nil, err
		}
		p.umem = u
	}
	copy(p.mac[:], ifi.HardwareAddr)
	defer func() {
		if err != nil {
			p.release()
		}
	}()
	p.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// Queue 0 sends and receives and has the full UMEM; the other
	// queues only receive, with a share of it each.
	for q := range nq {
		frames := o.NumFrames
		if q > 0 {
			frames = max(256, o.NumFrames/nq)
		}
		if u != nil {
			frames = min(frames, u.numFrames/4) // ring entries: half of it
		}
		s, err := openSocket(p.index, q, frames, o.FrameSize, multi, u)
		if q > 0 && errors.Is(err, unix.EINVAL) {
			// The queue is allocated but not in use (netlink counts
			// num_rx_queues, bind checks real_num_rx_queues; a veth
			// allocates one per CPU and uses one): no frame lands there.
			break
		}
		if multi && q == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
			return nil, fmt.Errorf("MTU %d needs multi-buffer AF_XDP (XDP_USE_SG, Linux 6.6), refused (%w); at most %d in one %d-byte frame: %w",
				ifi.MTU, err, o.FrameSize-xdpHeadroom-18, o.FrameSize, ErrMTU)
		}
		if err != nil {
			return nil, fmt.Errorf("queue %d: %w", q, err)
		}
		p.socks = append(p.socks, s)
	}
	if o.Promisc {
		if p.pfd, err = promisc(p.index); err != nil {
			return nil, err
		}
	}

	// Beyond one 2 KiB frame the multi-buffer aware program: a veth
	// keeps an MTU above 3506 only under such a program.
	load := xskprog.Load
	if o.FrameSize > DefaultFrameSize || multi {
		load = xskprog.LoadFrags
	}
	if p.prog, err = load(); err != nil {
		return nil, err
	}
	for q, s := range p.socks {
		if err := p.prog.Register(q, s.fd); err != nil {
			return nil, err
		}
	}
	if err := p.prog.Attach(p.index, o.Mode); err != nil {
		return nil, err
	}
	p.DriverErr = p.prog.DriverErr
	p.VLANErr = p.prog.VLANErr

	p.tx = p.socks[0]
	p.rpoll = make([]unix.PollFd, len(p.socks)+1)
	for i, s := range p.socks {
		p.rpoll[i] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	}
	p.rpoll[len(p.socks)] = unix.PollFd{Fd: int32(p.efd), Events: unix.POLLIN}
	p.epoll = [1]unix.PollFd{{Fd: int32(p.efd), Events: unix.POLLIN}}
	return p, nil
}

// socket is one AF_XDP socket, bound to one RX queue, with its UMEM and
// rings.
type socket struct {
	fd     int
	queue  int
	shared *UMEM // or nil: umem is the socket's own
	umem   []byte
	maps   [][]byte // the four rings
	zc     bool
	q      *queue
	read   atomic.Uint64 // frames Read took from this queue
}

// mmapUMEM maps size bytes of UMEM.
func mmapUMEM(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
}

// openSocket creates a socket with a UMEM of frames frames of frameSize
// bytes and rings of frames/2 entries, and binds it to RX queue queue of
// the interface: zero-copy if the driver can, else copy mode. With a
// shared UMEM u, the socket takes its frames from u instead and binds
// sharing it with one of u's bound sockets (XDP_SHARED_UMEM, with its own
// fill and completion rings: another device or queue has its own), or
// registers u's memory if none is bound.
func openSocket(ifindex, queue, frames, frameSize int, multi bool, u *UMEM) (_ *socket, err error) {
	s := &socket{fd: -1, queue: queue, shared: u}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.fd, err = unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("AF_XDP socket: %w", err)
	}
	anchor := -1
	if u != nil {
		// One bind at a time, so that two sockets do not both register.
		u.bmu.Lock()
		defer u.bmu.Unlock()
		anchor = u.anchor()
	}
	mem := s.umem
	if u == nil {
		s.umem, err = mmapUMEM(frameSize * frames)
		if err != nil {
			return nil, fmt.Errorf("mmap UMEM: %w", err)
		}
		mem = s.umem
	} else {
		mem = u.mem
	}
	if anchor < 0 {
		reg := unix.XDPUmemReg{Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))), Len: uint64(len(mem)), Size: uint32(frameSize)}
		if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			return nil, fmt.Errorf("setsockopt XDP_UMEM_REG (%d frames of %d bytes): %w", len(mem)/frameSize, frameSize, err)
		}
	}
	entries := frames / 2
	for _, r := range []struct {
		name string
		opt  int
	}{
		{"XDP_UMEM_FILL_RING", unix.XDP_UMEM_FILL_RING},
		{"XDP_UMEM_COMPLETION_RING", unix.XDP_UMEM_COMPLETION_RING},
		{"XDP_RX_RING", unix.XDP_RX_RING},
		{"XDP_TX_RING", unix.XDP_TX_RING},
	} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, r.opt, entries); err != nil {
			return nil, fmt.Errorf("setsockopt %s (%d entries): %w", r.name, entries, err)
		}
	}
	var off unix.XDPMmapOffsets
	offLen := uint32(unsafe.Sizeof(off))
	if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_MMAP_OFFSETS,
		uintptr(unsafe.Pointer(&off)), uintptr(unsafe.Pointer(&offLen)), 0); errno != 0 {
		return nil, fmt.Errorf("getsockopt XDP_MMAP_OFFSETS: %w", errno)
	}
	l := layout{umem: mem, frameSize: uint64(frameSize), rxFrames: entries, shared: u}
	if mem, l.fill, err = s.mapRing(off.Fr, unix.XDP_UMEM_PGOFF_FILL_RING, entries, 8); err != nil {
		return nil, fmt.Errorf("mmap fill ring: %w", err)
	}
	l.fills = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[off.Fr.Desc])), entries)
	if mem, l.comp, err = s.mapRing(off.Cr, unix.XDP_UMEM_PGOFF_COMPLETION_RING, entries, 8); err != nil {
		return nil, fmt.Errorf("mmap completion ring: %w", err)
	}
	l.comps = unsafe.Slice((*uint64)(unsafe.Pointer(&mem[off.Cr.Desc])), entries)
	if mem, l.rx, err = s.mapRing(off.Rx, unix.XDP_PGOFF_RX_RING, entries, int(descSize)); err != nil {
		return nil, fmt.Errorf("mmap RX ring: %w", err)
	}
	l.rxs = unsafe.Slice((*desc)(unsafe.Pointer(&mem[off.Rx.Desc])), entries)
	if mem, l.tx, err = s.mapRing(off.Tx, unix.XDP_PGOFF_TX_RING, entries, int(descSize)); err != nil {
		return nil, fmt.Errorf("mmap TX ring: %w", err)
	}
	l.txs = unsafe.Slice((*desc)(unsafe.Pointer(&mem[off.Tx.Desc])), entries)
	// The fill ring is stocked before bind, so the first frame finds room.
	l.multi = multi
	s.q = newQueue(l)

	// Frames per sendto in copy mode (Linux 6.x; older kernels keep 32).
	_ = unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, entries)

	flags := uint16(unix.XDP_USE_NEED_WAKEUP)
	if multi {
		flags |= unix.XDP_USE_SG
	}
	if anchor >= 0 {
		// The mode and the wakeup flag are those of the anchor's
		// binding; a shared bind may not ask for any.
		sa := &unix.SockaddrXDP{Flags: unix.XDP_SHARED_UMEM, Ifindex: uint32(ifindex), QueueID: uint32(queue), SharedUmemFD: uint32(anchor)}
		if err := bind(s.fd, sa); err != nil {
			return nil, fmt.Errorf("%w: %w", errSharedBind, err)
		}
		var opts uint32 // struct xdp_options: flags
		n := uint32(unsafe.Sizeof(opts))
		if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd), unix.SOL_XDP, unix.XDP_OPTIONS,
			uintptr(unsafe.Pointer(&opts)), uintptr(unsafe.Pointer(&n)), 0); errno == 0 {
			s.zc = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
		}
		u.bound(s.q, s.fd)
		return s, nil
	}
	sa := &unix.SockaddrXDP{Flags: unix.XDP_ZEROCOPY | flags, Ifindex: uint32(ifindex), QueueID: uint32(queue)}
	defer func() {
		if err == nil && u != nil {
			u.bound(s.q, s.fd)
		}
	}()
	if err := bind(s.fd, sa); err == nil {
		s.zc = true
	} else {
		sa.Flags = unix.XDP_COPY | flags
		if err := bind(s.fd, sa); err != nil {
			return nil, fmt.Errorf("bind: %w", err)
		}
	}
	return s, nil
}

// errSharedBind is a refused bind sharing a UMEM.
var errSharedBind = errors.New("bind sharing the UMEM")

// bindBusyWait bounds how long bind retries a queue that another socket
// still holds.
const bindBusyWait = 2 * time.Second

// bind binds an AF_XDP socket, retrying while the queue is busy (EBUSY):
// the socket of a process that just died keeps its queue until the
// kernel has freed it, which it does from a workqueue after the XSKMAP
// holding it is gone (net/xdp/xsk_buff_pool.c xp_put_pool), so a daemon
// restarted right after kill -9 would otherwise fail. A queue that stays
// busy (another live socket on it) still fails with EBUSY.
func bind(fd int, sa *unix.SockaddrXDP) error {
	deadline := time.Now().Add(bindBusyWait)
	for {
		err := unix.Bind(fd, sa)
		if err != unix.EBUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *socket) close() {
	if s.shared != nil {
		s.shared.unbound(s.q)
	}
	for _, m := range s.maps {
		_ = unix.Munmap(m)
	}
	s.maps = nil
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
	if s.q != nil {
		s.q.drop() // a shared UMEM's frames this socket held
		s.q = nil
	}
	if s.umem != nil {
		_ = unix.Munmap(s.umem)
		s.umem = nil
	}
}

// mapRing maps one ring of entries entries of size bytes at page offset
// pgoff and returns its memory and index words.
func (s *socket) mapRing(off unix.XDPRingOffset, pgoff int64, entries, size int) ([]byte, ring, error) {
	mem, err := unix.Mmap(s.fd, pgoff, int(off.Desc)+entries*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, ring{}, err
	}
	s.maps = append(s.maps, mem)
	word := func(o uint64) *uint32 { return (*uint32)(unsafe.Pointer(&mem[o])) }
	return mem, newRing(word(off.Producer), word(off.Consumer), word(off.Flags), uint32(entries)), nil
}

func setsockopt(fd, opt int, v unsafe.Pointer, n uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(v), n, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// promisc opens an AF_PACKET socket that receives nothing (protocol 0)
// and holds a promiscuous membership on the interface.
func promisc(index int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("promiscuous mode: socket: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("promiscuous membership: %w", err)
	}
	return fd, nil
}

// rxQueues returns the interface's number of RX queues from netlink
// (IFLA_NUM_RX_QUEUES; sysfs would show the namespace it was mounted in,
// not the caller's), or 1 if the kernel does not say.
func rxQueues(ifname string) int {
	l, err := netlink.LinkByName(ifname)
	if err != nil || l.Attrs().NumRxQueues < 1 {
		return 1
	}
	return l.Attrs().NumRxQueues
}

// release frees what open acquired, the program first so no frame is
// redirected to a closing socket.
func (p *Port) release() {
	if p.prog != nil {
		_ = p.prog.Close()
		p.prog = nil
	}
	for _, s := range p.socks {
		s.close()
	}
	p.socks = nil
	if p.umem != nil {
		p.umem.unuse(unix.Munmap)
		p.umem = nil
	}
	for _, fd := range []*int{&p.efd, &p.pfd} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// Name returns the interface name the Port was opened on.
func (p *Port) Name() string { return p.name }

// Index returns the interface index, read at Open.
func (p *Port) Index() int { return p.index }

// MAC returns the interface's hardware address, read at Open.
func (p *Port) MAC() [6]byte { return p.mac }

// Close unblocks a pending Read or Write, which return
// dataplane.ErrClosed, then detaches the XDP program and frees the socket,
// its rings and UMEM. It is idempotent.
func (p *Port) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(p.efd, one[:])
		p.rmu.Lock()
		p.wmu.Lock()
		p.smu.Lock()
		p.release()
		p.smu.Unlock()
		p.wmu.Unlock()
		p.rmu.Unlock()
	})
	return nil
}

// Stats returns the Port's counters; the kernel's and the program's read
// zero after Close.
func (p *Port) Stats() Stats {
	s := Stats{
		ReadFrames:  p.readFrames.Load(),
		ReadBytes:   p.readBytes.Load(),
		WriteFrames: p.writeFrames.Load(),
		WriteBytes:  p.writeBytes.Load(),
		WriteShared: p.writeShared.Load(),
		Truncated:   p.truncated.Load(),
		Partial:     p.partial.Load(),
		WriteErrors: p.writeErrors.Load(),
		GSODropped:  p.gsoDropped.Load(),
		WriteDrops:  p.writeDrops.Load(),
	}
	p.smu.Lock()
	defer p.smu.Unlock()
	if p.closed.Load() {
		return s
	}
	s.ZeroCopy = p.tx.zc
	s.SharedUMEM = p.tx.shared != nil
	s.Queues = len(p.socks)
	s.QueueFrames = make([]uint64, len(p.socks))
	for i, x := range p.socks {
		s.QueueFrames[i] = x.read.Load()
		var st unix.XDPStatistics
		n := uint32(unsafe.Sizeof(st))
		if _, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(x.fd), unix.SOL_XDP, unix.XDP_STATISTICS,
			uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&n)), 0); errno == 0 {
			// A frame that found the fill ring empty is counted both in
			// rx_dropped and in rx_fill_ring_empty_descs.
			s.RXDropped += st.Rx_dropped + st.Rx_ring_full
			s.TXInvalid += st.Tx_invalid_descs
		}
	}
	s.Program, _ = p.prog.Counters()
	return s
}

// sleep waits ns nanoseconds or until Close; it reports whether the Port
// was closed.
func (p *Port) sleep(ns int64) bool {
	p.sleepTS = unix.NsecToTimespec(ns)
	for {
		_, err := unix.Ppoll(p.epoll[:], &p.sleepTS, nil)
		if err == unix.EINTR {
			continue
		}
		return p.epoll[0].Revents != 0 || p.closed.Load()
	}
}
