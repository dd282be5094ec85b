//go:build linux

package integration

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/teamd-go/teamd-go/test/nstest"
)

// scrape fetches http://addr/metrics from inside ns and parses it. The
// connection is dialed inside ns.Do, on the locked thread, then used
// outside it: the socket stays in the namespace. (http.Get inside Do
// would dial from another goroutine, on a thread in the wrong namespace.)
func scrape(ns *nstest.NS, addr string) (map[string]*dto.MetricFamily, error) {
	var conn net.Conn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

func mustScrape(t *testing.T, ns *nstest.NS, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := scrape(ns, addr)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return mfs
}

// metricValue returns the value of the series of name whose labels
// include the given name, value pairs.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// TestMetrics runs the daemon with metrics: on, sends traffic through
// the team and checks what Prometheus would scrape, then moves the
// listener by reload.
func TestMetrics(t *testing.T) {
	tp := newTopo(t)
	const addr = "127.0.0.1:9469"
	d := tp.start(t, tp.config(siHyperV+"metrics: "+addr+"\n"))
	pingOK(t, tp.vm, "10.77.0.2")
	if tx, rx := pingStats(t, tp.vm, "-c", "5", "-i", "0.05", "10.77.0.2"); rx != tx {
		t.Errorf("ping: %d sent, %d received", tx, rx)
	}

	mfs := mustScrape(t, tp.host, addr)
	st := d.state() // read after the scrape: every counter is at least the scraped value
	member := func(name string) []string { return []string{"team", tp.team, "member", name} }
	for _, c := range []struct {
		name   string
		labels []string
		ok     func(v float64) bool
		want   string
	}{
		{"teamd_go_member_tx_packets_total", member("m1"), func(v float64) bool { return v > 0 && v <= float64(st.Members[0].TxPackets) }, "> 0, <= ctl state"},
		{"teamd_go_member_rx_packets_total", member("m1"), func(v float64) bool { return v > 0 }, "> 0"},
		{"teamd_go_member_tx_bytes_total", member("m1"), func(v float64) bool { return v >= 5*98 }, ">= 5 pings"},
		{"teamd_go_member_link_up", member("m1"), func(v float64) bool { return v == 1 }, "1"},
		{"teamd_go_member_link_up", member("m2"), func(v float64) bool { return v == 1 }, "1"},
		{"teamd_go_member_active", member("m1"), func(v float64) bool { return v == 1 }, "1"},
		{"teamd_go_vnic_rx_packets_total", []string{"team", tp.team, "vnic", "vm1"}, func(v float64) bool { return v > 0 }, "> 0"},
		{"teamd_go_vnic_macs", []string{"team", tp.team, "vnic", "vm1"}, func(v float64) bool { return v >= 1 }, ">= 1"},
		{"teamd_go_vnic_home", []string{"team", tp.team, "vnic", "vm1", "member", "m1"}, func(v float64) bool { return v == 1 }, "1"},
		{"teamd_go_rx_dropped_not_owned_total", []string{"team", tp.team}, func(v float64) bool { return v >= 0 }, "present"},
		{"teamd_go_tx_source_mac_rewritten_total", []string{"team", tp.team}, func(v float64) bool { return v == 0 }, "0 with hyperv-port"},
		{"teamd_go_team_info", []string{"team", tp.team, "mode", "switch-independent", "balance", "hyperv-port"}, func(v float64) bool { return v == 1 }, "1"},
		{"teamd_go_build_info", nil, func(v float64) bool { return v == 1 }, "1"},
	} {
		v, ok := metricValue(mfs, c.name, c.labels...)
		if !ok {
			t.Errorf("%s%v: missing from /metrics", c.name, c.labels)
		} else if !c.ok(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("go_goroutines missing: the Go runtime collector is not registered")
	}

	// A member losing carrier shows at the next scrape.
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "down")
	nstest.Eventually(t, 5*time.Second, func() error {
		if v, _ := metricValue(mustScrape(t, tp.host, addr), "teamd_go_member_link_up", member("m2")...); v != 0 {
			return fmt.Errorf("m2 link_up = %v after p2 went down, want 0", v)
		}
		return nil
	})
	tp.sw.MustRun(t, "ip", "link", "set", "p2", "up")

	t.Run("reload moves the listener", func(t *testing.T) {
		const addr2 = "127.0.0.1:9470"
		if err := d.reload(tp.config(siHyperV + "metrics: " + addr2 + "\n")); err != nil {
			t.Fatal(err)
		}
		mfs := mustScrape(t, tp.host, addr2)
		if v, ok := metricValue(mfs, "teamd_go_reloads_ok_total", "team", tp.team); !ok || v != 1 {
			t.Errorf("reloads_ok_total = %v (present %v), want 1", v, ok)
		}
		if _, err := scrape(tp.host, addr); err == nil {
			t.Errorf("%s still serves after the reload moved metrics to %s", addr, addr2)
		}

		// An address that cannot be bound rejects the reload; the
		// listener stays where it was.
		var busy net.Listener
		must(t, tp.host.Do(func() error {
			var err error
			busy, err = net.Listen("tcp", "127.0.0.1:9471")
			return err
		}))
		t.Cleanup(func() { busy.Close() })
		if err := d.reload(tp.config(siHyperV + "metrics: 127.0.0.1:9471\n")); err == nil {
			t.Error("reload to a busy metrics address succeeded")
		}
		mfs = mustScrape(t, tp.host, addr2)
		if v, ok := metricValue(mfs, "teamd_go_reloads_failed_total", "team", tp.team); !ok || v != 1 {
			t.Errorf("reloads_failed_total = %v (present %v), want 1", v, ok)
		}

		// A bad address is a config error; the listener stays.
		if err := d.reload(tp.config(siHyperV + "metrics: 9469\n")); err == nil || !strings.Contains(err.Error(), "metrics") {
			t.Errorf("reload with metrics: 9469: %v, want an error naming metrics", err)
		}
		mustScrape(t, tp.host, addr2)

		// Empty turns metrics off.
		if err := d.reload(tp.config(siHyperV)); err != nil {
			t.Fatal(err)
		}
		if _, err := scrape(tp.host, addr2); err == nil {
			t.Errorf("%s still serves after metrics was removed from the config", addr2)
		}
	})
	d.stop()
}

// TestMetricsBadAddress: a metrics value that is not host:port is a
// config error naming the key, at --check and at start.
func TestMetricsBadAddress(t *testing.T) {
	for _, bad := range []string{"9469", "localhost:http", "127.0.0.1:70000", "[::1"} {
		t.Run(bad, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "team.yaml")
			body := "team: t0\nmembers:\n  - name: m1\nmetrics: \"" + bad + "\"\n"
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"-c", path, "--check"}, {"-c", path}} {
				out, err := exec.Command(teamdBin, args...).CombinedOutput()
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.ExitCode() != 1 {
					t.Errorf("%v: %v, want exit 1\n%s", args, err, out)
				}
				if !strings.Contains(string(out), "team.yaml:4: metrics:") {
					t.Errorf("%v: output does not name team.yaml:4 metrics:\n%s", args, out)
				}
			}
		})
	}
}
