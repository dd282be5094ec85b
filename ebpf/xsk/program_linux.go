//go:build linux

package xskprog

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Program is the XDP program loaded for one interface, with its maps.
// Methods are safe for concurrent use.
type Program struct {
	objs  objects
	bound *ebpf.Program // the device-bound copy attached in driver mode, or nil
	link  link.Link     // nil until Attach
	mode  Mode

	// Frags reports whether the program is multi-buffer aware (LoadFrags).
	Frags bool

	// DriverErr is why native XDP was refused when ModeAuto fell back to
	// generic mode, nil otherwise. The caller logs it.
	DriverErr error

	// VLANErr is why the program could not be bound to the device in
	// driver mode (a kernel before 6.3), nil otherwise: then, as in
	// generic mode, VLAN tags the driver holds beside the frame are not
	// recovered. The caller logs it.
	VLANErr error
}

// objects are the maps and the unbound program, which Load loads; the
// device-bound xsk_redirect_vlan is loaded by Attach.
type objects struct {
	XskRedirect *ebpf.Program `ebpf:"xsk_redirect"`
	Xsks        *ebpf.Map     `ebpf:"xsks"`
	Counters    *ebpf.Map     `ebpf:"counters"`
}

func (o *objects) Close() error {
	return errors.Join(o.XskRedirect.Close(), o.Xsks.Close(), o.Counters.Close())
}

// Load loads the program and its maps into the kernel, not attached.
func Load() (*Program, error) { return loadProgram(false) }

// LoadFrags is Load with the programs declared multi-buffer aware
// (BPF_F_XDP_HAS_FRAGS, Linux 5.18): they never read past a frame's first
// buffer, so a frame in several is redirected whole. A veth keeps an MTU
// above 3506 only under such a program (drivers/net/veth.c veth_xdp_set,
// ERANGE), and an AF_XDP socket bound with XDP_USE_SG then receives the
// frame as a chain of descriptors.
func LoadFrags() (*Program, error) { return loadProgram(true) }

func loadProgram(frags bool) (*Program, error) {
	p := &Program{Frags: frags}
	spec, err := loadXsk()
	if err != nil {
		return nil, fmt.Errorf("load xdp program: %w", err)
	}
	if frags {
		spec.Programs[xskProgXskRedirect].Flags |= unix.BPF_F_XDP_HAS_FRAGS
	}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("load xdp program: %w", err)
	}
	if p.objs.Xsks.MaxEntries() != MaxQueues {
		p.objs.Close()
		return nil, fmt.Errorf("xdp program: xsks map has %d entries, want %d", p.objs.Xsks.MaxEntries(), MaxQueues)
	}
	return p, nil
}

// Attach attaches the program to the interface with index ifindex in the
// calling thread's network namespace, through a BPF link. The error
// carries the kernel's reason (for example EBUSY when another program is
// attached, or EOPNOTSUPP from a driver without XDP).
func (p *Program) Attach(ifindex int, mode Mode) error {
	if p.link != nil {
		return errors.New("xdp program already attached")
	}
	attach := func(flags link.XDPAttachFlags) (link.Link, error) {
		prog := p.objs.XskRedirect
		if flags == link.XDPDriverMode {
			// Bound to the device, the program reaches the driver's
			// VLAN metadata kfunc; a bound program attaches in driver
			// mode only.
			if p.bound == nil && p.VLANErr == nil {
				p.bound, p.VLANErr = p.loadBound(ifindex)
			}
			if p.bound != nil {
				prog = p.bound
			}
		}
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: flags})
	}
	var err error
	switch mode {
	case ModeDriver:
		p.link, err = attach(link.XDPDriverMode)
	case ModeGeneric:
		p.link, err = attach(link.XDPGenericMode)
	case ModeAuto:
		p.link, err = attach(link.XDPDriverMode)
		if err != nil {
			p.DriverErr = err
			p.VLANErr = nil // generic mode has no VLAN metadata either way
			mode = ModeGeneric
			p.link, err = attach(link.XDPGenericMode)
		}
	default:
		return fmt.Errorf("xdp attach mode %d", mode)
	}
	if err != nil {
		p.link = nil
		if p.DriverErr != nil {
			// Both refused: the driver's reason is the one that tells
			// (generic mode on a device that has a program says only
			// EEXIST).
			return fmt.Errorf("attach xdp program (driver mode: %w; generic mode: %w)", p.DriverErr, err)
		}
		return fmt.Errorf("attach xdp program (%s mode): %w", mode, err)
	}
	p.mode = mode
	return nil
}

// loadBound loads xsk_redirect_vlan bound to the device ifindex
// (BPF_F_XDP_DEV_BOUND_ONLY), sharing the maps of p.
func (p *Program) loadBound(ifindex int) (*ebpf.Program, error) {
	spec, err := loadXsk()
	if err != nil {
		return nil, err
	}
	ps := spec.Programs[xskProgXskRedirectVlan]
	ps.Flags |= unix.BPF_F_XDP_DEV_BOUND_ONLY
	if p.Frags {
		ps.Flags |= unix.BPF_F_XDP_HAS_FRAGS
	}
	ps.Ifindex = uint32(ifindex)
	var objs struct {
		Prog *ebpf.Program `ebpf:"xsk_redirect_vlan"`
	}
	err = spec.LoadAndAssign(&objs, &ebpf.CollectionOptions{MapReplacements: map[string]*ebpf.Map{
		xskMapXsks: p.objs.Xsks, xskMapCounters: p.objs.Counters,
	}})
	if err != nil {
		return nil, fmt.Errorf("load xdp program bound to interface %d: %w", ifindex, err)
	}
	return objs.Prog, nil
}

// Mode returns the mode the program is attached in.
func (p *Program) Mode() Mode { return p.mode }

// Register puts the AF_XDP socket fd in the slot of RX queue queue: from
// now on the queue's frames go to it.
func (p *Program) Register(queue int, fd int) error {
	if queue < 0 || queue >= MaxQueues {
		return fmt.Errorf("register socket: queue %d out of range [0, %d)", queue, MaxQueues)
	}
	if err := p.objs.Xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("register socket for queue %d: %w", queue, err)
	}
	return nil
}

// Unregister empties the slot of RX queue queue; its frames go to the
// stack again. Emptying an empty slot is not an error.
func (p *Program) Unregister(queue int) error {
	err := p.objs.Xsks.Delete(uint32(queue))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister socket of queue %d: %w", queue, err)
	}
	return nil
}

// Counters returns the program's counters, summed over CPUs.
func (p *Program) Counters() (Counters, error) {
	var c Counters
	for key, dst := range []*uint64{&c.Redirected, &c.Passed, &c.VLANTags, &c.VLANLost} {
		var perCPU []uint64
		if err := p.objs.Counters.Lookup(uint32(key), &perCPU); err != nil {
			return Counters{}, fmt.Errorf("read xdp counters: %w", err)
		}
		for _, v := range perCPU {
			*dst += v
		}
	}
	return c, nil
}

// Close detaches the program (if attached) and frees it and its maps. It
// is idempotent.
func (p *Program) Close() error {
	var err error
	if p.link != nil {
		err = p.link.Close()
		p.link = nil
	}
	if p.bound != nil {
		err = errors.Join(err, p.bound.Close())
		p.bound = nil
	}
	return errors.Join(err, p.objs.Close())
}
