package lb

import "github.com/teamd-go/teamd-go/dataplane/frame"

type roundRobin struct{}

var _ Balancer = roundRobin{}

func (roundRobin) Name() string      { return RoundRobin }
func (roundRobin) NewPicker() Picker { return new(roundRobinPicker) }

// roundRobinPicker counts frames; the count survives View changes, so a
// new View continues the rotation where the old one stopped.
type roundRobinPicker struct{ n uint }

func (p *roundRobinPicker) Pick(v *View, _ *frame.Frame, _, _ int, _ int64) int {
	id := v.Members[p.n%uint(len(v.Members))]
	p.n++
	return id
}
