//go:build linux

package link

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data set.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

// Features returns the offloads the interface name has on, read with the
// legacy one-feature ethtool ioctls, which every kernel still answers.
func Features(name string) (Offloads, error) {
	if len(name) >= unix.IFNAMSIZ {
		return Offloads{}, fmt.Errorf("features of %q: name too long", name)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Offloads{}, fmt.Errorf("features of %q: %w", name, err)
	}
	defer unix.Close(fd)
	var o Offloads
	for _, f := range []struct {
		cmd uint32
		on  *bool
	}{
		{unix.ETHTOOL_GTXCSUM, &o.TxChecksum},
		{unix.ETHTOOL_GSG, &o.SG},
		{unix.ETHTOOL_GTSO, &o.TSO},
		{unix.ETHTOOL_GGSO, &o.GSO},
		{unix.ETHTOOL_GGRO, &o.GRO},
	} {
		v := ethtoolValue{cmd: f.cmd}
		var ifr ifreqData
		copy(ifr.name[:], name)
		ifr.data = unsafe.Pointer(&v)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			if errno == unix.ENODEV {
				return Offloads{}, fmt.Errorf("features of %q: %w", name, ErrNotFound)
			}
			return Offloads{}, fmt.Errorf("features of %q: ethtool command %#x: %w", name, f.cmd, errno)
		}
		*f.on = v.data != 0
	}
	return o, nil
}
