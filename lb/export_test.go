package lb

// Test hooks into dynamic's Pickers.

// FlowSlots returns the length of a dynamic Picker's flow table.
func FlowSlots(p Picker) int { return len(p.(*dynamicPicker).table) }

// Loads returns a dynamic Picker's load estimate of each member of v at now.
func Loads(p Picker, v *View, now int64) []float64 {
	dp := p.(*dynamicPicker)
	dp.load.refresh(dp.members.of(v), now)
	out := make([]float64, len(v.Members))
	for i, id := range v.Members {
		out[i] = dp.load.load[id]
	}
	return out
}
