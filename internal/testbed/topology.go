package testbed

import (
	"context"
	"fmt"
	"strings"
)

// Topology is a network described as data; Build makes it. Everything is
// named by role (a namespace's role, its Prefix-ROLE name made by the
// Bed) and made in this order: namespaces (with their sysctls), links,
// Linux bridges, interface settings, switches, daemons.
type Topology struct {
	Namespaces []Namespace
	Links      []Link
	Bridges    []Bridge
	Ifaces     []Iface
	Switches   []SwitchSpec
	Daemons    []DaemonAt
}

// Namespace is a namespace by role, with sysctls (KEY=VALUE) set right
// after it is created, before any link exists (so net.*.default.* covers
// them).
type Namespace struct {
	Role    string
	Sysctls []string
}

// End is one end of a link: an interface in a namespace.
type End struct{ NS, Dev string }

// Link is a veth pair, both ends up, default offloads.
type Link struct{ A, B End }

// Bridge is a Linux bridge over ports of its namespace.
type Bridge struct {
	NS, Name string
	Ports    []string
}

// Iface is how an interface is set up, in this order: MAC, sysctls
// (KEY=VALUE, e.g. net.ipv4.conf.eth0.arp_notify=1), offloads turned off,
// addresses, routes ("default via 10.0.0.1", "10.2.0.0/24 via 10.3.0.1").
type Iface struct {
	NS, Dev string
	MAC     string
	Sysctls []string
	// OffloadsOff lists ethtool -K features to turn off; nil keeps the
	// kernel's defaults.
	OffloadsOff []string
	Addrs       []string
	Routes      []string
}

// SwitchSpec is a private Open vSwitch in a namespace; Name is its
// directory under the Bed's (default "ovs-ROLE").
type SwitchSpec struct {
	NS, Name string
	Options  []OVSOption
	Bridges  []OVSBridge
}

// OVSBridge is a userspace-datapath bridge: plain ports, then bonds.
type OVSBridge struct {
	Name  string
	Ports []string
	Bonds []Bond
}

// Bond is an OVS bond; Options are Port column settings as ovs-vsctl
// takes them ("bond_mode=balance-tcp", "lacp=active", ...).
type Bond struct {
	Name    string
	Members []string
	Options []string
}

// DaemonAt is a teamd-go daemon by name, in a namespace by role.
type DaemonAt struct {
	Name, NS string
	Spec     DaemonSpec
}

// Net is a built Topology.
type Net struct {
	Bed      *Bed
	ns       map[string]*NS
	switches map[string]*Switch
	daemons  map[string]*Daemon
}

// NS is the namespace of a role (nil if there is none).
func (n *Net) NS(role string) *NS { return n.ns[role] }

// Switch is the switch in a role's namespace.
func (n *Net) Switch(role string) *Switch { return n.switches[role] }

// Daemon is a daemon by name.
func (n *Net) Daemon(name string) *Daemon { return n.daemons[name] }

// Build makes t in b. On error what was made is left for b to undo.
func Build(ctx context.Context, b *Bed, t Topology) (*Net, error) {
	n := &Net{Bed: b, ns: map[string]*NS{}, switches: map[string]*Switch{}, daemons: map[string]*Daemon{}}
	for _, s := range t.Namespaces {
		ns, err := b.NewNS(ctx, s.Role)
		if err != nil {
			return n, err
		}
		n.ns[s.Role] = ns
		if len(s.Sysctls) > 0 {
			if err := ns.Sysctl(ctx, s.Sysctls...); err != nil {
				return n, err
			}
		}
	}
	for _, l := range t.Links {
		a, err := n.role(l.A.NS)
		if err != nil {
			return n, err
		}
		z, err := n.role(l.B.NS)
		if err != nil {
			return n, err
		}
		if err := Veth(ctx, a, l.A.Dev, z, l.B.Dev); err != nil {
			return n, err
		}
	}
	for _, br := range t.Bridges {
		ns, err := n.role(br.NS)
		if err != nil {
			return n, err
		}
		if err := ns.Bridge(ctx, br.Name, br.Ports...); err != nil {
			return n, err
		}
	}
	for _, i := range t.Ifaces {
		if err := n.iface(ctx, i); err != nil {
			return n, err
		}
	}
	for _, s := range t.Switches {
		if err := n.startSwitch(s); err != nil {
			return n, err
		}
	}
	for _, d := range t.Daemons {
		ns, err := n.role(d.NS)
		if err != nil {
			return n, err
		}
		b.Logf("starting teamd-go %s in %s", d.Spec.Team, ns.Name)
		dm, err := b.StartDaemon(ctx, ns, d.Spec)
		if err != nil {
			return n, err
		}
		n.daemons[d.Name] = dm
	}
	return n, nil
}

func (n *Net) role(r string) (*NS, error) {
	if ns := n.ns[r]; ns != nil {
		return ns, nil
	}
	return nil, fmt.Errorf("topology: no namespace %q", r)
}

func (n *Net) iface(ctx context.Context, i Iface) error {
	ns, err := n.role(i.NS)
	if err != nil {
		return err
	}
	if i.MAC != "" {
		if err := ns.SetMAC(ctx, i.Dev, i.MAC); err != nil {
			return err
		}
	}
	if len(i.Sysctls) > 0 {
		if err := ns.Sysctl(ctx, i.Sysctls...); err != nil {
			return err
		}
	}
	if i.OffloadsOff != nil {
		if err := ns.OffloadsOff(ctx, i.Dev, i.OffloadsOff...); err != nil {
			return err
		}
	}
	for _, a := range i.Addrs {
		if err := ns.AddAddr(ctx, i.Dev, a); err != nil {
			return err
		}
	}
	for _, r := range i.Routes {
		if _, err := ns.Run(ctx, "ip", append([]string{"route", "add"}, strings.Fields(r)...)...); err != nil {
			return err
		}
	}
	return nil
}

func (n *Net) startSwitch(s SwitchSpec) error {
	ns, err := n.role(s.NS)
	if err != nil {
		return err
	}
	name := s.Name
	if name == "" {
		name = "ovs-" + s.NS
	}
	n.Bed.Logf("starting Open vSwitch in %s", ns.Name)
	sw, err := n.Bed.StartSwitch(ns, name, s.Options...)
	if err != nil {
		return err
	}
	n.switches[s.NS] = sw
	for _, br := range s.Bridges {
		if err := sw.AddBridge(br.Name); err != nil {
			return err
		}
		for _, p := range br.Ports {
			if err := sw.AddPort(br.Name, p); err != nil {
				return err
			}
		}
		for _, bd := range br.Bonds {
			if err := sw.AddBond(br.Name, bd.Name, bd.Members, bd.Options...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pair is the Link between aDev in namespace aNS and bDev in bNS.
func Pair(aNS, aDev, bNS, bDev string) Link {
	return Link{A: End{NS: aNS, Dev: aDev}, B: End{NS: bNS, Dev: bDev}}
}

// Roles are namespaces by role, without sysctls.
func Roles(roles ...string) []Namespace {
	l := make([]Namespace, len(roles))
	for i, r := range roles {
		l[i].Role = r
	}
	return l
}
