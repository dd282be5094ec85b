//go:build !linux

package daemon

import (
	"errors"
	"log/slog"

	"github.com/teamd-go/teamd-go/team"
)

// newHost: teamd-go's dataplane needs Linux (AF_PACKET, TAP, rtnetlink).
func newHost(string, *slog.Logger) (team.Host, error) {
	return nil, errors.ErrUnsupported
}
