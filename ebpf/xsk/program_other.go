//go:build !linux

package xskprog

import "errors"

// Program is the XDP program loaded for one interface (Linux only).
type Program struct {
	Frags     bool
	DriverErr error
}

// Load fails: XDP is Linux-only.
func Load() (*Program, error) { return nil, errors.ErrUnsupported }

// LoadFrags fails: XDP is Linux-only.
func LoadFrags() (*Program, error) { return nil, errors.ErrUnsupported }

func (p *Program) Attach(ifindex int, mode Mode) error { return errors.ErrUnsupported }
func (p *Program) Mode() Mode                          { return ModeAuto }
func (p *Program) Register(queue int, fd int) error    { return errors.ErrUnsupported }
func (p *Program) Unregister(queue int) error          { return errors.ErrUnsupported }
func (p *Program) Counters() (Counters, error)         { return Counters{}, errors.ErrUnsupported }
func (p *Program) Close() error                        { return nil }
