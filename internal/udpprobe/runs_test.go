package udpprobe

import (
	"slices"
	"testing"
)

func TestRuns(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint64
		n    int
		want [][2]uint64
	}{
		{"none", nil, 5, nil},
		{"one", []uint64{7}, 5, [][2]uint64{{7, 7}}},
		{"runs", []uint64{1, 2, 3, 7, 9, 10}, 5, [][2]uint64{{1, 3}, {7, 7}, {9, 10}}},
		{"bounded", []uint64{1, 3, 5, 7}, 2, [][2]uint64{{1, 1}, {3, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Runs(tc.seqs, tc.n); !slices.Equal(got, tc.want) {
				t.Errorf("Runs(%v, %d) = %v, want %v", tc.seqs, tc.n, got, tc.want)
			}
		})
	}
}
