package lbtest

import (
	"testing"

	"github.com/teamd-go/teamd-go/dataplane/frame"
)

func TestFlow(t *testing.T) {
	seen := map[frame.Key]uint64{}
	var f, g frame.Frame
	for i := range uint64(5000) {
		Flow(i, &f)
		if err := frame.Parse(Packet(i), &g); err != nil || g != f {
			t.Fatalf("flow %d: Flow and Parse(Packet) differ: %+v, %+v (%v)", i, f, g, err)
		}
		if !f.HasIP || f.L4 == 0 {
			t.Fatalf("flow %d: %+v has no IP or ports", i, f)
		}
		if j, dup := seen[f.Key]; dup {
			t.Fatalf("flows %d and %d are the same", j, i)
		}
		seen[f.Key] = i
	}
	if a := testing.AllocsPerRun(100, func() { Flow(7, &f) }); a != 0 {
		t.Errorf("Flow allocates %v times", a)
	}
	ARP(1, &f)
	if f.HasIP || f.EtherType != frame.EtherTypeARP {
		t.Errorf("ARP: %+v", f)
	}
}

func TestViews(t *testing.T) {
	v := Homed(5, 3, 1)
	w := Without(v, 3)
	if len(w.Members) != 1 || w.Members[0] != 1 || len(w.Home) != 5 || w.Home[0] != 3 || w.Home[1] != 1 {
		t.Errorf("Homed/Without: %+v -> %+v", v, w)
	}
	w.Home[0] = 9
	if v.Home[0] != 3 {
		t.Error("Without shares Home with its input")
	}
}
