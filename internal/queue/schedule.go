package queue

import (
	"cmp"
	"time"
)

// Schedule says when a failed delivery is tried again: First after the
// first failure, then twice as long after each further one, never more than
// Max apart. RFC 5321 §4.5.4.1 asks senders to back off and to keep trying
// for at least 4 to 5 days; the core gives up at each entry's expiry.
type Schedule struct {
	// First is the wait after the first failure, 5 minutes when 0.
	First time.Duration
	// Max caps the wait between two attempts, 4 hours when 0.
	Max time.Duration
}

// Delay returns how long to wait after the attempt-th failed attempt,
// counting from 1.
func (s Schedule) Delay(attempt int) time.Duration {
	first := cmp.Or(s.First, 5*time.Minute)
	maxDelay := cmp.Or(s.Max, 4*time.Hour)
	d := first
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= maxDelay {
			return maxDelay
		}
	}
	return min(d, maxDelay)
}
