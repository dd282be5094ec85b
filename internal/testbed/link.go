package testbed

import "context"

// Veth creates a veth pair, aName in a and bName in b, both up, with the
// kernel's default offloads.
func Veth(ctx context.Context, a *NS, aName string, b *NS, bName string) error {
	if err := a.RunAll(ctx,
		[]string{"ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name},
		[]string{"ip", "link", "set", aName, "up"}); err != nil {
		return err
	}
	_, err := b.Run(ctx, "ip", "link", "set", bName, "up")
	return err
}

// SetMAC sets an interface's MAC address.
func (ns *NS) SetMAC(ctx context.Context, dev, mac string) error {
	_, err := ns.Run(ctx, "ip", "link", "set", dev, "address", mac)
	return err
}

// AddAddr assigns an address (CIDR) to an interface.
func (ns *NS) AddAddr(ctx context.Context, dev, cidr string) error {
	_, err := ns.Run(ctx, "ip", "addr", "add", cidr, "dev", dev)
	return err
}

// Sysctl sets KEY=VALUE settings in the namespace.
func (ns *NS) Sysctl(ctx context.Context, settings ...string) error {
	_, err := ns.Run(ctx, "sysctl", append([]string{"-qw"}, settings...)...)
	return err
}

// Offloads is what OffloadsOff turns off: checksum and segmentation
// offloads, for interfaces feeding software that cannot take GSO frames
// (Open vSwitch's userspace datapath without userspace TSO).
var Offloads = []string{"tx", "rx", "tso", "gso", "gro"}

// OffloadsOff turns off the named offloads (ethtool -K features), or all
// of Offloads when none are named.
func (ns *NS) OffloadsOff(ctx context.Context, dev string, features ...string) error {
	if len(features) == 0 {
		features = Offloads
	}
	args := []string{"-K", dev}
	for _, f := range features {
		args = append(args, f, "off")
	}
	_, err := ns.Run(ctx, "ethtool", args...)
	return err
}

// Bridge creates a Linux bridge with the given ports, all up.
func (ns *NS) Bridge(ctx context.Context, br string, ports ...string) error {
	cmds := [][]string{
		{"ip", "link", "add", br, "type", "bridge"},
		{"ip", "link", "set", br, "type", "bridge", "ageing_time", "30000"},
	}
	for _, p := range ports {
		cmds = append(cmds, []string{"ip", "link", "set", p, "master", br})
	}
	return ns.RunAll(ctx, append(cmds, []string{"ip", "link", "set", br, "up"})...)
}
