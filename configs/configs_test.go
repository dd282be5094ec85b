// Package configs_test checks the example configurations and the systemd
// unit shipped in configs/.
package configs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/teamd-go/teamd-go/team/config"
)

// examples lists the configurations here: YAML, and teamd's JSON.
func examples(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml or *.json in configs/")
	}
	return files
}

// TestExamplesParse parses every *.yaml and *.json here as the daemon
// would (`teamd-go --check` less the host check: eth1, eth2 and vm1 do
// not exist on a build machine).
func TestExamplesParse(t *testing.T) {
	files := examples(t)
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
		{"vlans.yaml", config.ModeSwitchIndependent, config.BalanceHyperVPort, func(c *config.Config) string {
			var access, trunk, native, noNative bool
			for _, v := range c.VNICs {
				switch {
				case v.VLAN.Access != 0:
					access = true
				case v.VLAN.Trunk != nil && v.VLAN.Native != 0:
					trunk, native = true, true
				case v.VLAN.Trunk != nil:
					trunk, noNative = true, true
				}
			}
			if !access || !trunk || !native || !noNative {
				return fmt.Sprintf("want access vnics and trunks with and without native, got access %v trunk %v native %v trunk-without-native %v", access, trunk, native, noNative)
			}
			return ""
		}},
		{"ipv6-nsna-ping.yaml", config.ModeSwitchIndependent, config.BalanceActiveBackup, nsnaPing("fe80::1")},
		{"teamd-nsna-ping.json", config.ModeSwitchIndependent, config.BalanceActiveBackup, nsnaPing("fe80::1")},
		{"lacp-fallback.yaml", config.ModeLACP, config.BalanceAddressHash, func(c *config.Config) string {
			if c.LACP.Fallback != config.FallbackActiveBackup {
				return fmt.Sprintf("lacp.fallback %q, want %q", c.LACP.Fallback, config.FallbackActiveBackup)
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
	named := map[string]bool{}
	for _, tc := range tests {
		named[tc.file] = true
	}
	for _, f := range examples(t) {
		if !named[f] {
			t.Errorf("%s is not checked for what it is named for: add it here", f)
		}
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

// nsnaPing checks the team watches its members with nsna_ping at target.
func nsnaPing(target string) func(*config.Config) string {
	return func(c *config.Config) string {
		lw := c.LinkWatch
		if lw.Name != config.LinkWatchNSNAPing || lw.TargetHost != target {
			return fmt.Sprintf("link_watch %s target %q, want nsna_ping target %q", lw.Name, lw.TargetHost, target)
		}
		if lw.Interval <= 0 || lw.MissedMax <= 0 {
			return fmt.Sprintf("link_watch interval %v missed_max %d", lw.Interval, lw.MissedMax)
		}
		return ""
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
