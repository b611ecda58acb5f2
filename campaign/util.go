package campaign

import "sort"

func sortBySeq[T any](s []T, seq func(int) int) {
	sort.SliceStable(s, func(i, j int) bool { return seq(i) < seq(j) })
}
