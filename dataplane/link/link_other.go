//go:build !linux

package link

import (
	"errors"
	"fmt"
	"log/slog"
)

// Monitor follows interface state; only Linux has it.
type Monitor struct{}

// NewMonitor fails: only Linux is supported.
func NewMonitor(fn func(Event), log *slog.Logger) (*Monitor, error) {
	return nil, fmt.Errorf("link monitor: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (m *Monitor) Close() error { return nil }

// TakeoverOptions is what Takeover changes besides the admin state.
type TakeoverOptions struct {
	MTU int
	MAC [6]byte
}

// Taken is an interface taken over by Takeover.
type Taken struct{}

// Takeover fails: only Linux is supported.
func Takeover(name string, o TakeoverOptions) (*Taken, error) {
	return nil, fmt.Errorf("take over %q: %w", name, errors.ErrUnsupported)
}

// Original returns the zero Event.
func (t *Taken) Original() Event { return Event{} }

// Restore does nothing.
func (t *Taken) Restore() error { return nil }

// ByName fails: only Linux is supported.
func ByName(name string) (Event, error) {
	return Event{}, fmt.Errorf("link %q: %w", name, errors.ErrUnsupported)
}

// Exists reports false.
func Exists(name string) bool { return false }

// Features fails: only Linux is supported.
func Features(name string) (Offloads, error) {
	return Offloads{}, fmt.Errorf("features of %q: %w", name, errors.ErrUnsupported)
}

// Prober reads an interface's carrier (Linux only).
type Prober struct{}

// NewProber is not supported on this platform.
func NewProber() (*Prober, error) { return nil, errors.ErrUnsupported }

// Carrier is not supported on this platform.
func (p *Prober) Carrier(name string) (bool, error) { return false, errors.ErrUnsupported }

// Close does nothing.
func (p *Prober) Close() error { return nil }
