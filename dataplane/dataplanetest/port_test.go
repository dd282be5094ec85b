package dataplanetest

import (
	"bytes"
	"testing"

	"github.com/teamd-go/teamd-go/dataplane"
)

// TestLoanChecks: a lent frame changed after a Write is counted at
// Release, one left alone is not, and Release poisons the lent memory.
func TestLoanChecks(t *testing.T) {
	src, dst := NewPort("src"), NewPort("dst")
	for _, change := range []bool{false, true} {
		src.Inject([]byte("0123456789abcdefghijklmn"))
		frames, sizes := NewBatch()
		n, err := src.ReadLoan(frames, sizes)
		if n != 1 || err != nil {
			t.Fatalf("ReadLoan = %d, %v", n, err)
		}
		fr := frames[0][:sizes[0]]
		if _, err := dst.Write([][]byte{fr}); err != nil {
			t.Fatal(err)
		}
		if change {
			fr[dataplane.VnetHdrLen] = 'X'
		}
		src.Release()
		if want := map[bool]int{false: 0, true: 1}[change]; src.ModifiedAfterWrite() != want {
			t.Errorf("changed %v: ModifiedAfterWrite %d, want %d", change, src.ModifiedAfterWrite(), want)
		}
		if !bytes.Equal(fr, bytes.Repeat([]byte{0xdb}, len(fr))) {
			t.Error("lent frame not poisoned at Release")
		}
	}
}
