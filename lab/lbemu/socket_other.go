//go:build !linux

package lbemu

import (
	"errors"
	"fmt"
)

// Open fails: packet sockets and network namespaces exist only on Linux.
func Open(cfg Config) (*Router, error) {
	return nil, fmt.Errorf("load balancer emulator: %w", errors.ErrUnsupported)
}
