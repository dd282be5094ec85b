//go:build !linux

package link

import "errors"

// Speed is not supported on this platform.
func Speed(name string) (mbit int, duplex string, err error) { return 0, "", errors.ErrUnsupported }
