package imap

import (
	"slices"
	"strconv"
	"strings"
)

// NumSet is a set of sequence numbers or UIDs, the sequence-set of
// RFC 9051 §9. A bound of 0 stands for "*", the largest number in use.
// SearchRes is set for "$", the saved search result (RFC 5182).
type NumSet struct {
	Ranges    []NumRange
	SearchRes bool
}

// NumRange is one range of a NumSet; Start may be greater than Stop, as a
// client may send "7:3". A single number has Start == Stop.
type NumRange struct {
	Start, Stop uint32
}

// NumSetOf returns the compact set of the given numbers, in ascending
// order of their ranges.
func NumSetOf(nums []uint32) NumSet {
	sorted := slices.Clone(nums)
	slices.Sort(sorted)
	var s NumSet
	for _, n := range sorted {
		if last := len(s.Ranges) - 1; last >= 0 && (s.Ranges[last].Stop == n || s.Ranges[last].Stop+1 == n) {
			s.Ranges[last].Stop = n
			continue
		}
		s.Ranges = append(s.Ranges, NumRange{n, n})
	}
	return s
}

// IsEmpty reports whether the set holds no range and is not "$".
func (s NumSet) IsEmpty() bool {
	return len(s.Ranges) == 0 && !s.SearchRes
}

// Resolve returns the ranges with "*" replaced by last, each ordered
// Start <= Stop, sorted and merged. RFC 9051 §6.4.8: "*" is the largest
// number in use, so "559:*" holds last even when 559 > last. An empty
// mailbox (last 0) resolves "*" to nothing.
func (s NumSet) Resolve(last uint32) []NumRange {
	out := make([]NumRange, 0, len(s.Ranges))
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = last
		}
		if b == 0 {
			b = last
		}
		if a > b {
			a, b = b, a
		}
		if a == 0 {
			if b == 0 {
				continue
			}
			a = 1
		}
		out = append(out, NumRange{a, b})
	}
	slices.SortFunc(out, func(x, y NumRange) int {
		return int(int64(x.Start) - int64(y.Start))
	})
	merged := out[:0]
	for _, r := range out {
		if n := len(merged); n > 0 && uint64(r.Start) <= uint64(merged[n-1].Stop)+1 {
			merged[n-1].Stop = max(merged[n-1].Stop, r.Stop)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

// Contains reports whether n is in the set, "*" standing for last.
func (s NumSet) Contains(n, last uint32) bool {
	for _, r := range s.Ranges {
		a, b := r.Start, r.Stop
		if a == 0 {
			a = last
		}
		if b == 0 {
			b = last
		}
		if a > b {
			a, b = b, a
		}
		if a <= n && n <= b {
			return true
		}
	}
	return false
}

// String returns the set in the syntax of RFC 9051 §9.
func (s NumSet) String() string {
	if s.SearchRes {
		return "$"
	}
	var b strings.Builder
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(numString(r.Start))
		if r.Stop != r.Start {
			b.WriteByte(':')
			b.WriteString(numString(r.Stop))
		}
	}
	return b.String()
}

func numString(n uint32) string {
	if n == 0 {
		return "*"
	}
	return strconv.FormatUint(uint64(n), 10)
}
