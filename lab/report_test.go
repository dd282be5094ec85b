package lab

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRowJSON(t *testing.T) {
	r := result{Scenario: "s", Variant: "v", Attempts: 3, Succeeded: 2, Verdict: verdictBroken, Expected: verdictBroken, Why: "because"}
	r.Set("n", uint64(7), "")
	r.Set("m", map[string]int{"vm": 1}, "vm 1")
	r.Set("n", uint64(8), "") // replaces
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{
		"scenario": "s", "variant": "v", "attempts": 3.0, "succeeded": 2.0, "verdict": "broken",
		"expected": "broken", "why": "because", "seconds": 0.0, "as_expected": true,
		"n": 8.0, "m": map[string]any{"vm": 1.0},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON row (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(string(b), `{"scenario":"s","variant":"v","attempts":3,"succeeded":2,"verdict":"broken"`) {
		t.Errorf("docs/contract.md §5 fields do not come first: %s", b)
	}
}

func TestTable(t *testing.T) {
	s := &scenario{Name: "sc", Summary: "sum", Columns: []column{{"X", "x"}, {"MISSING", "nope"}}}
	rows := []result{
		{Scenario: "sc", Variant: "a", Attempts: 10, Succeeded: 10, Verdict: verdictOK, Expected: verdictOK, Why: "fine"},
		{Scenario: "sc", Variant: "bb", Attempts: 10, Succeeded: 4, Verdict: verdictBroken, Expected: verdictOK, Why: "not fine"},
		{Scenario: "other", Variant: "c"},
	}
	rows[0].Set("x", 1, "one")
	var b bytes.Buffer
	printTable(&b, []*scenario{s}, rows)
	want := `
sc: sum

VARIANT  X    MISSING  OK/TRIED  VERDICT  EXPECTED
a        one  -        10/10     ok       ok
bb       -    -        4/10      broken   ok  <-- MISMATCH

a: fine
bb: not fine
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		json bool
		keep bool
	}{
		{nil, nil, false, false},
		{[]string{"auto-last-hop", "--json"}, []string{"auto-last-hop"}, true, false},
		{[]string{"--keep", "auto-last-hop", "--json"}, []string{"auto-last-hop"}, true, true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		j, k := fs.Bool("json", false, ""), fs.Bool("keep", false, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || !cmp.Equal(pos, tc.pos) || *j != tc.json || *k != tc.keep {
			t.Errorf("%q: %q json=%v keep=%v err=%v", tc.args, pos, *j, *k, err)
		}
	}
}

func TestLabID(t *testing.T) {
	for name, want := range map[string]string{
		"tgl123-si-dynamic-host": "tgl123",
		"tgl123b-lb-off-sw":      "tgl123b",
		"tgl123":                 "tgl123",
		"tgl123-4":               "tgl123",
		"tgle55-1-vm":            "", // lab/lbemu's tests
		"tgt55-1-vm":             "",
		"tglfoo":                 "",
	} {
		if got := labID(name); got != want {
			t.Errorf("labID(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{{"no-such-scenario"}, {"a", "b"}, {"down", "extra"}, {"--variant", "nope", "auto-last-hop"}, {"--helper", "nope"}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != 2 {
			t.Errorf("Main(%q) = %d, want 2\n%s", args, code, errb.String())
		}
	}
}

// TestBackendFlag: --backend names the daemons' data path; anything but
// af_packet or xdp is a usage error naming the value, and the chosen one
// ends up as the backend line of every config the lab writes.
func TestBackendFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"auto-last-hop", "--backend", "dpdk"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `"dpdk"`) {
		t.Errorf("--backend dpdk: exit %d, %q; want 2 and a message naming it", code, errb.String())
	}
	body := "mode: static\n"
	for backend, want := range map[string]string{
		"":          "team: tgl1-1a\nmode: static\n",
		"af_packet": "team: tgl1-1a\nbackend: af_packet\nmode: static\n",
		"xdp":       "team: tgl1-1a\nbackend: xdp\nmode: static\n",
	} {
		e := newEnv("tgl1-v", "tgl1-1", t.TempDir(), "teamd-go", "teamd-go", backend, nil)
		spec := e.daemon("a", body)
		if got := spec.Text(body); got != want || !spec.Check {
			t.Errorf("backend %q: config %q (checked %v), want %q, checked", backend, got, spec.Check, want)
		}
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestScenarioRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range allScenarios {
		if s.Name == "" || len(s.Variants) == 0 {
			t.Errorf("scenario %q has no name or variants", s.Name)
		}
		for _, v := range s.Variants {
			// Variant names name namespaces and run directories.
			if seen[v.Name] || v.Name == "" || strings.ContainsAny(v.Name, "/ ") {
				t.Errorf("variant name %q: empty, duplicate or not a file name", v.Name)
			}
			seen[v.Name] = true
			if v.Expected != verdictOK && v.Expected != verdictBroken {
				t.Errorf("%s/%s expects %q", s.Name, v.Name, v.Expected)
			}
		}
	}
}
