package sortedset

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// Applying the difference of a and b to a gives b, for random sets.
func TestApplyDiff(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	set := func() []int {
		s := make([]int, r.IntN(8))
		for i := range s {
			s[i] = r.IntN(12)
		}
		return Unique(s, cmp.Compare[int])
	}
	for range 2000 {
		a, b := set(), set()
		add, del := Diff(a, b, cmp.Compare[int])
		if got := Apply(a, add, del, cmp.Compare[int]); !slices.Equal(got, b) {
			t.Fatalf("Apply(%v, +%v, -%v) = %v, want %v", a, add, del, got, b)
		}
	}
	if got := Unique([]int{3, 1, 3}, cmp.Compare[int]); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Unique = %v", got)
	}
	if Unique([]int{}, cmp.Compare[int]) != nil {
		t.Error("Unique of an empty slice is not nil")
	}
}
