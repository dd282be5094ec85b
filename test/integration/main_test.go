//go:build linux

// Package integration runs the teamd-go binary in network namespaces with a
// real physical switch (a Linux bridge or Open vSwitch), VMs and a peer,
// and checks what crosses it: pings, TCP, failover, broadcasts, drops.
package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// teamdBin is the binary under test, built once by TestMain.
var teamdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "teamd-go-it")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	teamdBin = filepath.Join(dir, "teamd-go")
	cmd := exec.Command("go", "build", "-o", teamdBin, "github.com/teamd-go/teamd-go/cmd/teamd-go")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build teamd-go:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
