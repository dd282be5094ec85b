//go:build !linux

package tap

import (
	"errors"
	"fmt"
)

// Port is a TAP device; only Linux has them.
type Port struct{}

// Create fails: TAP devices are Linux-only here.
func Create(name string, mac [6]byte) (*Port, error) {
	return nil, fmt.Errorf("create tap %q: %w", name, errors.ErrUnsupported)
}

// CreateWith fails: TAP devices are Linux-only here.
func CreateWith(name string, mac [6]byte, o Options) (*Port, error) { return Create(name, mac) }

func (p *Port) Name() string                                   { return "" }
func (p *Port) MAC() [6]byte                                   { return [6]byte{} }
func (p *Port) Index() int                                     { return 0 }
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) { return 0, errors.ErrUnsupported }
func (p *Port) Write(frames [][]byte) (int, error)             { return 0, errors.ErrUnsupported }
func (p *Port) Close() error                                   { return nil }
