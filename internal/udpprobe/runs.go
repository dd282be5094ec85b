package udpprobe

// Runs groups sorted sequence numbers into runs of consecutive ones
// ([first, last] each), at most n of them.
func Runs(seqs []uint64, n int) [][2]uint64 {
	var runs [][2]uint64
	for i := 0; i < len(seqs) && len(runs) < n; {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		runs = append(runs, [2]uint64{seqs[i], seqs[j]})
		i = j + 1
	}
	return runs
}
