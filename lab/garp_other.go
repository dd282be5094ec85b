//go:build !linux

package lab

import (
	"errors"
	"net/netip"
	"time"
)

func sendGARP(string, netip.Addr, int, time.Duration) error { return errors.ErrUnsupported }
