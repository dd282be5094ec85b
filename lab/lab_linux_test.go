//go:build linux

package lab_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/teamd-go/teamd-go/lab"
	"github.com/teamd-go/teamd-go/test/nstest"
)

// TestMain lets this test binary serve as the lab's helper binary: the
// lab runs its helpers as `SELF lab --helper ...` with HelperEnv set, and
// SELF is the test binary here.
func TestMain(m *testing.M) {
	if os.Getenv(lab.HelperEnv) != "" && len(os.Args) > 2 && os.Args[1] == "lab" {
		os.Exit(lab.Main(os.Args[2:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// withBackend returns the lab's arguments with --backend
// TEAMD_TEST_BACKEND when it is set: the Makefile runs the labs once per
// backend, and the verdicts must be the same.
func withBackend(args ...string) []string {
	if b := os.Getenv("TEAMD_TEST_BACKEND"); b != "" {
		return append(args, "--backend", b)
	}
	return args
}

var (
	buildOnce sync.Once
	binDir    string
	teamdBin  string
	buildErr  error
)

// requireLab skips (fails in CI) without root and the lab's programs, and
// points the lab at a freshly built teamd-go.
func requireLab(t *testing.T) {
	t.Helper()
	nstest.Require(t)
	nstest.RequireTool(t, "ping", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-appctl")
	t.Setenv(lab.DaemonEnv, buildTeamd(t))
}

// buildTeamd builds cmd/teamd-go once per test binary.
func buildTeamd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if binDir, buildErr = os.MkdirTemp("", "tgl-teamd-go-"); buildErr != nil {
			return
		}
		teamdBin = filepath.Join(binDir, "teamd-go")
		out, err := exec.Command(goBin, "build", "-o", teamdBin, "github.com/teamd-go/teamd-go/cmd/teamd-go").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build teamd-go: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return teamdBin
}

// leftovers lists what labs leave when they fail to clean up: lab
// namespaces, processes pointing into lab run directories, lab run
// directories and lab control sockets.
func leftovers(t *testing.T) []string {
	t.Helper()
	var found []string
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && isLabName(f[0]) {
			found = append(found, "namespace "+f[0])
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(lab.RunRoot+"/")) {
			found = append(found, fmt.Sprintf("process %s: %s", filepath.Base(filepath.Dir(p)), bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	if ents, err := os.ReadDir(lab.RunRoot); err == nil {
		for _, e := range ents {
			found = append(found, "run directory "+filepath.Join(lab.RunRoot, e.Name()))
		}
	}
	socks, _ := filepath.Glob("/run/teamd-go/" + lab.Prefix + "[0-9]*.sock")
	for _, s := range socks {
		found = append(found, "control socket "+s)
	}
	return found
}

// isLabName matches the lab's own names (tgl<digits>...), not the
// test helpers' (tgle..., tgt..., tgb...).
func isLabName(s string) bool {
	rest, ok := strings.CutPrefix(s, lab.Prefix)
	return ok && rest != "" && rest[0] >= '0' && rest[0] <= '9'
}

func newLeftovers(t *testing.T, before []string) []string {
	t.Helper()
	var n []string
	for _, l := range leftovers(t) {
		if !slices.Contains(before, l) {
			n = append(n, l)
		}
	}
	return n
}

type row struct {
	Scenario          string         `json:"scenario"`
	Variant           string         `json:"variant"`
	Attempts          int            `json:"attempts"`
	Succeeded         int            `json:"succeeded"`
	Verdict           string         `json:"verdict"`
	Expected          string         `json:"expected"`
	Why               string         `json:"why"`
	Error             string         `json:"error"`
	RxDroppedNotOwned *uint64        `json:"rx_dropped_not_owned"`
	TxRewritten       *uint64        `json:"tx_source_mac_rewritten"`
	LBSentTo          map[string]int `json:"lb_sent_to"`
	FailedLastHops    map[string]int `json:"failed_last_hops"`
}

// verdictAsWanted checks the row is of the scenario, expects the verdict
// want names for its variant, and reached it; the evidence is checked
// only then.
func (r row) verdictAsWanted(t *testing.T, scenario string, want map[string]string) bool {
	t.Helper()
	if r.Scenario != scenario || r.Expected != want[r.Variant] {
		t.Errorf("row %s/%s expects %q, want %q", r.Scenario, r.Variant, r.Expected, want[r.Variant])
	}
	switch {
	case r.Verdict == want[r.Variant]:
		return true
	case r.Verdict == "error":
		t.Errorf("%s was not measured: %s", r.Variant, r.Error)
	default:
		t.Errorf("%s: verdict %s, want %s (%d/%d): %s", r.Variant, r.Verdict, want[r.Variant], r.Succeeded, r.Attempts, r.Why)
	}
	return false
}

func decodeRows(t *testing.T, out []byte) []row {
	t.Helper()
	var rows []row
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not a JSON row: %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestAutoLastHop runs the whole scenario as `teamd-go lab auto-last-hop
// --json` would, checks every variant's verdict and the evidence behind
// the broken one, and that nothing is left behind.
func TestAutoLastHop(t *testing.T) {
	requireLab(t)
	before := leftovers(t)
	var stdout, stderr bytes.Buffer
	code := lab.Main(withBackend("auto-last-hop", "--json"), &stdout, &stderr)
	t.Logf("lab output:\n%s\n%s", stderr.String(), stdout.String())
	rows := decodeRows(t, stdout.Bytes())

	want := map[string]string{
		"si-dynamic":     "broken",
		"si-hyperv-port": "ok",
		"static-dynamic": "ok",
		"lacp-dynamic":   "ok",
		"lb-off":         "ok",
		"router-between": "ok",
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rows), len(want))
	}
	for _, r := range rows {
		if !r.verdictAsWanted(t, "auto-last-hop", want) {
			continue
		}
		if r.Attempts != 100 || r.RxDroppedNotOwned == nil || r.TxRewritten == nil {
			t.Errorf("%s: incomplete row %+v", r.Variant, r)
			continue
		}
		switch r.Variant {
		case "si-dynamic":
			// The bug's mechanism, not any failure: the failed
			// connections were opened from m2's MAC, and the team
			// dropped frames addressed to it.
			failed := r.Attempts - r.Succeeded
			if r.FailedLastHops["m2"] != failed || *r.RxDroppedNotOwned == 0 || *r.TxRewritten == 0 || r.LBSentTo["m2"] == 0 {
				t.Errorf("si-dynamic broke, but not by the auto-last-hop mechanism: %+v", r)
			}
		case "si-hyperv-port", "static-dynamic", "lacp-dynamic":
			if *r.TxRewritten != 0 || *r.RxDroppedNotOwned != 0 {
				t.Errorf("%s: rewritten %d, not owned %d; want 0, 0", r.Variant, *r.TxRewritten, *r.RxDroppedNotOwned)
			}
		case "lb-off", "router-between":
			// The team did rewrite: the fix is on the other side.
			if *r.TxRewritten == 0 {
				t.Errorf("%s: no source MAC rewritten, so the variant proves nothing", r.Variant)
			}
		}
	}
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if l := newLeftovers(t, before); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

// smRow is a stale-mac row.
type smRow struct {
	row
	VMMAC       string `json:"vm_mac"`
	VMMACBefore string `json:"vm_mac_before"`
	Host        string `json:"host"`
	TeamMAC     string `json:"team_mac"`
	Binding     *struct {
		IP, MAC, VNIC string
	} `json:"binding"`
	ClientARP struct {
		LLAddr string `json:"lladdr"`
	} `json:"client_arp"`
	RxTranslated   *uint64 `json:"rx_translated"`
	AfterMigration *struct {
		Attempts, Succeeded int
	} `json:"after_migration"`
}

// TestStaleMAC runs `teamd-go lab stale-mac --json` and checks each
// variant's verdict and the evidence for it: a broken row is the bug's
// failure (every probe lost, the team still bound to the VM's old MAC,
// dropped as not owned, the client's ARP entry right), an ok row has the
// team bound to the VM's MAC now; and that nothing is left behind.
func TestStaleMAC(t *testing.T) {
	requireLab(t)
	before := leftovers(t)
	var stdout, stderr bytes.Buffer
	code := lab.Main(withBackend("stale-mac", "--json"), &stdout, &stderr)
	t.Logf("lab output:\n%s\n%s", stderr.String(), stdout.String())

	want := map[string]string{
		"static-mac-init":        "ok",
		"dynamic-mac-init":       "broken",
		"dynamic-mac-toggle":     "ok",
		"dynamic-mac-continuous": "ok",
		"migrate-init":           "broken",
		"migrate-continuous":     "ok",
		// The same restarts with a VM and a client that have only IPv6.
		"dynamic-mac-init-ipv6":       "broken",
		"dynamic-mac-toggle-ipv6":     "ok",
		"dynamic-mac-continuous-ipv6": "ok",
	}
	var rows []smRow
	sc := bufio.NewScanner(bytes.NewReader(stdout.Bytes()))
	for sc.Scan() {
		var r smRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not a JSON row: %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	if len(rows) != len(want) {
		t.Errorf("%d rows, want %d", len(rows), len(want))
	}
	const teamA, teamB = "02:00:00:62:00:0a", "02:00:00:62:00:0b"
	for _, r := range rows {
		if !r.verdictAsWanted(t, "stale-mac", want) {
			continue
		}
		if r.Attempts != 20 || r.Binding == nil || r.RxDroppedNotOwned == nil || r.RxTranslated == nil {
			t.Errorf("%s: incomplete row %+v", r.Variant, r)
			continue
		}
		migrated := strings.HasPrefix(r.Variant, "migrate-")
		wantHost, wantTeam := "A", teamA
		if migrated {
			wantHost, wantTeam = "B", teamB
			if r.AfterMigration == nil || r.AfterMigration.Succeeded != r.AfterMigration.Attempts {
				t.Errorf("%s: the VM did not answer on host B before its restart: %+v", r.Variant, r.AfterMigration)
			}
		}
		if r.Host != wantHost || r.TeamMAC != wantTeam || r.ClientARP.LLAddr != wantTeam {
			t.Errorf("%s: host %s, team MAC %s, client ARP %s; want host %s and its team MAC %s for both",
				r.Variant, r.Host, r.TeamMAC, r.ClientARP.LLAddr, wantHost, wantTeam)
		}
		if (r.Variant == "static-mac-init") != (r.VMMAC == r.VMMACBefore) {
			t.Errorf("%s: the VM's MAC went from %s to %s", r.Variant, r.VMMACBefore, r.VMMAC)
		}
		switch r.Verdict {
		case "broken":
			// The stale-mac mechanism: the stale binding, and every probe
			// translated to a MAC no vnic owns.
			if r.Succeeded != 0 || r.Binding.MAC != r.VMMACBefore || *r.RxDroppedNotOwned < 17 || *r.RxTranslated < 17 {
				t.Errorf("%s broke, but not by the stale-mac mechanism: %d/%d answered, binding %s (VM's MAC before %s), not owned %d, translated %d",
					r.Variant, r.Succeeded, r.Attempts, r.Binding.MAC, r.VMMACBefore, *r.RxDroppedNotOwned, *r.RxTranslated)
			}
		case "ok":
			if r.Binding.MAC != r.VMMAC || *r.RxDroppedNotOwned != 0 || *r.RxTranslated < 17 {
				t.Errorf("%s: binding %s (VM has %s), not owned %d, translated %d; want the VM's MAC, 0, >= 17",
					r.Variant, r.Binding.MAC, r.VMMAC, *r.RxDroppedNotOwned, *r.RxTranslated)
			}
		}
	}
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if l := newLeftovers(t, before); len(l) > 0 {
		t.Errorf("left behind:\n%s", strings.Join(l, "\n"))
	}
}

// TestKeepAndDown: --keep leaves the lab running (namespaces, daemon,
// switch), `lab down` removes all of it.
func TestKeepAndDown(t *testing.T) {
	requireLab(t)
	before := leftovers(t)
	t.Cleanup(func() {
		if l := newLeftovers(t, before); len(l) > 0 {
			lab.Main([]string{"down"}, &bytes.Buffer{}, &bytes.Buffer{})
		}
	})
	var stdout, stderr bytes.Buffer
	if code := lab.Main(withBackend("auto-last-hop", "--variant", "si-hyperv-port", "--keep"), &stdout, &stderr); code != 0 {
		t.Fatalf("lab --keep: exit %d\n%s\n%s", code, stderr.String(), stdout.String())
	}
	kept := newLeftovers(t, before)
	var ns, procs int
	for _, l := range kept {
		switch {
		case strings.HasPrefix(l, "namespace "):
			ns++
		case strings.HasPrefix(l, "process "):
			procs++
		}
	}
	// host vm sw lb cl; teamd-go, ovsdb-server, ovs-vswitchd, lb, server.
	if ns != 5 || procs < 5 {
		t.Fatalf("after --keep: %d namespaces, %d processes, want 5 and >= 5:\n%s", ns, procs, strings.Join(kept, "\n"))
	}
	stdout.Reset()
	stderr.Reset()
	if code := lab.Main([]string{"down"}, &stdout, &stderr); code != 0 {
		t.Errorf("lab down: exit %d\n%s", code, stderr.String())
	}
	t.Logf("lab down:\n%s", stdout.String())
	if l := newLeftovers(t, before); len(l) > 0 {
		t.Errorf("left behind after lab down:\n%s", strings.Join(l, "\n"))
	}
	stdout.Reset()
	if code := lab.Main([]string{"down"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "nothing to remove") {
		t.Errorf("second lab down: exit %d, %q", code, stdout.String())
	}
}
