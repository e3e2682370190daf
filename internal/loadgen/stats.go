package loadgen

import (
	"slices"
	"time"
)

// Latency summarises the durations of one kind of operation.
type Latency struct {
	Count    int
	P50, P99 time.Duration
	Max      time.Duration
}

// Summarize sorts d in place and returns its count, 50th and 99th
// percentiles and maximum.
func Summarize(d []time.Duration) Latency {
	slices.Sort(d)
	if len(d) == 0 {
		return Latency{}
	}
	return Latency{Count: len(d), P50: Percentile(d, 50), P99: Percentile(d, 99), Max: d[len(d)-1]}
}

// Percentile returns the p-th percentile of sorted durations by nearest
// rank: the smallest value that at least p % of them do not exceed. It
// returns 0 for no durations.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
