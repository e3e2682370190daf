package coretest

import (
	"sync"
	"time"
)

// Clock is a test clock that moves only when the test says so: hand its Now
// to Options.Now, then Add time, so that rules measured in time (the login
// lockout, retention, expiries) do not depend on how fast a loaded machine
// runs the test. It is safe for the servers' goroutines.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock stopped at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
