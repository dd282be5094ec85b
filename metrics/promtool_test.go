package metrics

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/team"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// modeStates are teams of every mode and balancer, with every optional
// part (LACP, rx_translation) present somewhere.
func modeStates() map[string]team.State {
	lacp := fakeState()
	ab := fakeState()
	ab.Mode, ab.Balance, ab.Active = "switch-independent", "active-backup", "eth1"
	for i := range ab.Members {
		ab.Members[i].LACP = nil
	}
	ab.Members[1].Active = false
	out := map[string]team.State{"lacp": lacp, "active-backup": ab}
	for _, mb := range [][2]string{
		{"switch-independent", "hyperv-port"}, {"switch-independent", "dynamic"},
		{"switch-independent", "address-hash"}, {"static", "address-hash"}, {"static", "round-robin"},
	} {
		s := ab
		s.Mode, s.Balance, s.Active = mb[0], mb[1], ""
		s.Members = append([]team.MemberState(nil), ab.Members...)
		s.Members[1].Active = true
		s.Counters.FlowletMoves, s.Counters.FlowsReassigned = 5, 2
		out[mb[0]+" "+mb[1]] = s
	}
	xl := out["switch-independent hyperv-port"]
	xl.RxTranslation = &team.XlatState{}
	xl.Counters.RxTranslated = 9
	out["rx_translation"] = xl
	return out
}

// TestPromtool runs Prometheus' own linter, `promtool check metrics`, on
// what /metrics serves for a team of each mode: it must report nothing.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		nstest.Unavailable(t, "needs promtool (Debian package prometheus) on PATH")
	}
	for name, st := range modeStates() {
		t.Run(name, func(t *testing.T) {
			s, err := Serve("127.0.0.1:0", func() team.State { return st }, "v1.0.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			body, code := get(t, "http://"+s.Addr()+"/metrics")
			if code != 200 || !strings.Contains(body, "teamd_go_member_active") {
				t.Fatalf("GET /metrics: %d\n%s", code, body)
			}
			checkPromtool(t, promtool, body)
		})
	}
}

// checkPromtool fails t with promtool's findings on body.
func checkPromtool(t *testing.T, promtool, body string) {
	t.Helper()
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
