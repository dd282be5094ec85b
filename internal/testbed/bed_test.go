package testbed

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDaemonSpecText(t *testing.T) {
	body := "mode: static\nmembers:\n  - name: m1\n"
	for _, tc := range []struct {
		name string
		spec DaemonSpec
		want string
	}{
		{"default backend", DaemonSpec{Team: "t1"}, "team: t1\n" + body},
		{"af_packet", DaemonSpec{Team: "t1", Backend: AFPacket}, "team: t1\nbackend: af_packet\n" + body},
		{"xdp", DaemonSpec{Team: "t1", Backend: XDP}, "team: t1\nbackend: xdp\n" + body},
		{"verbatim", DaemonSpec{Team: "t1", Backend: XDP, Verbatim: true}, body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.spec.Text(body); got != tc.want {
				t.Errorf("Text:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestStartDaemonRejectsBadSpec(t *testing.T) {
	ns := &NS{Name: "unused"}
	for _, tc := range []struct {
		name string
		spec DaemonSpec
		want string
	}{
		{"no team", DaemonSpec{ConfigPath: "/nonexistent/x.yaml"}, "team name"},
		{"no path", DaemonSpec{Team: "t1"}, "config path"},
		{"bad backend", DaemonSpec{Team: "t1", ConfigPath: "/nonexistent/x.yaml", Backend: "dpdk"}, `backend "dpdk"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StartDaemon(context.Background(), ns, "/bin/false", tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestBedUnwindsNewestFirst(t *testing.T) {
	b := &Bed{}
	var order []string
	rec := func(s string, err error) func() error {
		return func() error { order = append(order, s); return err }
	}
	b.Defer(rec("namespace", nil))
	b.Defer(rec("switch", errors.New("switch would not stop")))
	mark := b.Depth()
	b.Defer(rec("daemon", nil))
	b.Defer(rec("iperf3", nil))
	b.UnwindTo(mark)
	if want := []string{"iperf3", "daemon"}; !slices.Equal(order, want) {
		t.Fatalf("UnwindTo(mark) ran %v, want %v", order, want)
	}
	err := b.Close()
	if want := []string{"iperf3", "daemon", "switch", "namespace"}; !slices.Equal(order, want) {
		t.Errorf("Close ran %v, want %v", order, want)
	}
	if err == nil || !strings.Contains(err.Error(), "switch would not stop") {
		t.Errorf("Close = %v, want the switch's error", err)
	}
	if err := b.Close(); err != nil || len(order) != 4 {
		t.Errorf("second Close = %v after %v, want nil and nothing run again", err, order)
	}
}

func TestWaitForGivesUp(t *testing.T) {
	calls := 0
	final := errors.New("process exited")
	err := WaitFor(context.Background(), time.Hour, func() error {
		calls++
		if calls == 3 {
			return GiveUp(final)
		}
		return errors.New("not yet")
	})
	if !errors.Is(err, final) || calls != 3 {
		t.Errorf("WaitFor = %v after %d calls, want the final error after 3", err, calls)
	}
	err = WaitFor(context.Background(), 150*time.Millisecond, func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "never") {
		t.Errorf("WaitFor past its timeout = %v, want cond's last error", err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijk"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "defghijk" {
		t.Errorf("kept %q, want the last 8 bytes %q", got, "defghijk")
	}
	all := &tailBuffer{}
	all.Write([]byte("line 1\n"))
	all.Write([]byte("line 2\nline 3\n"))
	if got := lastLines(all.String(), 2); got != "line 2\nline 3" {
		t.Errorf("lastLines = %q", got)
	}
}
