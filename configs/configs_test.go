// Package configs_test checks the example configurations and the systemd
// unit shipped in configs/.
package configs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/team/config"
)

// TestExamplesParse parses every *.yaml here as the daemon would, less the
// host check (eth1, eth2 and vm1 do not exist on a build machine).
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml in configs/")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(data, f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, w := range cfg.Warnings {
				t.Errorf("%s: warning: %s", f, w)
			}
		})
	}
}

// TestExamplesShowWhatTheyAreNamedFor: each example configures the mode
// and algorithm its name promises.
func TestExamplesShowWhatTheyAreNamedFor(t *testing.T) {
	tests := []struct {
		file          string
		mode, balance string
		check         func(*config.Config) string
	}{
		{"switch-independent-hyperv-port.yaml", config.ModeSwitchIndependent, config.BalanceHyperVPort, nil},
		{"switch-independent-dynamic.yaml", config.ModeSwitchIndependent, config.BalanceDynamic, nil},
		{"active-backup.yaml", config.ModeSwitchIndependent, config.BalanceActiveBackup, nil},
		{"static-address-hash.yaml", config.ModeStatic, config.BalanceAddressHash, nil},
		{"lacp.yaml", config.ModeLACP, "", nil},
		{"round-robin-static.yaml", config.ModeStatic, config.BalanceRoundRobin, nil},
		{"rx-translation.yaml", config.ModeSwitchIndependent, config.BalanceActiveBackup, func(c *config.Config) string {
			if !c.RxTranslation.Enabled {
				return "rx_translation is not enabled"
			}
			return ""
		}},
		{"metrics.yaml", "", "", func(c *config.Config) string {
			if c.Metrics == "" {
				return "metrics is empty"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c, err := config.Load(tc.file)
			if err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			if tc.mode != "" && c.Mode != tc.mode {
				t.Errorf("%s: mode %s, want %s", tc.file, c.Mode, tc.mode)
			}
			if tc.balance != "" && c.Balance != tc.balance {
				t.Errorf("%s: balance %s, want %s", tc.file, c.Balance, tc.balance)
			}
			if tc.check != nil {
				if msg := tc.check(c); msg != "" {
					t.Errorf("%s: %s", tc.file, msg)
				}
			}
		})
	}
}

// TestUnit checks the systemd unit for what the README and docs/contract.md
// §2 promise: one team per instance, reload by SIGHUP, the capabilities the
// daemon needs. `systemd-analyze verify` is run by hand (it needs the binary
// installed).
func TestUnit(t *testing.T) {
	b, err := os.ReadFile("teamd-go@.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/teamd-go -c /etc/teamd-go/%i.yaml\n",
		"ExecReload=/bin/kill -HUP $MAINPID\n",
		"Restart=on-failure\n",
		"After=network-pre.target\n",
		"RuntimeDirectory=teamd-go\n",
		"RuntimeDirectoryPreserve=yes\n",
		"DeviceAllow=/dev/net/tun rw\n",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("teamd-go@.service lacks %q", strings.TrimSpace(want))
		}
	}
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			for _, c := range []string{"CAP_NET_ADMIN", "CAP_NET_RAW"} {
				if !strings.Contains(v, c) {
					t.Errorf("CapabilityBoundingSet lacks %s", c)
				}
			}
		}
		if v, ok := strings.CutPrefix(line, "RestrictAddressFamilies="); ok {
			for _, af := range []string{"AF_UNIX", "AF_NETLINK", "AF_PACKET", "AF_INET"} {
				if !strings.Contains(v, af) {
					t.Errorf("RestrictAddressFamilies lacks %s", af)
				}
			}
		}
	}
}
