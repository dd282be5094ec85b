package config

import "slices"

// CheckHost reports the members and the vnics other than TAPs (which
// the daemon creates) that do not exist on this host, as an *Error
// naming members[i].name or vnics[i].name. exists is typically a
// netlink link lookup; it is a parameter so that this package needs no
// privileges and no Linux. Parse does not call it: "--check" on another
// machine is still useful.
func (c *Config) CheckHost(exists func(name string) bool) error {
	var ps problems
	for i, m := range c.Members {
		if !exists(m.Name) {
			ps.add(0, index("members", i)+".name", "no interface %q on this host", m.Name)
		}
	}
	for i, v := range c.VNICs {
		if !v.TAP && !exists(v.Name) {
			ps.add(0, index("vnics", i)+".name", "no interface %q on this host; create it first (e.g. the host end of the VM's veth), or set tap: true to have teamd-go create a TAP", v.Name)
		}
	}
	return ps.err(c.Path)
}

// Clone returns a deep copy of c, for changing a running
// configuration (a member added by "ctl port add") without touching
// the one in use.
func (c *Config) Clone() *Config {
	d := *c
	d.Hash = slices.Clone(c.Hash)
	d.Members = slices.Clone(c.Members)
	d.VNICs = slices.Clone(c.VNICs)
	for i := range d.VNICs {
		d.VNICs[i].MACs = slices.Clone(d.VNICs[i].MACs)
		d.VNICs[i].VLAN.Trunk = slices.Clone(d.VNICs[i].VLAN.Trunk)
	}
	d.Warnings = slices.Clone(c.Warnings)
	return &d
}
