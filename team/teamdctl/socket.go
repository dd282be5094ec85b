package teamdctl

import (
	"path/filepath"
	"time"
)

// Dir is where teamd's sockets live (teamd's compile-time default, which
// Debian's teamdctl uses).
var Dir = "/var/run/teamd"

// SocketPath returns the socket of a team.
func SocketPath(team string) string { return filepath.Join(Dir, team+".sock") }

// Options bound what clients can make the server hold.
type Options struct {
	// MaxConns is the number of connections served at once; one more is
	// answered with a TooMany error and closed. Default 16.
	MaxConns int
	// MaxRequest is the largest request packet; a larger one is answered
	// with a TooMany error. Default 64 KiB.
	MaxRequest int
	// IdleTimeout closes a connection that sends nothing for that long
	// (teamdctl sends its requests back to back). Default 10 s.
	IdleTimeout time.Duration
}
