package config

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse reads any bytes as a configuration file. Seeds (YAML and
// teamd JSON) are in testdata/fuzz/FuzzParse. Parse must not panic, must
// fail only with an *Error, and a configuration it accepts must dump
// and read back to an equal one.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 {
				t.Fatalf("error %T with no problems: %v", err, err)
			}
			return
		}
		if err := Validate(c); err != nil {
			t.Fatalf("accepted, but Validate says: %v", err)
		}
		out, err := Dump(c)
		if err != nil {
			t.Fatalf("Dump: %v", err)
		}
		back, err := Parse(out, "dump")
		if err != nil {
			t.Fatalf("the dump does not parse: %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, back, ignoreSource); diff != "" {
			t.Fatalf("the dump reads back different (-before +after):\n%s\n%s", diff, out)
		}
		if ch := Diff(c, back); !ch.Empty() {
			t.Fatalf("Diff of equal configurations: %s", ch)
		}
	})
}
