package team

import (
	"testing"
	"time"

	"github.com/teamd-go/teamd-go/team/config"
)

func TestLACPFallbackMachine(t *testing.T) {
	s := func(n float64) int64 { return int64(n * float64(time.Second)) }
	f := newLACPFallback(config.FallbackActiveBackup, s(3), 0)
	if f.expire(s(2.9)) || f.active {
		t.Fatal("fell back before fallback_after")
	}
	if !f.expire(s(3)) || !f.active {
		t.Fatal("no fallback after 3 s without a LACPDU")
	}
	if f.expire(s(10)) {
		t.Fatal("fell back twice")
	}
	if _, ok := f.next(); ok {
		t.Fatal("a deadline while fallen back")
	}
	if !f.heardPDU(s(11)) || f.active {
		t.Fatal("a LACPDU did not end the fallback")
	}
	if f.heardPDU(s(11.5)) {
		t.Fatal("a second LACPDU 'ended' it again")
	}
	if due, _ := f.next(); due != s(14.5) {
		t.Fatalf("next fallback at %v, want 14.5 s (3 s after the last LACPDU)", time.Duration(due))
	}
	if f.expire(s(14)) {
		t.Fatal("fell back although a LACPDU came 2.5 s ago")
	}
	f.reconfigure(config.FallbackNone, s(3))
	if f.expire(s(100)) || f.active {
		t.Fatal("fallback: none fell back")
	}
	f.reconfigure(config.FallbackStatic, s(1))
	if !f.expire(s(100)) {
		t.Fatal("fallback turned on by a reload did not start")
	}
	f.reconfigure(config.FallbackNone, s(1))
	if f.active {
		t.Fatal("turning fallback off left it on")
	}
}
