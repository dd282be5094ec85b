package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/teamd-go/teamd-go/team"
)

// printStateView prints the state the way teamdctl's "state view" does:
// indented, for people.
func printStateView(w io.Writer, raw json.RawMessage) error {
	var st team.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	fmt.Fprintf(w, "team: %s\nsetup:\n  mode: %s\n  balance: %s\n  backend: %s\n", st.Team, st.Mode, st.Balance, st.Backend)
	if st.Active != "" {
		fmt.Fprintf(w, "  active member: %s\n", st.Active)
	}
	fmt.Fprintln(w, "members:")
	for _, m := range st.Members {
		fmt.Fprintf(w, "  %s\n    mac: %s\n    link: %s\n    active: %v\n    rx: %d packets %d bytes\n    tx: %d packets %d bytes\n",
			m.Name, m.MAC, m.Link, m.Active, m.RxPackets, m.RxBytes, m.TxPackets, m.TxBytes)
		if l := m.LACP; l != nil {
			fmt.Fprintf(w, "    lacp:\n      actor state: %s\n      partner state: %s\n      partner system: %s key %d port %d\n      selected: %v collecting: %v distributing: %v\n",
				l.ActorState, l.PartnerState, l.PartnerSystem, l.PartnerKey, l.PartnerPort, l.Selected, l.Collecting, l.Distributing)
		}
	}
	fmt.Fprintln(w, "vnics:")
	for _, v := range st.VNICs {
		fmt.Fprintf(w, "  %s\n    macs: %s\n    home: %s\n", v.Name, strings.Join(v.MACs, " "), v.Home)
	}
	fmt.Fprintln(w, "counters:")
	b, _ := json.Marshal(st.Counters)
	var m map[string]uint64
	_ = json.Unmarshal(b, &m)
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(w, "  %s: %d\n", k, m[k])
	}
	return nil
}

func sortedKeys(m map[string]uint64) []string {
	return slices.Sorted(maps.Keys(m))
}
