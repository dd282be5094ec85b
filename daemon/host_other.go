//go:build !linux

package daemon

import (
	"errors"

	"github.com/teamd-go/teamd-go/team"
)

// newHost: teamd-go's dataplane needs Linux (AF_PACKET, TAP, rtnetlink).
func newHost(string) (team.Host, error) {
	return nil, errors.ErrUnsupported
}
