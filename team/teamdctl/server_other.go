//go:build !linux

package teamdctl

import (
	"errors"
	"log/slog"
	"path/filepath"
	"time"
)

// Dir is where teamd's sockets live.
var Dir = "/var/run/teamd"

// SocketPath returns the socket of a team.
func SocketPath(team string) string { return filepath.Join(Dir, team+".sock") }

// Options bound what clients can make the server hold.
type Options struct {
	MaxConns    int
	MaxRequest  int
	IdleTimeout time.Duration
}

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
