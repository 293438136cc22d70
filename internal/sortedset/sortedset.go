// Package sortedset holds the sorted, duplicate-free slices that views
// are made of (tunnels, flood lists, remote-group members): their
// difference as additions and removals, and applying one. Views and
// their deltas in l2pop and secgroup share these so that "apply the
// diff of a and b to a" gives b by one definition.
package sortedset

import (
	"fmt"
	"slices"
	"strings"
)

// Diff returns what to add to and remove from sorted old to get sorted new.
func Diff[T any](old, new []T, cmpf func(a, b T) int) (add, del []T) {
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new):
			del = append(del, old[i])
			i++
		case i == len(old):
			add = append(add, new[j])
			j++
		default:
			switch c := cmpf(old[i], new[j]); {
			case c == 0:
				i++
				j++
			case c < 0:
				del = append(del, old[i])
				i++
			default:
				add = append(add, new[j])
				j++
			}
		}
	}
	return add, del
}

// Apply removes del from and adds add to sorted cur, returning a sorted,
// unique slice; cur is not modified (it is returned as is when there is
// nothing to change).
func Apply[T any](cur, add, del []T, cmpf func(a, b T) int) []T {
	if len(add) == 0 && len(del) == 0 {
		return cur
	}
	del = Unique(slices.Clone(del), cmpf)
	out := make([]T, 0, len(cur)+len(add))
	for _, x := range cur {
		if _, found := slices.BinarySearchFunc(del, x, cmpf); !found {
			out = append(out, x)
		}
	}
	return Unique(append(out, add...), cmpf)
}

// Unique sorts s and removes duplicates, in place; nil when empty, so
// that a view built from scratch and one reached by deltas compare equal.
func Unique[T any](s []T, cmpf func(a, b T) int) []T {
	slices.SortFunc(s, cmpf)
	s = slices.CompactFunc(s, func(a, b T) bool { return cmpf(a, b) == 0 })
	if len(s) == 0 {
		return nil
	}
	return s
}

// DiffKeyed compares two slices of items sorted by a unique string key
// (the per-host views' networks, routers): upsert holds the items of now
// that old lacks or holds differently (equal decides), removed the keys of
// old that now lacks, both in key order.
func DiffKeyed[T any](old, now []T, key func(T) string, equal func(a, b T) bool) (upsert []T, removed []string) {
	i, j := 0, 0
	for i < len(old) || j < len(now) {
		switch {
		case j == len(now) || (i < len(old) && key(old[i]) < key(now[j])):
			removed = append(removed, key(old[i]))
			i++
		case i == len(old) || key(now[j]) < key(old[i]):
			upsert = append(upsert, now[j])
			j++
		default:
			if !equal(old[i], now[j]) {
				upsert = append(upsert, now[j])
			}
			i++
			j++
		}
	}
	return upsert, removed
}

// ApplyKeyed returns cur (sorted by key) with removed taken out and upsert
// put in, sorted by key; cur is not changed. Removing a key cur does not
// hold is an error: the change was computed against another slice.
func ApplyKeyed[T any](cur, upsert []T, removed []string, key func(T) string) ([]T, error) {
	byKey := make(map[string]T, len(cur)+len(upsert))
	for _, x := range cur {
		byKey[key(x)] = x
	}
	for _, k := range removed {
		if _, ok := byKey[k]; !ok {
			return cur, fmt.Errorf("removes %s, which is not there", k)
		}
		delete(byKey, k)
	}
	for _, x := range upsert {
		byKey[key(x)] = x
	}
	var out []T
	for _, x := range byKey {
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	return out, nil
}
