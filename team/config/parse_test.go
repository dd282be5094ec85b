package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignoreSource compares configurations by content.
var ignoreSource = cmpopts.IgnoreFields(Config{}, "Path", "Warnings")

const fullYAML = `# docs/contract.md §3, every key given
team: team0
mode: switch-independent
balance: dynamic
hash: [eth, ipv4, ipv6, l4]
flowlet_gap: 250us
source_mac_rewrite: always
backend: xdp
busy_poll: 500us
members:
  - name: eth1
    primary: true
  - name: eth2
    standby: false
    prio: 10
    sticky: true
    lacp_prio: 100
    lacp_key: 7
vnics:
  - name: vm1
  - name: team0
    tap: true
    mac: 02:AA:bb:00:00:01
link_watch:
  name: arp_ping
  interval: 100ms
  missed_max: 5
  source_host: 192.168.23.2
  target_host: 192.168.23.1
rx_translation:
  enabled: false
  learn: init
  age_time: 10m
metrics: "127.0.0.1:9469"
`

func TestParseYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Config
	}{
		{
			name: "every key",
			in:   fullYAML,
			want: &Config{
				Team: "team0", Mode: ModeSwitchIndependent, Balance: BalanceDynamic,
				Hash: []string{"eth", "ipv4", "ipv6", "l4"}, FlowletGap: 250 * time.Microsecond,
				SourceMACRewrite: RewriteAlways, Backend: BackendXDP, BusyPoll: 500 * time.Microsecond,
				Members: []Member{
					{Name: "eth1", Primary: true, LACPPrio: 255},
					{Name: "eth2", Prio: 10, Sticky: true, LACPPrio: 100, LACPKey: 7},
				},
				VNICs: []VNIC{{Name: "vm1"}, {Name: "team0", TAP: true, MAC: "02:aa:bb:00:00:01"}},
				LACP:  LACP{Active: true, Rate: LACPRateFast, SystemPriority: 65535, MinPorts: 1, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter},
				LinkWatch: LinkWatch{Name: LinkWatchARPPing, Interval: 100 * time.Millisecond, MissedMax: 5,
					SourceHost: "192.168.23.2", TargetHost: "192.168.23.1"},
				RxTranslation: RxTranslation{Learn: LearnInit, AgeTime: 10 * time.Minute},
				Metrics:       "127.0.0.1:9469",
			},
		},
		{
			name: "defaults, switch-independent with vnics",
			in:   "team: t\nmembers: [{name: eth1}]\nvnics: [{name: vm1}]\n",
			want: &Config{
				Team: "t", Mode: ModeSwitchIndependent, Balance: BalanceHyperVPort,
				Hash: []string{"eth", "ipv4", "ipv6"}, FlowletGap: 500 * time.Microsecond, FlowletGapAuto: true, BusyPoll: DefaultBusyPoll, BusyPollAuto: true,
				SourceMACRewrite: RewriteAuto, Backend: BackendAFPacket,
				Members:       []Member{{Name: "eth1", LACPPrio: 255}},
				VNICs:         []VNIC{{Name: "vm1"}},
				LACP:          LACP{Active: true, Rate: LACPRateFast, SystemPriority: 65535, MinPorts: 1, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter},
				LinkWatch:     LinkWatch{Name: LinkWatchCarrier},
				RxTranslation: RxTranslation{Learn: LearnContinuous, AgeTime: 300 * time.Second},
			},
		},
		{
			name: "defaults, lacp",
			in:   "team: t\nmode: lacp\nmembers: [{name: eth1}, {name: eth2}]\nlacp:\n  rate: slow\n",
			want: &Config{
				Team: "t", Mode: ModeLACP, Balance: BalanceAddressHash,
				Hash: []string{"eth", "ipv4", "ipv6"}, FlowletGap: 500 * time.Microsecond, FlowletGapAuto: true, BusyPoll: DefaultBusyPoll, BusyPollAuto: true,
				SourceMACRewrite: RewriteAuto, Backend: BackendAFPacket,
				Members:       []Member{{Name: "eth1", LACPPrio: 255}, {Name: "eth2", LACPPrio: 255}},
				LACP:          LACP{Active: true, Rate: LACPRateSlow, SystemPriority: 65535, MinPorts: 1, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter},
				LinkWatch:     LinkWatch{Name: LinkWatchCarrier},
				RxTranslation: RxTranslation{Learn: LearnContinuous, AgeTime: 300 * time.Second},
			},
		},
		{
			name: "switch-independent without vnics hashes addresses; arp_ping defaults",
			in:   "team: t\nmembers:\n  - name: eth1\nlink_watch:\n  name: arp_ping\n  target_host: 10.0.0.1\n",
			want: &Config{
				Team: "t", Mode: ModeSwitchIndependent, Balance: BalanceAddressHash,
				Hash: []string{"eth", "ipv4", "ipv6"}, FlowletGap: 500 * time.Microsecond, FlowletGapAuto: true, BusyPoll: DefaultBusyPoll, BusyPollAuto: true,
				SourceMACRewrite: RewriteAuto, Backend: BackendAFPacket,
				Members: []Member{{Name: "eth1", LACPPrio: 255}},
				LACP:    LACP{Active: true, Rate: LACPRateFast, SystemPriority: 65535, MinPorts: 1, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter},
				LinkWatch: LinkWatch{Name: LinkWatchARPPing, Interval: time.Second, MissedMax: 3,
					SourceHost: "0.0.0.0", TargetHost: "10.0.0.1"},
				RxTranslation: RxTranslation{Learn: LearnContinuous, AgeTime: 300 * time.Second},
			},
		},
		{
			name: "nsna_ping defaults",
			in:   "team: t\nmembers:\n  - name: eth1\nlink_watch:\n  name: nsna_ping\n  target_host: fe80::1\n",
			want: &Config{
				Team: "t", Mode: ModeSwitchIndependent, Balance: BalanceAddressHash,
				Hash: []string{"eth", "ipv4", "ipv6"}, FlowletGap: 500 * time.Microsecond, FlowletGapAuto: true, BusyPoll: DefaultBusyPoll, BusyPollAuto: true,
				SourceMACRewrite: RewriteAuto, Backend: BackendAFPacket,
				Members:       []Member{{Name: "eth1", LACPPrio: 255}},
				LACP:          LACP{Active: true, Rate: LACPRateFast, SystemPriority: 65535, MinPorts: 1, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter},
				LinkWatch:     LinkWatch{Name: LinkWatchNSNAPing, Interval: time.Second, MissedMax: 3, TargetHost: "fe80::1"},
				RxTranslation: RxTranslation{Learn: LearnContinuous, AgeTime: 300 * time.Second},
			},
		},
		{
			name: "the stale-mac team, null values are defaults, aliases",
			in: "team: ab\nbalance: active-backup\nmetrics:\nhash:\n" +
				"members:\n  - &m {name: eth1, primary: true}\n  - name: eth2\n    standby: true\n" +
				"vnics: [{name: vm1}]\nrx_translation: {enabled: true}\n",
			want: &Config{
				Team: "ab", Mode: ModeSwitchIndependent, Balance: BalanceActiveBackup,
				Hash: []string{"eth", "ipv4", "ipv6"}, FlowletGap: 500 * time.Microsecond, FlowletGapAuto: true, BusyPoll: DefaultBusyPoll, BusyPollAuto: true,
				SourceMACRewrite: RewriteAuto, Backend: BackendAFPacket,
				Members:       []Member{{Name: "eth1", Primary: true, LACPPrio: 255}, {Name: "eth2", Standby: true, LACPPrio: 255}},
				VNICs:         []VNIC{{Name: "vm1"}},
				LACP:          LACP{Active: true, Rate: LACPRateFast, SystemPriority: 65535, MinPorts: 1, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter},
				LinkWatch:     LinkWatch{Name: LinkWatchCarrier},
				RxTranslation: RxTranslation{Enabled: true, Learn: LearnContinuous, AgeTime: 300 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in), "team0.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreSource); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if got.Path != "team0.yaml" || len(got.Warnings) != 0 {
				t.Errorf("Path %q, Warnings %q", got.Path, got.Warnings)
			}
		})
	}
}

