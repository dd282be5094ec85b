package control

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.sock")
	s, err := Listen(path, func(_ context.Context, cmd string, args []string) (any, error) {
		switch cmd {
		case "echo":
			return args, nil
		case "fail":
			return nil, errors.New("members[0].name: no such interface")
		}
		return nil, ErrUnknownCommand
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	res, err := Call(path, "echo", "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := json.Unmarshal(res, &got); err != nil || strings.Join(got, ",") != "a,b" {
		t.Fatalf("echo = %s, %v", res, err)
	}
	if _, err := Call(path, "fail"); err == nil || !strings.Contains(err.Error(), "members[0].name") {
		t.Fatalf("fail = %v", err)
	}
	if _, err := Listen(path, nil, nil); err == nil {
		t.Fatal("a second server on a live socket was allowed")
	}
}
