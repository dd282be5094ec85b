package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// corpusDir holds copies of teamd's example configurations (see
// SOURCE.md there), so the test runs in a clean clone.
const corpusDir = "testdata/teamd-examples"

// sharedCorpus is where the project keeps the originals, if present.
const sharedCorpus = "../../../shared/teamd-examples"

// teamdTeam0 is what the corpus files share: device team0, ports eth1
// and eth2.
func teamdTeam0(mode, balance string, members ...Member) *Config {
	c := defaults()
	c.Team, c.Mode, c.Balance = "team0", mode, balance
	c.VNICs = []VNIC{{Name: "team0", TAP: true}}
	if members == nil {
		members = []Member{defaultMember("eth1"), defaultMember("eth2")}
	}
	c.Members = members
	return c
}

func abMembers() []Member {
	eth1, eth2 := defaultMember("eth1"), defaultMember("eth2")
	eth1.Prio, eth1.Sticky, eth2.Prio = -10, true, 100
	return []Member{eth1, eth2}
}

func TestTeamdCorpus(t *testing.T) {
	arp := func(c *Config, interval time.Duration, missed int) *Config {
		c.LinkWatch = LinkWatch{Name: LinkWatchARPPing, Interval: interval, MissedMax: missed,
			SourceHost: "192.168.23.2", TargetHost: "192.168.23.1"}
		return c
	}
	nsna := func(c *Config, interval time.Duration, missed int, target string) *Config {
		c.LinkWatch = LinkWatch{Name: LinkWatchNSNAPing, Interval: interval, MissedMax: missed, TargetHost: target}
		return c
	}
	// delays gives the team and every member hold times (ethtool's
	// delay_up and delay_down are read, in milliseconds).
	delays := func(c *Config, up, down time.Duration) *Config {
		c.LinkWatch.DelayUp, c.LinkWatch.DelayDown = up, down
		for i := range c.Members {
			c.Members[i].DelayUp, c.Members[i].DelayDown = up, down
		}
		return c
	}
	lacp := teamdTeam0(ModeLACP, BalanceAddressHash)
	lacp.LACP.Rate = LACPRateFast

	tests := []struct {
		file     string
		want     *Config  // accepted, as this
		warnings []string // accepted with these warnings (substrings)
		err      string   // rejected: a substring of the message
	}{
		{file: "activebackup_arp_ping_1.conf", want: arp(teamdTeam0(ModeSwitchIndependent, BalanceActiveBackup, abMembers()...), 100*time.Millisecond, 30)},
		{file: "activebackup_arp_ping_2.conf", err: ":17: ports.eth2.link_watch: differs from link_watch (missed_max 0 here, 30 there)"},
		{file: "activebackup_ethtool_1.conf", want: teamdTeam0(ModeSwitchIndependent, BalanceActiveBackup, abMembers()...)},
		{file: "activebackup_ethtool_2.conf", err: ":9: ports.eth1.queue_id: not supported by teamd-go"},
		{file: "activebackup_ethtool_3.conf", want: delays(teamdTeam0(ModeSwitchIndependent, BalanceActiveBackup, abMembers()...), 2500*time.Millisecond, time.Second)},
		{file: "activebackup_multi_lw_1.conf", err: ":4: link_watch: 2 link watchers: teamd-go runs one per team"},
		{file: "activebackup_multi_lw_2.conf", err: ":5: link_watch: 2 link watchers"},
		{file: "activebackup_nsna_ping_1.conf", want: nsna(teamdTeam0(ModeSwitchIndependent, BalanceActiveBackup, abMembers()...), 200*time.Millisecond, 15, "fe80::210:18ff:feaa:bbcc")},
		{file: "activebackup_tipc.conf", err: `:7: ports.eth0.link_watch.name: "tipc" is not supported by teamd-go`},
		{file: "broadcast.conf", err: `:3: runner.name: "broadcast" is not supported by teamd-go`},
		{file: "lacp_1.conf", want: lacp},
		{file: "loadbalance_1.conf", want: teamdTeam0(ModeStatic, BalanceAddressHash)},
		{file: "loadbalance_2.conf", want: teamdTeam0(ModeStatic, BalanceAddressHash)},
		{file: "loadbalance_3.conf", err: ":6: runner.tx_balancer: active Tx balancing is not supported"},
		{file: "random.conf", err: `:3: runner.name: "random" is not supported by teamd-go`},
		{file: "roundrobin.conf", want: teamdTeam0(ModeStatic, BalanceRoundRobin)},
		{file: "roundrobin_2.conf", want: arp(teamdTeam0(ModeStatic, BalanceRoundRobin), time.Second, 2)},
	}

	// Every file of the corpus has a row: a new one needs a decision.
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", corpusDir, err)
	}
	listed := make(map[string]bool)
	for _, tt := range tests {
		listed[tt.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no row in this table", f)
		}
	}

	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(corpusDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data, tt.file)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("accepted, want an error containing %q", tt.err)
				}
				if !strings.Contains(err.Error(), tt.file+tt.err) {
					t.Errorf("error:\n%v\nwant it to contain %q", err, tt.file+tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, ignoreSource); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(got.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %d", got.Warnings, len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.Contains(got.Warnings[i], tt.file+w) {
					t.Errorf("warning %q, want it to contain %q", got.Warnings[i], tt.file+w)
				}
			}
		})
	}
}

