//go:build linux

package link

import (
	"fmt"

	"github.com/mdlayher/ethtool"
)

// Speed returns an interface's link speed in Mbit/s and its duplex
// ("full", "half" or "" when the driver does not say), as `ethtool NAME`
// shows them, read over ethtool's generic netlink family.
func Speed(name string) (mbit int, duplex string, err error) {
	c, err := ethtool.New()
	if err != nil {
		return 0, "", fmt.Errorf("ethtool: %w", err)
	}
	defer c.Close()
	lm, err := c.LinkMode(ethtool.Interface{Name: name})
	if err != nil {
		return 0, "", fmt.Errorf("ethtool link mode of %s: %w", name, err)
	}
	switch lm.Duplex {
	case ethtool.Full:
		duplex = "full"
	case ethtool.Half:
		duplex = "half"
	}
	if lm.SpeedMegabits > 0 && lm.SpeedMegabits != 0xffffffff { // SPEED_UNKNOWN
		mbit = lm.SpeedMegabits
	}
	return mbit, duplex, nil
}
