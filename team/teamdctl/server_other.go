//go:build !linux

package teamdctl

import (
	"errors"
	"log/slog"
)

// Server serves teamd's protocol (Linux only).
type Server struct{}

// Listen is not supported on this platform.
func Listen(path string, b Backend, log *slog.Logger, o Options) (*Server, error) {
	return nil, errors.ErrUnsupported
}

// Path returns "".
func (s *Server) Path() string { return "" }

// Close does nothing.
func (s *Server) Close() error { return nil }

// CheckFree is Linux-only, as Listen.
func CheckFree(path string) error { return nil }
