package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadConfig: bad input at start exits 1 with a message naming the
// problem, for --check and for the daemon itself.
func TestBadConfig(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"missing member", "team: t0\nmembers:\n  - name: lo\n  - name: nosuchnic0\n", []string{"members[1].name", "nosuchnic0"}},
		{"bad yaml", "team: t0\nmembers: [\n", []string{"team.yaml"}},
		{"unknown key", "team: t0\nmembrs:\n  - name: lo\n", []string{"team.yaml:2", "membrs"}},
		{"bad value", "team: t0\nmode: turbo\nmembers:\n  - name: lo\n", []string{"team.yaml:2", "mode", "turbo"}},
		// The daemon's member cap is the config's: --check says it too.
		{"70 members", "team: t0\nmode: static\nbalance: address-hash\nmembers:\n" + strings.Repeat("  - name: lo\n", 70),
			[]string{"team.yaml:4: members: 70 members; a team has at most 64"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.body)
			var msgs []string
			for _, args := range [][]string{{"-c", path, "--check"}, {"-c", path}} {
				code, _, stderr := runCLI(t, args...)
				if code != 1 {
					t.Errorf("%v: exit %d, want 1; stderr:\n%s", args, code, stderr)
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%v: stderr does not name %q:\n%s", args, w, stderr)
					}
				}
				// The message itself: --check prints it alone, the
				// daemon after its log lines, as "teamd-go: MSG".
				_, msg, _ := strings.Cut(stderr, "teamd-go: ")
				if len(args) == 3 {
					msg = stderr
				}
				msgs = append(msgs, msg)
			}
			if msgs[0] != msgs[1] {
				t.Errorf("--check and the daemon say different things:\n--check: %s\ndaemon:  %s", msgs[0], msgs[1])
			}
		})
	}
}

func TestCheckOK(t *testing.T) {
	path := writeFile(t, "team: t0\nmode: static\nbalance: address-hash\nmembers:\n  - name: lo\n")
	code, stdout, stderr := runCLI(t, "-c", path, "--check")
	if code != 0 || !strings.Contains(stdout, "ok") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, out, _ := runCLI(t, "--version"); code != 0 || !strings.HasPrefix(out, "teamd-go ") {
		t.Errorf("--version: %d %q", code, out)
	}
	if code, _, _ := runCLI(t); code != 2 {
		t.Errorf("no arguments: exit %d, want 2", code)
	}
	if code, _, e := runCLI(t, "ctl", "-t", "nosuchteam", "state"); code != 1 || !strings.Contains(e, "nosuchteam") {
		t.Errorf("ctl on a team that does not run: %d %q", code, e)
	}
}
