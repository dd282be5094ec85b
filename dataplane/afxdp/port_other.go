//go:build !linux

package afxdp

import (
	"errors"

	"github.com/teamd-go/teamd-go/dataplane"
)

// Port is an AF_XDP socket on one interface (Linux only).
type Port struct{ DriverErr, VLANErr error }

// Open fails: AF_XDP is Linux-only.
func Open(ifname string, o Options) (*Port, error) { return nil, errors.ErrUnsupported }

func (p *Port) Name() string                                   { return "" }
func (p *Port) Index() int                                     { return 0 }
func (p *Port) MAC() [6]byte                                   { return [6]byte{} }
func (p *Port) Read(frames [][]byte, sizes []int) (int, error) { return 0, dataplane.ErrClosed }
func (p *Port) Write(frames [][]byte) (int, error)             { return 0, dataplane.ErrClosed }
func (p *Port) Close() error                                   { return nil }
func (p *Port) Stats() Stats                                   { return Stats{} }
func (p *Port) TxQueued() (int, error)                         { return 0, errors.ErrUnsupported }
func (p *Port) ReadLoan(frames [][]byte, sizes []int) (int, error) {
	return 0, dataplane.ErrClosed
}
func (p *Port) Release()    {}
func (p *Port) Ready() bool { return true }