// TestTeamdCorpusCopy checks that the testdata copy matches the
// project's originals, when those are there.
func TestTeamdCorpusCopy(t *testing.T) {
	orig, _ := filepath.Glob(filepath.Join(sharedCorpus, "*"))
	if len(orig) == 0 {
		t.Skipf("no %s", sharedCorpus)
	}
	for _, f := range orig {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(corpusDir, filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: the copy in %s differs or is missing (%v); copy it again", f, corpusDir, err)
		}
	}
}

func TestTeamdJSON(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     func(c *Config) // edits teamdTeam0's roundrobin team
		warnings []string
		err      []string // the problems, as Error prints them (prefixes)
	}{
		{
			name: "default runner is roundrobin; tabs; leading white space",
			in:   "\n\t {\"device\":\t\"team0\", \"ports\": {\"eth2\": {}, \"eth1\": {}}}",
			want: func(c *Config) {},
		},
		{
			name: "lacp with teamd's defaults and every option",
			in: `{"device": "team0", "hwaddr": "02:00:00:00:00:0A",
  "runner": {"name": "lacp", "sys_prio": 100, "min_ports": 2, "active": false,
             "tx_hash": ["l3", "l4"], "agg_select_policy": "lacp_prio"},
  "ports": {"eth1": {"lacp_prio": 10, "lacp_key": 3}, "eth2": {}}}`,
			want: func(c *Config) {
				c.Mode, c.Balance, c.Hash = ModeLACP, BalanceAddressHash, []string{"l3", "l4"}
				c.LACP = LACP{Active: false, Rate: LACPRateSlow, SystemPriority: 100, MinPorts: 2, Fallback: FallbackNone, FallbackAfter: DefaultLACPFallbackAfter}
				c.Members[0].LACPPrio, c.Members[0].LACPKey = 10, 3
				c.VNICs[0].MAC = "02:00:00:00:00:0a"
			},
		},
		{
			name: "0 and 1 as booleans, with a warning",
			in: `{"device": "team0", "runner": {"name": "lacp", "fast_rate": 1, "active": 0},
  "ports": {"eth1": {"sticky": 1}, "eth2": {}}}`,
			want: func(c *Config) {
				c.Mode, c.Balance = ModeLACP, BalanceAddressHash
				c.LACP.Rate, c.LACP.Active = LACPRateFast, false
				c.Members[0].Sticky = true
			},
			warnings: []string{
				"x.conf:1: runner.fast_rate: 1 read as true; note that teamd itself ignores a number here and uses its default",
				"x.conf:1: runner.active: 0 read as false",
				"x.conf:2: ports.eth1.sticky: 1 read as true",
			},
		},
		{
			name: "identical per-port link watchers are the team's",
			in: `{"device": "team0", "runner": {"name": "activebackup"},
  "ports": {"eth1": {"link_watch": {"name": "arp_ping", "target_host": "10.0.0.1"}},
            "eth2": {"link_watch": [{"name": "arp_ping", "target_host": "10.0.0.1", "interval": 1000}]}}}`,
			want: func(c *Config) {
				c.Mode, c.Balance = ModeSwitchIndependent, BalanceActiveBackup
				c.LinkWatch = LinkWatch{Name: LinkWatchARPPing, Interval: time.Second, MissedMax: 3, SourceHost: "0.0.0.0", TargetHost: "10.0.0.1"}
			},
		},
		{
			name: "harmless teamd options are warnings",
			in: `{"device": "team0", "debug_level": 1, "link_watch_policy": "all",
  "notify_peers": {"count": 2, "interval": 100}, "mcast_rejoin": {"count": 1},
  "runner": {"name": "activebackup", "hwaddr_policy": "by_active", "tx_hash": ["eth"], "addr": "tcp://x"},
  "link_watch": {"name": "arp_ping", "target_host": "10.0.0.1", "init_wait": 5, "send_always": true, "delay_up": 1},
  "ports": {"eth1": {}, "eth2": {}}}`,
			want: func(c *Config) {
				c.Mode, c.Balance = ModeSwitchIndependent, BalanceActiveBackup
				c.LinkWatch = LinkWatch{Name: LinkWatchARPPing, Interval: time.Second, MissedMax: 3, SourceHost: "0.0.0.0", TargetHost: "10.0.0.1"}
			},
			warnings: []string{
				"x.conf:1: debug_level: ignored",
				"x.conf:2: notify_peers: ignored",
				"x.conf:2: mcast_rejoin: ignored",
				"x.conf:3: runner.hwaddr_policy: ignored: teamd-go does not change the MACs of members",
				"x.conf:3: runner.tx_hash: ignored by the activebackup runner (teamd ignores it too)",
				"x.conf:3: runner.addr: ignored",
				"x.conf:4: link_watch.init_wait: ignored",
				"x.conf:4: link_watch.send_always: not supported by teamd-go; ignored",
				"x.conf:4: link_watch.delay_up: ignored by the arp_ping link watcher",
			},
		},
		{
			name: "nsna_ping with teamd's keys and defaults",
			in: `{"device": "team0", "runner": {"name": "activebackup"},
  "link_watch": {"name": "nsna_ping", "target_host": "2001:db8::1", "init_wait": 100, "source_host": "2001:db8::2"},
  "ports": {"eth1": {"link_watch": {"name": "nsna_ping", "target_host": "2001:db8::1", "missed_max": 3}}, "eth2": {}}}`,
			want: func(c *Config) {
				c.Mode, c.Balance = ModeSwitchIndependent, BalanceActiveBackup
				c.LinkWatch = LinkWatch{Name: LinkWatchNSNAPing, Interval: time.Second, MissedMax: 3, TargetHost: "2001:db8::1"}
			},
			warnings: []string{
				"x.conf:2: link_watch.init_wait: ignored: teamd-go starts probing at once",
				"x.conf:2: link_watch.source_host: ignored by the nsna_ping link watcher (teamd ignores it too)",
			},
		},
		{
			name: "nsna_ping per port, differing",
			in: `{"device": "team0",
  "ports": {"eth1": {"link_watch": {"name": "nsna_ping", "target_host": "fe80::1"}},
            "eth2": {"link_watch": {"name": "nsna_ping", "target_host": "fe80::2"}}}}`,
			err: []string{`x.conf:3: ports.eth2.link_watch: differs from ports.eth1.link_watch (target_host fe80::2 here, fe80::1 there)`},
		},
		{
			name: "nsna_ping with an IPv4 target",
			in:   `{"device": "team0", "link_watch": {"name": "nsna_ping", "target_host": "192.168.1.1"}, "ports": {"eth1": {}}}`,
			err:  []string{`x.conf:1: link_watch.target_host: want an IPv6 address like fe80::1 or 2001:db8::1, got "192.168.1.1"`},
		},
		{
			name: "problems",
			in: `{"device": "team0",
  "runner": {"name": "lacp", "sys_prio": 0, "tx_hash": ["eth", "ip4"], "fast_rate": "yes"},
  "link_watch": {"name": "arp_ping", "target_host": "gateway", "interval": -1},
  "ports": {"eth1": {"prio": 1.5, "lacp_prio": 70000}, "eth1": {}, "this-name-is-too-long": {}},
  "linkwatch": {}
}`,
			err: []string{
				`x.conf:2: runner.fast_rate: want true or false, got "yes"`,
				`x.conf:2: runner.tx_hash[1]: unknown field "ip4" (did you mean "ipv4"?)`,
				`x.conf:2: runner.sys_prio: 0 is out of range: want 1 to 65535`,
				`x.conf:3: link_watch.interval: must not be negative (milliseconds)`,
				`x.conf:4: ports.eth1: duplicate key (first at line 4); teamd rejects duplicate keys too`,
				`x.conf:4: ports.eth1.prio: want an integer, got 1.5`,
				`x.conf:4: ports.eth1.lacp_prio: 70000 is out of range: want 0 to 65535`,
				`x.conf:4: ports.this-name-is-too-long: "this-name-is-too-long" is 21 bytes long`,
				`x.conf:5: linkwatch: unknown key (did you mean "link_watch"?)`,
			},
		},
		{
			name: "arp_ping target in a per-port watcher",
			in:   `{"device": "team0", "ports": {"eth1": {"link_watch": {"name": "arp_ping"}}, "eth2": {"link_watch": {"name": "arp_ping"}}}}`,
			err:  []string{`x.conf:1: ports.eth1.link_watch.target_host: required with arp_ping`},
		},
		{
			name: "port watcher differs from the default",
			in:   "{\"device\": \"team0\",\n\"ports\": {\"eth1\": {},\n\"eth2\": {\"link_watch\": {\"name\": \"arp_ping\", \"target_host\": \"10.0.0.1\"}}}}",
			err:  []string{`x.conf:3: ports.eth2.link_watch: differs from the default link watcher (ethtool) (name arp_ping here, ethtool there)`},
		},
		{
			name: "missing device, no ports",
			in:   `{"runner": {"name": "roundrobin"}}`,
			err: []string{
				`x.conf: device: required`,
				`x.conf: ports: at least one member is required`,
			},
		},
		{
			name: "unknown runner and watcher, vlanid",
			in:   `{"device": "t", "runner": {"name": "active-backup"}, "link_watch": {"name": "arping", "vlanid": 3}, "ports": {"eth1": {}}}`,
			err: []string{
				`x.conf:1: runner.name: unknown runner "active-backup" (did you mean "activebackup"?)`,
				`x.conf:1: link_watch.name: unknown link watcher "arping" (did you mean "arp_ping"?)`,
			},
		},
		{
			name: "teamd-go's backend key",
			in:   `{"device": "team0", "backend": "xdp", "ports": {"eth1": {}, "eth2": {}}}`,
			want: func(c *Config) { c.Backend = BackendXDP },
		},
		{
			name: "unknown backend",
			in:   `{"device": "t", "backend": "dpdk", "ports": {"eth1": {}}}`,
			err:  []string{`x.conf:1: backend: want af_packet or xdp; got "dpdk"`},
		},
		{
			name: "device is also a port",
			in:   `{"device": "eth1", "ports": {"eth1": {}}}`,
			err:  []string{`x.conf:1: device: "eth1" is also a member`},
		},
		{
			name: "multicast hwaddr",
			in:   `{"device": "t", "hwaddr": "ff:ff:ff:ff:ff:ff", "ports": {"eth1": {}}}`,
			err:  []string{`x.conf:1: hwaddr: ff:ff:ff:ff:ff:ff is a multicast address`},
		},
		{
			name: "syntax error names the line",
			in:   "{\n\"device\": \"t\",\n\"ports\": {\"eth1\": {}},\n}",
			err:  []string{`x.conf:4: JSON syntax error: invalid character '}' looking for beginning of object key string (a file that starts with '{' is read as teamd JSON)`},
		},
		{
			name: "YAML flow mapping is read as JSON",
			in:   "{team: t, members: [{name: eth1}]}",
			err:  []string{`x.conf:1: JSON syntax error: invalid character 't' (a file that starts with '{' is read as teamd JSON)`},
		},
		{
			name: "truncated",
			in:   "{\"device\": \"t\",\n\"ports\": {",
			err:  []string{`x.conf:2: JSON ends too early`},
		},
		{
			name: "trailing data",
			in:   "{\"device\": \"t\", \"ports\": {\"eth1\": {}}}\n{}",
			err:  []string{`x.conf:2: more JSON after the closing }`},
		},
		{
			name: "not UTF-8",
			in:   "{\"device\": \"t\xff\"}",
			err:  []string{`x.conf:1: not valid UTF-8`},
		},
		{
			name: "too deep",
			in:   "{\"device\": " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "}",
			err:  []string{`x.conf:1: JSON nested more than 32 levels deep`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in), "x.conf")
			if tt.err != nil {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tt.err) {
					t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.err), err)
				}
				for i, w := range tt.err {
					if !strings.HasPrefix(lines[i], w) {
						t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			want := teamdTeam0(ModeStatic, BalanceRoundRobin)
			tt.want(want)
			if diff := cmp.Diff(want, got, ignoreSource); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(got.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got.Warnings, "\n"), len(tt.warnings))
			}
			for i, w := range tt.warnings {
				if !strings.HasPrefix(got.Warnings[i], w) {
					t.Errorf("warning %d:\n got %s\nwant %s...", i, got.Warnings[i], w)
				}
			}
		})
	}
}
