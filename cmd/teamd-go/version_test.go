package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goTool returns the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no go command to build with")
	}
	return p
}

// TestVersionLDFlags: the version the Makefile stamps with
// -X main.version is what --version prints.
func TestVersionLDFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "teamd-go")
	build := exec.Command(goTool(t), "build", "-ldflags", "-X main.version=v9.9.9-test", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	if got, want := string(out), "teamd-go v9.9.9-test\n"; got != want {
		t.Errorf("--version printed %q, want %q", got, want)
	}
}

// TestMakeInstall runs `make install` into a temporary DESTDIR with another
// PREFIX and checks what lands there: the stamped binary, the unit pointing
// at it (verified by systemd-analyze when installed), the examples.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "root")
	cmd := exec.Command("make", "-C", "../..", "install",
		"GO="+goTool(t),
		"BIN="+filepath.Join(tmp, "build", "teamd-go"), // keep the work tree's bin/ alone
		"VERSION=v9.9.9-make", "PREFIX=/opt/tg", "DESTDIR="+dest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(dest, "opt/tg/bin/teamd-go")
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || string(out) != "teamd-go v9.9.9-make\n" {
		t.Errorf("%s --version: %q, %v; want \"teamd-go v9.9.9-make\"", bin, out, err)
	}
	unitPath := filepath.Join(dest, "etc/systemd/system/teamd-go@.service")
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	if !strings.Contains(unit, "ExecStart=/opt/tg/bin/teamd-go -c /etc/teamd-go/%i.yaml\n") || strings.Contains(unit, "/usr/local/bin") {
		t.Errorf("installed unit does not run $(PREFIX)/bin/teamd-go:\n%s", unit)
	}
	for _, p := range []string{"etc/teamd-go", "opt/tg/share/teamd-go/examples/lacp.yaml", "opt/tg/share/teamd-go/examples/teamd-nsna-ping.json"} {
		if _, err := os.Stat(filepath.Join(dest, p)); err != nil {
			t.Errorf("not installed: %v", err)
		}
	}

	// systemd-analyze checks that ExecStart's binary exists, so verify a
	// copy pointing into DESTDIR. Unknown keys only warn: any output fails.
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: unit not verified")
		return
	}
	units := filepath.Join(tmp, "units")
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	local := strings.ReplaceAll(unit, "/opt/tg/bin/teamd-go", bin)
	if err := os.WriteFile(filepath.Join(units, "teamd-go@.service"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(units, "teamd-go@team0.service")
	if err := os.Symlink("teamd-go@.service", inst); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(sa, "verify", inst).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