// TestParseErrors checks that each mistake is reported once, naming the
// line and the key, with a message that says what would be right.
func TestParseErrors(t *testing.T) {
	const base = "team: t\nmembers:\n  - name: eth1\n" // lines 1-3
	tests := []struct {
		name string
		in   string
		want []string // the problems, as Error prints them
	}{
		{"wrong bool", base + "  - name: eth2\n    standby: maybe\n",
			[]string{`team0.yaml:5: members[1].standby: want true or false, got "maybe"`}},
		{"unknown key with suggestion", base + "flowlet-gap: 1ms\n",
			[]string{`team0.yaml:4: flowlet-gap: unknown key (did you mean "flowlet_gap"?)`}},
		{"unknown member key", base + "    primry: true\n",
			[]string{`team0.yaml:4: members[0].primry: unknown key (did you mean "primary"?)`}},
		{"bad enum with suggestion", base + "balance: activebackup\n",
			[]string{`team0.yaml:4: balance: want hyperv-port, address-hash, dynamic, active-backup or round-robin; got "activebackup" (did you mean "active-backup"?)`}},
		{"enum of wrong type", base + "lacp: {rate: true}\nmode: lacp\n",
			[]string{`team0.yaml:4: lacp.rate: want fast or slow; got "true"`}},
		{"duration without unit", base + "flowlet_gap: 500\n",
			[]string{`team0.yaml:4: flowlet_gap: want a duration with a unit, like 500us, 100ms or 1s; got 500`}},
		{"duration out of range", base + "flowlet_gap: 2s\n",
			[]string{`team0.yaml:4: flowlet_gap: 2s is out of range: want auto, or more than 0 and at most 1s (default 500us)`}},
		{"busy_poll out of range", base + "busy_poll: 20ms\n",
			[]string{`team0.yaml:4: busy_poll: 20ms is out of range: want auto, off, or a duration of at most 10ms (default auto: at most 2ms)`}},
		{"busy_poll negative", base + "busy_poll: -1ms\n",
			[]string{`team0.yaml:4: busy_poll: -1ms is out of range: want auto, off, or a duration of at most 10ms (default auto: at most 2ms)`}},
		{"busy_poll not a duration", base + "busy_poll: always\n",
			[]string{`team0.yaml:4: busy_poll: want a duration like 500us, 100ms or 1s; got "always"`}},
		{"bad duration", base + "rx_translation: {age_time: soon}\n",
			[]string{`team0.yaml:4: rx_translation.age_time: want a duration like 500us, 100ms or 1s; got "soon"`}},
		{"missing team", "members: [{name: eth1}]\n",
			[]string{`team0.yaml: team: required`}},
		{"team name too long", "team: averyveryverylongname\nmembers: [{name: eth1}]\n",
			[]string{`team0.yaml:1: team: "averyveryverylongname" is 21 bytes long; Linux interface names have at most 15`}},
		{"member name with slash", "team: t\nmembers: [{name: eth/1}]\n",
			[]string{`team0.yaml:2: members[0].name: "eth/1" contains '/'`}},
		{"no members", "team: t\n",
			[]string{`team0.yaml: members: at least one member is required`}},
		{"empty members", "team: t\nmembers: []\n",
			[]string{`team0.yaml:2: members: at least one member is required`}},
		{"bare member name", "team: t\nmembers: [eth1]\n",
			[]string{`team0.yaml:2: members[0]: want a mapping with a name, got "eth1" (write "- name: eth1")`}},
		{"members not a list", "team: t\nmembers: eth1\n",
			[]string{`team0.yaml:2: members: want a list, got "eth1"`}},
		{"duplicate member", base + "  - name: eth1\n",
			[]string{`team0.yaml:4: members[1].name: "eth1" is already members[0]`}},
		{"duplicate vnic", base + "vnics:\n  - name: vm1\n  - name: vm1\n",
			[]string{`team0.yaml:6: vnics[1].name: "vm1" is already vnics[0]`}},
		{"member and vnic", base + "vnics:\n  - name: eth1\n",
			[]string{`team0.yaml:5: vnics[0].name: "eth1" is also a member`}},
		{"vlan id 0", base + "vnics:\n  - name: vm1\n    vlan: {access: 0}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.access: 0 is out of range: want a VLAN id 1 to 4094`}},
		{"vlan id 4095", base + "vnics:\n  - name: vm1\n    vlan:\n      trunk: [10, 4095]\n",
			[]string{`team0.yaml:7: vnics[0].vlan.trunk[1]: 4095 is out of range: want a VLAN id 1 to 4094`}},
		{"access and trunk", base + "vnics:\n  - name: vm1\n    vlan:\n      access: 10\n      trunk: [20]\n      native: 1\n",
			[]string{
				`team0.yaml:8: vnics[0].vlan.trunk: not with access`,
				`team0.yaml:9: vnics[0].vlan.native: not with access`,
			}},
		{"empty trunk", base + "vnics:\n  - name: vm1\n    vlan: {trunk: []}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.trunk: empty: a trunk carries at least one VLAN`}},
		{"vlan twice in trunk", base + "vnics:\n  - name: vm1\n    vlan: {trunk: [10, 20, 10]}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.trunk[2]: 10 is listed twice (also vnics[0].vlan.trunk[0])`}},
		{"native without trunk", base + "vnics:\n  - name: vm1\n    vlan: {native: 5}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.native: only with trunk`}},
		{"native out of range", base + "vnics:\n  - name: vm1\n    vlan: {trunk: [10], native: 5000}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.native: 5000 is out of range`}},
		{"too many pinned entries", base + "vnics:\n  - name: vm1\n    macs: [02:00:00:00:00:00, 02:00:00:00:00:01, 02:00:00:00:00:02, 02:00:00:00:00:03, 02:00:00:00:00:04, 02:00:00:00:00:05, 02:00:00:00:00:06, 02:00:00:00:00:07, 02:00:00:00:00:08, 02:00:00:00:00:09, 02:00:00:00:00:0a, 02:00:00:00:00:0b, 02:00:00:00:00:0c, 02:00:00:00:00:0d, 02:00:00:00:00:0e, 02:00:00:00:00:0f, 02:00:00:00:00:10, 02:00:00:00:00:11, 02:00:00:00:00:12, 02:00:00:00:00:13, 02:00:00:00:00:14, 02:00:00:00:00:15, 02:00:00:00:00:16, 02:00:00:00:00:17, 02:00:00:00:00:18, 02:00:00:00:00:19, 02:00:00:00:00:1a, 02:00:00:00:00:1b, 02:00:00:00:00:1c, 02:00:00:00:00:1d, 02:00:00:00:00:1e, 02:00:00:00:00:1f, 02:00:00:00:00:20, 02:00:00:00:00:21, 02:00:00:00:00:22, 02:00:00:00:00:23, 02:00:00:00:00:24, 02:00:00:00:00:25, 02:00:00:00:00:26, 02:00:00:00:00:27, 02:00:00:00:00:28, 02:00:00:00:00:29, 02:00:00:00:00:2a, 02:00:00:00:00:2b, 02:00:00:00:00:2c, 02:00:00:00:00:2d, 02:00:00:00:00:2e, 02:00:00:00:00:2f, 02:00:00:00:00:30, 02:00:00:00:00:31, 02:00:00:00:00:32, 02:00:00:00:00:33, 02:00:00:00:00:34, 02:00:00:00:00:35, 02:00:00:00:00:36, 02:00:00:00:00:37, 02:00:00:00:00:38, 02:00:00:00:00:39, 02:00:00:00:00:3a, 02:00:00:00:00:3b, 02:00:00:00:00:3c, 02:00:00:00:00:3d, 02:00:00:00:00:3e, 02:00:00:00:00:3f, 02:00:00:00:00:40, 02:00:00:00:00:41, 02:00:00:00:00:42, 02:00:00:00:00:43, 02:00:00:00:00:44, 02:00:00:00:00:45, 02:00:00:00:00:46, 02:00:00:00:00:47, 02:00:00:00:00:48, 02:00:00:00:00:49, 02:00:00:00:00:4a, 02:00:00:00:00:4b, 02:00:00:00:00:4c, 02:00:00:00:00:4d, 02:00:00:00:00:4e, 02:00:00:00:00:4f, 02:00:00:00:00:50, 02:00:00:00:00:51, 02:00:00:00:00:52, 02:00:00:00:00:53, 02:00:00:00:00:54, 02:00:00:00:00:55, 02:00:00:00:00:56, 02:00:00:00:00:57, 02:00:00:00:00:58, 02:00:00:00:00:59, 02:00:00:00:00:5a, 02:00:00:00:00:5b, 02:00:00:00:00:5c, 02:00:00:00:00:5d, 02:00:00:00:00:5e, 02:00:00:00:00:5f, 02:00:00:00:00:60, 02:00:00:00:00:61, 02:00:00:00:00:62, 02:00:00:00:00:63, 02:00:00:00:00:64, 02:00:00:00:00:65, 02:00:00:00:00:66, 02:00:00:00:00:67, 02:00:00:00:00:68, 02:00:00:00:00:69, 02:00:00:00:00:6a, 02:00:00:00:00:6b, 02:00:00:00:00:6c, 02:00:00:00:00:6d, 02:00:00:00:00:6e, 02:00:00:00:00:6f, 02:00:00:00:00:70, 02:00:00:00:00:71, 02:00:00:00:00:72, 02:00:00:00:00:73, 02:00:00:00:00:74, 02:00:00:00:00:75, 02:00:00:00:00:76, 02:00:00:00:00:77, 02:00:00:00:00:78, 02:00:00:00:00:79, 02:00:00:00:00:7a, 02:00:00:00:00:7b, 02:00:00:00:00:7c, 02:00:00:00:00:7d, 02:00:00:00:00:7e, 02:00:00:00:00:7f, 02:00:00:00:00:80, 02:00:00:00:00:81, 02:00:00:00:00:82, 02:00:00:00:00:83, 02:00:00:00:00:84, 02:00:00:00:00:85, 02:00:00:00:00:86, 02:00:00:00:00:87, 02:00:00:00:00:88, 02:00:00:00:00:89, 02:00:00:00:00:8a, 02:00:00:00:00:8b, 02:00:00:00:00:8c, 02:00:00:00:00:8d, 02:00:00:00:00:8e, 02:00:00:00:00:8f, 02:00:00:00:00:90, 02:00:00:00:00:91, 02:00:00:00:00:92, 02:00:00:00:00:93, 02:00:00:00:00:94, 02:00:00:00:00:95, 02:00:00:00:00:96, 02:00:00:00:00:97, 02:00:00:00:00:98, 02:00:00:00:00:99, 02:00:00:00:00:9a, 02:00:00:00:00:9b, 02:00:00:00:00:9c, 02:00:00:00:00:9d, 02:00:00:00:00:9e, 02:00:00:00:00:9f, 02:00:00:00:00:a0, 02:00:00:00:00:a1, 02:00:00:00:00:a2, 02:00:00:00:00:a3, 02:00:00:00:00:a4, 02:00:00:00:00:a5, 02:00:00:00:00:a6, 02:00:00:00:00:a7, 02:00:00:00:00:a8, 02:00:00:00:00:a9, 02:00:00:00:00:aa, 02:00:00:00:00:ab, 02:00:00:00:00:ac, 02:00:00:00:00:ad, 02:00:00:00:00:ae, 02:00:00:00:00:af, 02:00:00:00:00:b0, 02:00:00:00:00:b1, 02:00:00:00:00:b2, 02:00:00:00:00:b3, 02:00:00:00:00:b4, 02:00:00:00:00:b5, 02:00:00:00:00:b6, 02:00:00:00:00:b7, 02:00:00:00:00:b8, 02:00:00:00:00:b9, 02:00:00:00:00:ba, 02:00:00:00:00:bb, 02:00:00:00:00:bc, 02:00:00:00:00:bd, 02:00:00:00:00:be, 02:00:00:00:00:bf, 02:00:00:00:00:c0, 02:00:00:00:00:c1, 02:00:00:00:00:c2, 02:00:00:00:00:c3, 02:00:00:00:00:c4, 02:00:00:00:00:c5, 02:00:00:00:00:c6, 02:00:00:00:00:c7, 02:00:00:00:00:c8, 02:00:00:00:00:c9, 02:00:00:00:00:ca, 02:00:00:00:00:cb, 02:00:00:00:00:cc, 02:00:00:00:00:cd, 02:00:00:00:00:ce, 02:00:00:00:00:cf, 02:00:00:00:00:d0, 02:00:00:00:00:d1, 02:00:00:00:00:d2, 02:00:00:00:00:d3, 02:00:00:00:00:d4, 02:00:00:00:00:d5, 02:00:00:00:00:d6, 02:00:00:00:00:d7, 02:00:00:00:00:d8, 02:00:00:00:00:d9, 02:00:00:00:00:da, 02:00:00:00:00:db, 02:00:00:00:00:dc, 02:00:00:00:00:dd, 02:00:00:00:00:de, 02:00:00:00:00:df, 02:00:00:00:00:e0, 02:00:00:00:00:e1, 02:00:00:00:00:e2, 02:00:00:00:00:e3, 02:00:00:00:00:e4, 02:00:00:00:00:e5, 02:00:00:00:00:e6, 02:00:00:00:00:e7, 02:00:00:00:00:e8, 02:00:00:00:00:e9, 02:00:00:00:00:ea, 02:00:00:00:00:eb, 02:00:00:00:00:ec, 02:00:00:00:00:ed, 02:00:00:00:00:ee, 02:00:00:00:00:ef, 02:00:00:00:00:f0, 02:00:00:00:00:f1, 02:00:00:00:00:f2, 02:00:00:00:00:f3, 02:00:00:00:00:f4, 02:00:00:00:00:f5, 02:00:00:00:00:f6, 02:00:00:00:00:f7, 02:00:00:00:00:f8, 02:00:00:00:00:f9]\n    vlan: {trunk: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]}\n",
			[]string{`team0.yaml:6: vnics[0].macs: 250 pinned MACs on 17 VLANs are 4250 table entries (one per MAC and VLAN); at most 4096`}},
		{"empty vlan", base + "vnics:\n  - name: vm1\n    vlan: {}\n",
			[]string{`team0.yaml:6: vnics[0].vlan: empty: want access: N or trunk: [N, ...]`}},
		{"null vlan", base + "vnics:\n  - name: vm1\n    vlan:\n",
			[]string{`team0.yaml:6: vnics[0].vlan: want access: N or trunk: [N, ...]`}},
		{"vlan not a mapping", base + "vnics:\n  - name: vm1\n    vlan: 10\n",
			[]string{`team0.yaml:6: vnics[0].vlan: want a mapping, got 10`}},
		{"vlan trunk item of wrong type", base + "vnics:\n  - name: vm1\n    vlan: {trunk: [ten]}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.trunk[0]: want an integer, got "ten"`}},
		{"unknown vlan key", base + "vnics:\n  - name: vm1\n    vlan: {tag: 10}\n",
			[]string{`team0.yaml:6: vnics[0].vlan.tag: unknown key`}},
		{"duplicate key", base + "team: u\n",
			[]string{`team0.yaml:4: team: duplicate key (first at line 1)`}},
		{"hyperv-port without vnics", base + "balance: hyperv-port\n",
			[]string{`team0.yaml:4: balance: hyperv-port pins each vnic to a member, but the team has no vnics`}},
		{"lacp block without mode lacp", base + "mode: static\nlacp:\n  rate: slow\n",
			[]string{`team0.yaml:5: lacp: only with mode: lacp (this team is mode: static)`}},
		{"round-robin in switch-independent", base + "balance: round-robin\n",
			[]string{`team0.yaml:4: balance: round-robin only with mode static or lacp`}},
		{"two primaries", base + "    primary: true\n  - name: eth2\n    primary: true\n",
			[]string{`team0.yaml:6: members[1].primary: members[0] is already primary`}},
		{"primary in static mode", base + "    primary: true\nmode: static\n",
			[]string{`team0.yaml:4: members[0].primary: only with mode: switch-independent; in static mode`}},
		{"standby in lacp mode", base + "    standby: true\n  - name: eth2\nmode: lacp\n",
			[]string{`team0.yaml:4: members[0].standby: only with mode: switch-independent; in lacp mode`}},
		{"all standby", base + "    standby: true\n",
			[]string{`team0.yaml:2: members: every member is standby`}},
		{"rx_translation without active-backup", base + "rx_translation:\n  enabled: true\n",
			[]string{`team0.yaml:5: rx_translation.enabled: only with mode: switch-independent and balance: active-backup, the active/passive team it is made for (this team is switch-independent with address-hash)`}},
		{"mac without tap", base + "vnics:\n  - name: vm1\n    mac: 02:00:00:00:00:01\n",
			[]string{`team0.yaml:6: vnics[0].mac: only with tap: true`}},
		{"mac_spoofing without macs", base + "vnics:\n  - name: vm1\n    mac_spoofing: true\n",
			[]string{`team0.yaml:6: vnics[0].mac_spoofing: only with macs`}},
		{"pinned mac twice", base + "vnics:\n  - name: vm1\n    macs: [02:00:00:00:00:01, 02:00:00:00:00:01]\n",
			[]string{`team0.yaml:6: vnics[0].macs[1]: 02:00:00:00:00:01 is listed twice (also vnics[0].macs[0])`}},
		{"pinned mac of another vnic", base + "vnics:\n  - name: vm1\n    macs: [02:00:00:00:00:01]\n  - name: t0\n    tap: true\n    mac: 02:00:00:00:00:01\n",
			[]string{`team0.yaml:9: vnics[1].mac: 02:00:00:00:00:01 is already the MAC of vnics[0].macs[0]`}},
		{"pinned multicast", base + "vnics:\n  - name: vm1\n    macs: [ff:ff:ff:ff:ff:ff]\n",
			[]string{`team0.yaml:6: vnics[0].macs[0]: ff:ff:ff:ff:ff:ff is a multicast address`}},
		{"multicast mac", base + "vnics:\n  - name: t0\n    tap: true\n    mac: 01:00:5e:00:00:01\n",
			[]string{`team0.yaml:7: vnics[0].mac: 01:00:5e:00:00:01 is a multicast address`}},
		{"bad mac", base + "vnics:\n  - name: t0\n    tap: true\n    mac: 02:00:00:00:00\n",
			[]string{`team0.yaml:7: vnics[0].mac: "02:00:00:00:00" is not an Ethernet MAC`}},
		{"system priority 0", base + "  - name: eth2\nmode: lacp\nlacp:\n  system_priority: 0\n",
			[]string{`team0.yaml:7: lacp.system_priority: 0 is out of range: want 1 to 65535`}},
		{"min_ports above members", base + "mode: lacp\nlacp: {min_ports: 2}\n",
			[]string{`team0.yaml:5: lacp.min_ports: 2, but the team has 1 member(s): it would never carry traffic`}},
		{"metrics not host:port", base + "metrics: 9469\n",
			[]string{`team0.yaml:4: metrics: want host:port like 127.0.0.1:9469 (or empty to serve no metrics), got "9469"`}},
		{"metrics bad port", base + "metrics: localhost:http\n",
			[]string{`team0.yaml:4: metrics: port "http": want a number from 1 to 65535`}},
		{"arp_ping needs a target", base + "link_watch:\n  name: arp_ping\n  interval: 0s\n",
			[]string{
				`team0.yaml:4: link_watch.target_host: required with arp_ping`,
				`team0.yaml:6: link_watch.interval: must be more than 0`,
			}},
		{"arp_ping host name", base + "link_watch: {name: arp_ping, target_host: gw.example, source_host: 10.0.0.300}\n",
			[]string{
				`team0.yaml:4: link_watch.source_host: want an IPv4 address like 192.168.23.1, got "10.0.0.300" (teamd-go does not resolve host names)`,
				`team0.yaml:4: link_watch.target_host: want an IPv4 address like 192.168.23.1, got "gw.example"`,
			}},
		{"arp parameters with carrier", base + "link_watch:\n  interval: 1s\n",
			[]string{`team0.yaml:5: link_watch.interval: only with name: arp_ping or nsna_ping (this team watches the carrier)`}},
		{"nsna_ping needs a target", base + "link_watch:\n  name: nsna_ping\n  interval: 0s\n  missed_max: -1\n",
			[]string{
				`team0.yaml:4: link_watch.target_host: required with nsna_ping: the IPv6 address to send neighbour solicitations to`,
				`team0.yaml:6: link_watch.interval: must be more than 0: the time between two neighbour solicitations (default 1s)`,
				`team0.yaml:7: link_watch.missed_max: must not be negative: the number of unanswered solicitations`,
			}},
		{"nsna_ping IPv4 target", base + "link_watch: {name: nsna_ping, target_host: 10.0.0.1}\n",
			[]string{`team0.yaml:4: link_watch.target_host: want an IPv6 address like fe80::1 or 2001:db8::1, got "10.0.0.1" (teamd-go does not resolve host names; arp_ping watches IPv4 hosts)`}},
		{"nsna_ping IPv4-mapped target", base + "link_watch: {name: nsna_ping, target_host: \"::ffff:10.0.0.1\"}\n",
			[]string{`team0.yaml:4: link_watch.target_host: want an IPv6 address like fe80::1 or 2001:db8::1, got "::ffff:10.0.0.1"`}},
		{"nsna_ping host name", base + "link_watch: {name: nsna_ping, target_host: gw.example}\n",
			[]string{`team0.yaml:4: link_watch.target_host: want an IPv6 address like fe80::1 or 2001:db8::1, got "gw.example"`}},
		{"nsna_ping multicast target", base + "link_watch: {name: nsna_ping, target_host: \"ff02::1\"}\n",
			[]string{`team0.yaml:4: link_watch.target_host: ff02::1 cannot answer neighbour solicitations: want the unicast address of a host on the members' link`}},
		{"nsna_ping unspecified target", base + "link_watch: {name: nsna_ping, target_host: \"::\"}\n",
			[]string{`team0.yaml:4: link_watch.target_host: :: cannot answer neighbour solicitations`}},
		{"nsna_ping loopback target", base + "link_watch: {name: nsna_ping, target_host: \"::1\"}\n",
			[]string{`team0.yaml:4: link_watch.target_host: ::1 cannot answer neighbour solicitations`}},
		{"nsna_ping zone", base + "link_watch: {name: nsna_ping, target_host: \"fe80::1%eth1\"}\n",
			[]string{`team0.yaml:4: link_watch.target_host: fe80::1%eth1: no zone: the team asks on every member`}},
		{"nsna_ping source_host", base + "link_watch: {name: nsna_ping, target_host: \"fe80::1\", source_host: \"fe80::2\"}\n",
			[]string{`team0.yaml:4: link_watch.source_host: only with name: arp_ping; nsna_ping sends from each member's link-local address`}},
		{"unknown hash field", base + "hash: [eth, ip4]\n",
			[]string{`team0.yaml:4: hash[1]: unknown field "ip4" (did you mean "ipv4"?); want teamd tx_hash names: eth, vlan, ipv4, ipv6, tcp, udp, sctp, ip, l3, l4`}},
		{"empty hash", base + "hash: []\n",
			[]string{`team0.yaml:4: hash: empty`}},
		{"integer of wrong type", base + "    prio: high\n",
			[]string{`team0.yaml:4: members[0].prio: want an integer, got "high"`}},
		{"syntax error", "team: t\nmembers: [\n",
			[]string{`team0.yaml:2: did not find expected node content`}},
		{"not a mapping", "- team: t\n",
			[]string{`team0.yaml:1: want a mapping of keys (team:, members:, ...), got a list`}},
		{"empty file", "# nothing\n",
			[]string{`team0.yaml: the file is empty`}},
		{"two documents", base + "---\nteam: u\n",
			[]string{`team0.yaml:4: a second YAML document (---); a file holds one team`}},
		{"merge key", base + "x: &x {name: eth2}\n",
			[]string{`team0.yaml:4: x: unknown key`}},
		{"bool as name", "team: true\nmembers: [{name: eth1}]\n",
			[]string{`team0.yaml:1: team: want a string, got true (quote it if you mean the text)`}},
		{"several problems in one pass", "team: t\nmode: lcp\nbackend: dpdk\nmembers:\n  - name: eth1\n    standby: 2\n  - name: eth1\nmetrics: x\n",
			[]string{
				`team0.yaml:2: mode: want switch-independent, static or lacp; got "lcp" (did you mean "lacp"?)`,
				`team0.yaml:3: backend: want af_packet or xdp; got "dpdk"`,
				`team0.yaml:6: members[0].standby: want true or false, got 2`,
				`team0.yaml:7: members[1].name: "eth1" is already members[0]`,
				`team0.yaml:8: metrics: want host:port`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), "team0.yaml")
			if err == nil {
				t.Fatalf("Parse accepted it:\n%+v", c)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], w)
				}
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	e := &Error{Path: "team0.yaml", Problems: []Problem{
		{Line: 7, Key: "members[1].standby", Msg: `want true or false, got "maybe"`},
		{Key: "team", Msg: "required"},
		{Line: 2, Msg: "syntax"},
	}}
	want := "team0.yaml:7: members[1].standby: want true or false, got \"maybe\"\nteam0.yaml: team: required\nteam0.yaml:2: syntax"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if got := (&Error{Problems: []Problem{{Key: "team", Msg: "m"}}}).Error(); got != "config: team: m" {
		t.Errorf("without a path: %q", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "team0.yaml")
	if err := os.WriteFile(path, []byte(fullYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Path != path || c.Team != "team0" {
		t.Errorf("Path %q Team %q", c.Path, c.Team)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestValidate(t *testing.T) {
	c, err := Parse([]byte(fullYAML), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(c); err != nil {
		t.Errorf("Validate of a parsed config: %v", err)
	}
	d := c.Clone()
	d.Members = append(d.Members, Member{Name: "eth1", LACPPrio: 255})
	err = Validate(d)
	if err == nil || err.Error() != `x.yaml: members[2].name: "eth1" is already members[0]` {
		t.Errorf("Validate after adding a duplicate: %v", err)
	}
	if len(c.Members) != 2 {
		t.Errorf("Clone shares Members with the original")
	}
}

func TestCheckHost(t *testing.T) {
	c, err := Parse([]byte(fullYAML), "team0.yaml")
	if err != nil {
		t.Fatal(err)
	}
	host := map[string]bool{"eth1": true}
	err = c.CheckHost(func(name string) bool { return host[name] })
	want := "team0.yaml: members[1].name: no interface \"eth2\" on this host\n" +
		"team0.yaml: vnics[0].name: no interface \"vm1\" on this host; create it first (e.g. the host end of the VM's veth), or set tap: true to have teamd-go create a TAP"
	if err == nil || err.Error() != want {
		t.Errorf("CheckHost:\n%v\nwant\n%s", err, want)
	}
	host["eth2"], host["vm1"] = true, true
	if err := c.CheckHost(func(name string) bool { return host[name] }); err != nil {
		t.Errorf("CheckHost with every interface there: %v", err)
	}
}

// TestBounds: lists over their bound are refused before any per-item
// work, problems are listed up to MaxProblems plus a count, and a file
// over MaxFileSize is not parsed.
func TestBounds(t *testing.T) {
	members := func(n int) string {
		var b strings.Builder
		b.WriteString("team: t\nmode: static\nbalance: address-hash\nmembers:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - name: e%d\n", i)
		}
		return b.String()
	}
	unknown := func(n int) string {
		var b strings.Builder
		b.WriteString("team: t\nmembers: [{name: eth1}]\n")
		for i := range n {
			fmt.Fprintf(&b, "junk%d: 1\n", i)
		}
		return b.String()
	}
	ports := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"device": "t", "runner": {"name": "loadbalance"}, "ports": {`)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `"e%d": {}`, i)
		}
		b.WriteString("}}")
		return b.String()
	}
	tests := []struct {
		name string
		in   string
		want []string
		more int
	}{
		{"65 members", members(65), []string{`team0.yaml:4: members: 65 members; a team has at most 64 (the data path's member tables)`}, 0},
		{"50000 members", members(50000), []string{`team0.yaml:4: members: 50000 members; a team has at most 64`}, 0},
		{"1025 vnics", "team: t\nmembers: [{name: eth1}]\nvnics:\n" + strings.Repeat("  - name: v\n", 1025),
			[]string{`team0.yaml:3: vnics: 1025 vnics; a team has at most 1024`}, 0},
		{"65 teamd ports", ports(65), []string{`team0.yaml:1: ports: 65 ports; a team has at most 64`}, 0},
		{"30000 unknown keys", unknown(30000), nil, 30000 - MaxProblems},
		{"too large", "team: t\n" + strings.Repeat("#", MaxFileSize), []string{`team0.yaml: the file is 1048584 bytes; a configuration is at most 1048576 bytes (1 MiB)`}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "team0.yaml")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *Error", err, err)
			}
			if tt.want != nil {
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tt.want) {
					t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
				}
				for i, w := range tt.want {
					if !strings.HasPrefix(lines[i], w) {
						t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], w)
					}
				}
			}
			if e.More != tt.more || (tt.more > 0 && len(e.Problems) != MaxProblems) {
				t.Errorf("%d problems listed and %d more, want %d more", len(e.Problems), e.More, tt.more)
			}
			if tt.more > 0 && !strings.HasSuffix(err.Error(), fmt.Sprintf("team0.yaml: ... and %d more problems (only the first %d are listed)", tt.more, MaxProblems)) {
				t.Errorf("the last line does not count the rest:\n%s", err)
			}
		})
	}
	// The same member cap for a configuration changed in code (ctl port
	// add of a 65th member goes through Validate).
	c, err := Parse([]byte(members(64)), "team0.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Members = append(c.Members, defaultMember("e64"))
	if err := Validate(c); err == nil || !strings.Contains(err.Error(), "members: 65 members; a team has at most 64") {
		t.Errorf("Validate of a 65th member: %v", err)
	}
	// Load does not read more than MaxFileSize+1 of a huge file.
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, 3*MaxFileSize), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "the file is 3145728 bytes; a configuration is at most 1048576 bytes") {
		t.Errorf("Load of a 3 MiB file: %v", err)
	}
}

// TestHoldDelays: delay_up and delay_down in YAML (the team's, and a
// member's own over it) and in teamd JSON (the team's link_watch and a
// port's), bad values named, and kept through Dump.
func TestHoldDelays(t *testing.T) {
	y := "team: t0\nmembers:\n  - name: eth1\n  - name: eth2\n    delay_up: 2s\nlink_watch:\n  delay_up: 500ms\n  delay_down: 100ms\n"
	c, err := Parse([]byte(y), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := [][2]time.Duration{{c.LinkWatch.DelayUp, c.LinkWatch.DelayDown}}
	for _, m := range c.Members {
		got = append(got, [2]time.Duration{m.DelayUp, m.DelayDown})
	}
	want := [][2]time.Duration{{500 * time.Millisecond, 100 * time.Millisecond}, {500 * time.Millisecond, 100 * time.Millisecond}, {2 * time.Second, 100 * time.Millisecond}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("YAML delays (-want +got):\n%s", diff)
	}
	b, err := Dump(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(b, "dump.yaml")
	if err != nil {
		t.Fatalf("dump does not parse: %v\n%s", err, b)
	}
	if diff := cmp.Diff(c.Members, back.Members); diff != "" || back.LinkWatch != c.LinkWatch {
		t.Errorf("dump lost delays (-parsed +dumped):\n%s\n%s", diff, b)
	}

	j := `{"device": "team0", "runner": {"name": "activebackup"},
  "link_watch": {"name": "ethtool", "delay_up": 300},
  "ports": {"eth1": {}, "eth2": {"link_watch": {"name": "ethtool", "delay_down": 50}}}}`
	c, err = Parse([]byte(j), "t.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 0 || c.Members[0].DelayUp != 300*time.Millisecond || c.Members[0].DelayDown != 0 ||
		c.Members[1].DelayUp != 0 || c.Members[1].DelayDown != 50*time.Millisecond {
		t.Errorf("teamd delays: %+v, warnings %q", c.Members, c.Warnings)
	}

	for _, bad := range []struct{ body, want string }{
		{"team: t0\nmembers:\n  - name: eth1\nlink_watch:\n  delay_up: -1s\n", "link_watch.delay_up: -1s is out of range"},
		{"team: t0\nmembers:\n  - name: eth1\n    delay_down: 2h\n", "members[0].delay_down: 7200s is out of range"},
		{`{"device": "t0", "link_watch": {"name": "ethtool", "delay_up": -5}, "ports": {"eth1": {}}}`, "link_watch.delay_up: must not be negative"},
	} {
		if _, err := Parse([]byte(bad.body), "bad"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error containing %q", bad.body, err, bad.want)
		}
	}
	c, err = Parse([]byte(`{"device": "t0", "runner": {"name": "activebackup", "fallback": true}, "ports": {"eth1": {}}}`), "ab")
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "runner.fallback") {
		t.Errorf("fallback in an activebackup runner: %v, warnings %q; want one warning naming it", err, c.Warnings)
	}
}

// TestLACPFallbackConfig: lacp.fallback and fallback_after in YAML, the
// runner's fallback key in teamd JSON (SONiC's boolean, or a name), and
// bad values named.
func TestLACPFallbackConfig(t *testing.T) {
	for _, tc := range []struct {
		body, fallback string
		after          time.Duration
	}{
		{"team: t0\nmode: lacp\nmembers:\n  - name: eth1\n", FallbackNone, 3 * time.Second},
		{"team: t0\nmode: lacp\nmembers:\n  - name: eth1\nlacp:\n  fallback: static\n  fallback_after: 10s\n", FallbackStatic, 10 * time.Second},
		{`{"device": "t0", "runner": {"name": "lacp", "fallback": true}, "ports": {"eth1": {}}}`, FallbackActiveBackup, 3 * time.Second},
		{`{"device": "t0", "runner": {"name": "lacp", "fallback": false}, "ports": {"eth1": {}}}`, FallbackNone, 3 * time.Second},
		{`{"device": "t0", "runner": {"name": "lacp", "fallback": "static"}, "ports": {"eth1": {}}}`, FallbackStatic, 3 * time.Second},
	} {
		c, err := Parse([]byte(tc.body), "f")
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if c.LACP.Fallback != tc.fallback || c.LACP.FallbackAfter != tc.after {
			t.Errorf("%q: fallback %q after %v, want %q after %v", tc.body, c.LACP.Fallback, c.LACP.FallbackAfter, tc.fallback, tc.after)
		}
	}
	for _, bad := range []struct{ body, want string }{
		{"team: t0\nmode: lacp\nmembers:\n  - name: eth1\nlacp:\n  fallback: static\n  fallback_after: 0s\n", "lacp.fallback_after: 0s is out of range"},
		{"team: t0\nmode: lacp\nmembers:\n  - name: eth1\nlacp:\n  fallback: roundrobin\n", `lacp.fallback: want none, active-backup or static; got "roundrobin"`},
		{`{"device": "t0", "runner": {"name": "lacp", "fallback": "maybe"}, "ports": {"eth1": {}}}`, `runner.fallback: want none, active-backup or static; got "maybe"`},
	} {
		if _, err := Parse([]byte(bad.body), "bad"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error containing %q", bad.body, err, bad.want)
		}
	}
	c, err := Parse([]byte(`{"device": "t0", "runner": {"name": "activebackup", "fallback": true}, "ports": {"eth1": {}}}`), "ab")
	if err != nil || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "runner.fallback") {
		t.Errorf("fallback in an activebackup runner: %v, warnings %q; want one warning naming it", err, c.Warnings)
	}
}

// TestParseBusyPoll: busy_poll's named values and a duration.
func TestParseBusyPoll(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		auto bool
	}{
		{"", DefaultBusyPoll, true},
		{"busy_poll: auto\n", DefaultBusyPoll, true},
		{"busy_poll: off\n", 0, false},
		{"busy_poll: 0s\n", 0, false},
		{"busy_poll: 300us\n", 300 * time.Microsecond, false},
		{"busy_poll: 10ms\n", 10 * time.Millisecond, false},
	}
	for _, tc := range tests {
		c, err := Parse([]byte("team: t\nmembers: [{name: eth1}]\n"+tc.in), "t.yaml")
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if c.BusyPoll != tc.want || c.BusyPollAuto != tc.auto {
			t.Errorf("%q: BusyPoll %v auto %v; want %v auto %v", tc.in, c.BusyPoll, c.BusyPollAuto, tc.want, tc.auto)
		}
	}
}
