//go:build !linux

package afpacket

import (
	"errors"
	"fmt"
)

// Port is an AF_PACKET socket; only Linux has them.
type Port struct{}

// Open fails: AF_PACKET is Linux-only.
func Open(ifname string, o Options) (*Port, error) {
	return nil, fmt.Errorf("open af_packet port %q: %w", ifname, errors.ErrUnsupported)
}

func (p *Port) Name() string                                   { return "" }
func (p *Port) Index() int                                     { return 0 }
func (p *Port) MAC() [6]byte                                   { return [6]byte{} }
func (p *Port) Stats() Stats                                   { return Stats{} }
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) { return 0, errors.ErrUnsupported }
func (p *Port) Write(frames [][]byte) (int, error)             { return 0, errors.ErrUnsupported }
func (p *Port) Close() error                                   { return nil }
func (p *Port) TxQueued() (int, error)                         { return 0, errors.ErrUnsupported }
func (p *Port) Ready() bool                                    { return true }
