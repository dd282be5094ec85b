package lb

import "github.com/teamd-go/teamd-go/dataplane/frame"

type hyperVPort struct{}

var _ Balancer = hyperVPort{}

func (hyperVPort) Name() string      { return HyperVPort }
func (hyperVPort) NewPicker() Picker { return new(hyperVPortPicker) }

type hyperVPortPicker struct{ members memberSet }

func (p *hyperVPortPicker) Pick(v *View, _ *frame.Frame, vnic, _ int, _ int64) int {
	if h := home(v, vnic); has(p.members.of(v), h) {
		return h
	}
	// No usable home: place the vnic, not the flow, so all its frames
	// still leave on one member.
	return rendezvous(v.Members, uint64(vnic)*wyp0)
}
