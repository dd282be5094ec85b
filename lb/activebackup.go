package lb

import "github.com/teamd-go/teamd-go/dataplane/frame"

// activeBackup is both the Balancer and its (stateless) Picker.
type activeBackup struct{}

var (
	_ Balancer = activeBackup{}
	_ Picker   = activeBackup{}
)

func (activeBackup) Name() string      { return ActiveBackup }
func (activeBackup) NewPicker() Picker { return activeBackup{} }

func (activeBackup) Pick(v *View, _ *frame.Frame, _, _ int, _ int64) int {
	return v.Members[0]
}
