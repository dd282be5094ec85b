package lb

import "github.com/teamd-go/teamd-go/dataplane/frame"

// addressHash is both the Balancer and its Picker: the choice is a pure
// function of the flow and the member IDs, so Pickers share nothing and
// every Picker (and every run) agrees.
type addressHash struct{ fields HashFields }

var (
	_ Balancer = addressHash{}
	_ Picker   = addressHash{}
)

func (addressHash) Name() string        { return AddressHash }
func (b addressHash) NewPicker() Picker { return b }

func (b addressHash) Pick(v *View, f *frame.Frame, _, _ int, _ int64) int {
	return rendezvous(v.Members, hash64(f, b.fields))
}
