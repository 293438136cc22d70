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

func TestKeyed(t *testing.T) {
	type item struct{ k, v string }
	key := func(i item) string { return i.k }
	eq := func(a, b item) bool { return a == b }
	old := []item{{"a", "1"}, {"b", "1"}, {"c", "1"}}
	now := []item{{"b", "1"}, {"c", "2"}, {"d", "1"}}
	up, rm := DiffKeyed(old, now, key, eq)
	if !slices.Equal(up, []item{{"c", "2"}, {"d", "1"}}) || !slices.Equal(rm, []string{"a"}) {
		t.Fatalf("DiffKeyed = %v %v", up, rm)
	}
	got, err := ApplyKeyed(old, up, rm, key)
	if err != nil || !slices.Equal(got, now) {
		t.Fatalf("ApplyKeyed = %v %v", got, err)
	}
	if up, rm := DiffKeyed(now, now, key, eq); up != nil || rm != nil {
		t.Fatalf("diff of equal slices: %v %v", up, rm)
	}
	if _, err := ApplyKeyed(old, nil, []string{"x"}, key); err == nil {
		t.Fatal("removing a missing key is no error")
	}
}
