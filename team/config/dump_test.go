package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundTrip dumps c and parses the result, which must equal c.
func roundTrip(t *testing.T, c *Config) []byte {
	t.Helper()
	out, err := Dump(c)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	back, err := Parse(out, "dump.yaml")
	if err != nil {
		t.Fatalf("Parse of the dump: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c, back, ignoreSource); diff != "" {
		t.Fatalf("dump does not read back equal (-before +after):\n%s\n%s", diff, out)
	}
	return out
}

func TestDumpRoundTrip(t *testing.T) {
	inputs := map[string]string{
		"every key": fullYAML,
		"lacp":      "team: t\nmode: lacp\nmembers: [{name: eth1, lacp_prio: 1}, {name: eth2}]\nlacp: {active: false, rate: slow, system_priority: 1, min_ports: 2}\n",
		"names that look like other types": "team: \"true\"\nmembers: [{name: \"100\"}, {name: \"null\"}, {name: \"0x1F\"}, {name: \"~\"}, {name: \"-\"}]\n" +
			"vnics: [{name: \"yes\"}, {name: '#x'}, {name: \"é*\"}]\n",
		"flowlet_gap auto":                       "team: t\nbalance: dynamic\nflowlet_gap: auto\nmembers: [{name: e}]\n",
		"busy_poll off":                          "team: t\nbusy_poll: off\nmembers: [{name: e}]\n",
		"busy_poll duration":                     "team: t\nbusy_poll: 1.5ms\nmembers: [{name: e}]\n",
		"odd durations":                          "team: t\nbalance: dynamic\nflowlet_gap: 1.5ms\nmembers: [{name: e}]\nrx_translation: {age_time: 1h1ns}\n",
		"nsna_ping":                              "team: t\nmembers: [{name: e}]\nlink_watch: {name: nsna_ping, target_host: \"2001:db8::1\", interval: 250ms, missed_max: 5}\n",
		"non-default lacp values in static mode": "team: t\nmode: static\nmembers: [{name: e, lacp_key: 4}]\n",
		"vlans":                                  "team: t\nmembers: [{name: e}]\nvnics: [{name: a, vlan: {access: 10}}, {name: b, vlan: {trunk: [10, 20], native: 1}}, {name: c, vlan: {trunk: [7]}}, {name: d}]\n",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			c, err := Parse([]byte(in), "in.yaml")
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, c)
		})
	}
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(data, f)
		if err != nil {
			continue // rejected: see TestTeamdCorpus
		}
		t.Run(filepath.Base(f), func(t *testing.T) { roundTrip(t, c) })
	}
}

func TestDumpOutput(t *testing.T) {
	c, err := Parse([]byte("team: team0\nmode: lacp\nmembers: [{name: eth1}]\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Dump(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `# teamd-go configuration of team team0
team: team0
mode: lacp
balance: address-hash
hash: [eth, ipv4, ipv6]
flowlet_gap: auto
source_mac_rewrite: auto
backend: af_packet
busy_poll: auto
members:
  - name: eth1
    lacp_prio: 255
    lacp_key: 0
lacp:
  active: true
  rate: fast
  system_priority: 65535
  min_ports: 1
  fallback: none
  fallback_after: 3s
link_watch:
  name: carrier
rx_translation:
  enabled: false
  learn: continuous
  age_time: 300s
metrics: ""
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("Dump (-want +got):\n%s", diff)
	}
}
